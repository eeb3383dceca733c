"""The demo install (`manage.py load_demo`): the demo chain in MLflow, one app, three users and
a request log of historical turns made by really running the chain.

Idempotent: everything is looked up before it is made, and historical turns have ids derived
from their place in CONVERSATIONS, so a second run adds nothing (and repairs a partial first run).
"""

import datetime
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog import services as catalog
from reviewapp.catalog.models import App, Level
from reviewapp.chains import demo as demo_chain
from reviewapp.chains import mlflow_model
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import log_turn

log = logging.getLogger(__name__)

APP_SLUG = "docs-assistant"
APP_NAME = "Docs assistant"
APP_DESCRIPTION = (
    "Answers questions about reviewapp and about Tidepool (a file sync service) from their "
    "documentation, citing each passage it used. Served by the bundled demo chain from MLflow."
)
USERS = [
    ("manager@example.com", Level.CAN_MANAGE),
    ("reviewer@example.com", Level.CAN_QUERY),
    ("viewer@example.com", Level.CAN_VIEW),
]
INSTRUCTIONS = """\
# Reviewing the Docs assistant

The Docs assistant answers questions about **reviewapp** and about **Tidepool**, a file sync
service, using only their documentation. Each answer quotes passages and cites them as
`docs://page#section`.

## For every answer
1. **Rate it.** Thumbs up when it answers the question correctly and completely from the
   sources. Thumbs down otherwise, with the reasons that apply.
2. **Rate every retrieved passage.** *Relevant* when it helps answer the question, even partly;
   *not relevant* otherwise. This tells us whether the retriever found the right documents.
3. **Correct it** when you can: write the answer you would expect. Keep it short and say only
   what the documentation supports.

## What a good answer looks like
- It answers the question that was asked, not a neighbouring one.
- Every claim is supported by a cited passage; nothing is invented.
- Steps are in the right order and name the real menu items.

| Situation | Rating |
|---|---|
| Correct, but quotes a passage that is off-topic | 👍, and mark that passage *not relevant* |
| Misses the key step | 👎 *incomplete* |
| Says something the sources do not | 👎 *not grounded in the sources* |
"""

# Historical questions: each inner list is one conversation, asked turn by turn.
CONVERSATIONS = [
    ["How do I resolve a sync conflict?", "What is the conflicted copy named?"],
    ["Which permission level do I need to export an evaluation set?"],
    ["How do I restore an earlier version of a file?", "How long are versions kept on Business?"],
    ["Can I limit single sign-on to my company's email domain?"],
    ["How do I share a folder with my team?", "Can I set an expiry date on sharing links?"],
    ["What does a 404 mean when I open an app?"],
    ["How do I rate the retrieved passages?"],
    ["Why is Tidepool using so much CPU?"],
    ["How do I run tidepool-cli as a service at boot?", "Where do its logs go?"],
    ["What is the difference between CAN_QUERY and CAN_VIEW?"],
    ["How do I get a refund for an annual plan?"],
    ["What happens when I change my feedback later?", "Is my old feedback lost?"],
    ["How do I pause sync on a metered connection?"],
    ["What does /healthz report?"],
    ["How do I recover files after a ransomware attack?"],
    ["Which platforms does the Tidepool desktop app support?"],
    ["How does the dashboard measure reviewer agreement?", "What should I do when agreement is low?"],
    ["How do I create an API token for the Python client?"],
    ["What are the upload limits for large files in the Tidepool API?"],
    ["How do I invite members to my Tidepool team?", "What happens to files of a removed member?"],
    ["Can reviewers see the instructions while chatting?"],
    ["How do I turn on two-factor authentication in Tidepool?"],
    ["What is the weather in Lisbon tomorrow?"],
]
# Every fourth conversation came through the REST API; the others from the review app's chat.
API_EVERY = 4


@dataclass
class DemoSummary:
    model_uri: str
    app: App
    password: str
    password_from_env: bool
    created: list[str] = field(default_factory=list)


def demo_password() -> tuple[str, bool]:
    """DEMO_PASSWORD when set; else one generated once and kept in var/demo_password."""
    if settings.DEMO_PASSWORD:
        return settings.DEMO_PASSWORD, True
    path = Path(settings.VAR_DIR) / "demo_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip(), False


def load_demo(*, now: datetime.datetime | None = None) -> DemoSummary:
    """Make the demo install complete; what it had to make is listed in `created`."""
    model_uri = demo_chain.ensure_registered()
    password, from_env = demo_password()
    created: list[str] = []
    app = _ensure_app_and_people(model_uri=model_uri, password=password, created=created)
    turns = _ensure_history(app=app, now=now or timezone.now())
    if turns:
        created.append(f"{turns} historical turns")
    return DemoSummary(model_uri, app, password, from_env, created)


@transaction.atomic
def _ensure_app_and_people(*, model_uri: str, password: str, created: list[str]) -> App:
    users = {}
    for email, _level in USERS:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email, password, name=email.split("@")[0].title())
            created.append(f"user {email}")
        elif not user.check_password(password):
            # DEMO_PASSWORD changed (or the user was a placeholder): the printed sign-in must work.
            user.set_password(password)
            user.is_placeholder = False
            user.save(update_fields=["password", "is_placeholder"])
        users[email] = user
    manager = users[USERS[0][0]]

    app = App.objects.filter(slug=APP_SLUG).first()
    if app is None:
        app = catalog.create_app(
            actor=manager,
            slug=APP_SLUG,
            name=APP_NAME,
            description=APP_DESCRIPTION,
            adapter=App.Adapter.MLFLOW,
            adapter_config={"model_uri": model_uri},
        )
        created.append(f"app {APP_SLUG}")
    for email, level in USERS:
        # Only people without any grant: a level someone changed since is theirs to keep.
        if not app.grants.filter(user=users[email]).exists():
            catalog.set_permissions(actor=manager, app=app, principals=[email], level=level)
            created.append(f"{level.label} for {email}")
    if app.current_instructions() is None:
        catalog.set_review_instructions(actor=manager, app=app, markdown=INSTRUCTIONS)
        created.append("reviewer instructions")
    return app


def history_ids(n_conversation: int, n_turn: int) -> tuple[str, uuid.UUID]:
    """Stable ids of one historical turn: (conversation_id, request_id)."""
    conversation = uuid.uuid5(uuid.NAMESPACE_URL, f"reviewapp-demo/{n_conversation}")
    return str(conversation), uuid.uuid5(conversation, str(n_turn))


def _ensure_history(*, app: App, now: datetime.datetime) -> int:
    """Run the demo chain over CONVERSATIONS and log the turns that are not in the log yet."""
    reviewer = User.objects.get(email=USERS[1][0])
    manager = User.objects.get(email=USERS[0][0])
    model_uri = app.adapter_config.get("model_uri") or demo_chain.model_uri()
    existing = set(Request.objects.filter(app=app).values_list("request_id", flat=True))
    made = 0
    for n, questions in enumerate(CONVERSATIONS):
        conversation_id, _ = history_ids(n, 0)
        by_api = n % API_EVERY == API_EVERY - 1
        # Spread over the past ten days, oldest first, a few minutes between turns.
        started = now - datetime.timedelta(days=10) + datetime.timedelta(hours=n * 10, minutes=n * 7)
        messages: list[dict] = []
        for t, question in enumerate(questions):
            _, request_id = history_ids(n, t)
            messages = [*messages, {"role": "user", "content": question}]
            if request_id in existing:
                answered = Request.objects.get(request_id=request_id).response
            else:
                # predict, not the paced stream: history needs no pauses. Traced in the app's experiment.
                result = mlflow_model.invoke(
                    model_uri=model_uri,
                    messages=messages,
                    timeout_seconds=60,
                    experiment=app.mlflow_experiment_name(),
                    app_slug=app.slug,
                    app_id=str(app.pk),
                    conversation_id=conversation_id,
                )
                log_turn(
                    app=app,
                    user=manager if by_api else reviewer,
                    source=Request.Source.REST_API if by_api else Request.Source.REVIEW_APP,
                    messages=messages,
                    conversation_id=conversation_id,
                    result=result,
                    request_id=request_id,
                    created_at=started + datetime.timedelta(minutes=3 * t),
                )
                answered = result.response
                made += 1
            messages = [*messages, {"role": "assistant", "content": answered}]
    return made
