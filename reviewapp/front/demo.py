"""The demo install (`manage.py load_demo`): the demo chain in MLflow, one app, its users, a request
log of historical turns made by really running the chain over the last month (told as two releases of
the app, versions "1" and "2"), and two reviewers' feedback on them, so the dashboard has something
to show.

Idempotent: everything is looked up before it is made, and historical turns and their feedback have
ids derived from their place in CONVERSATIONS, so a second run adds nothing (and repairs a partial
first run).
"""

import datetime
import hashlib
import logging
import random
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
from reviewapp.exports.selection import Filters
from reviewapp.feedback import summary
from reviewapp.feedback.services import record_feedback
from reviewapp.jobs.services import run_job
from reviewapp.judges import runs as judge_runs
from reviewapp.judges import services as judge_services
from reviewapp.judges.models import Judge
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
    ("expert@example.com", Level.CAN_QUERY),
]
# The demo reviewers, and the share of the historical turns each gave feedback on.
REVIEWERS = [("reviewer@example.com", 0.8), ("expert@example.com", 0.5)]
# Named for what they measure; each works on the default install (see reviewapp/judges/metrics.py).
# (name, kind, metric, share of new chat turns judged as they come)
DEMO_JUDGES = [
    ("correction_token_f1", "reference", "token_f1", 0),
    ("grounded_sentences_lexical", "groundedness", "lexical", 100),
    ("rated_chunk_precision", "retrieval", "precision", 0),
]
# With the embeddings extra installed (`make embeddings`), groundedness by meaning as well.
DEMO_EMBEDDING_JUDGES = [("grounded_sentences_embedding", "groundedness", "embedding", 100)]
DEMO_JUDGES_OWNER = "manager@example.com"
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
# Offered on an empty chat, to start from.
EXAMPLE_QUESTIONS = [
    "How do I resolve a sync conflict?",
    "How do I create an API token for the Python client?",
    "How do I rate the retrieved passages?",
]
# Every fourth conversation came through the REST API; the others from the review app's chat.
API_EVERY = 4
# The history spans this many days before now, inside the dashboard's default range (the last 30
# days); its first half was answered by version "1" of the app, the rest by version "2", which the
# demo feedback likes better.
HISTORY_DAYS = 28
VERSIONS = ("1", "2")
THUMBS_UP_SHARE = {"1": 0.55, "2": 0.8}
# Outside the documentation: every reviewer dislikes the answer.
OFF_TOPIC = {"What is the weather in Lisbon tomorrow?", "How do I get a refund for an annual plan?"}


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
    given = _ensure_feedback(app=app)
    if given:
        created.append(f"{given} pieces of demo feedback")
    judged = _ensure_judges(app=app)
    if judged:
        created.append(f"{judged} judge results")
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
        app = catalog.update_app(actor=manager, app=app, changes={"example_questions": EXAMPLE_QUESTIONS})
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
    spacing = datetime.timedelta(days=HISTORY_DAYS) / len(CONVERSATIONS)
    for n, questions in enumerate(CONVERSATIONS):
        conversation_id, _ = history_ids(n, 0)
        by_api = n % API_EVERY == API_EVERY - 1
        version = history_version(n)
        # Spread over the past month, oldest first, a few minutes between turns.
        started = (
            now - datetime.timedelta(days=HISTORY_DAYS) + n * spacing + datetime.timedelta(minutes=n * 7)
        )
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
                # The same chain answers today; the history tells of two releases of it.
                result.app_version = version
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


def history_version(n_conversation: int) -> str:
    """The app version that answered conversation `n_conversation` of the history."""
    return VERSIONS[0] if n_conversation < len(CONVERSATIONS) // 2 else VERSIONS[1]


def _ensure_feedback(*, app: App) -> int:
    """The demo reviewers' feedback on the historical turns, through the same service as the review
    screens; how many pieces were recorded. Each piece has a stable id, so a second run adds none."""
    made = 0
    reviewers = [(User.objects.get(email=email), share) for email, share in REVIEWERS]
    for n, questions in enumerate(CONVERSATIONS):
        for t in range(len(questions)):
            _, request_id = history_ids(n, t)
            request = Request.objects.filter(app=app, request_id=request_id).select_related("app").first()
            if request is None or request.status != Request.Status.OK:
                continue
            for reviewer, share in reviewers:
                changes = _demo_feedback(request, reviewer.email, share, off_topic=questions[t] in OFF_TOPIC)
                if changes is None:
                    continue
                key = uuid.uuid5(request.request_id, f"demo-feedback/{reviewer.email}")
                made += record_feedback(
                    request=request, reviewer=reviewer, changes=changes, assessment_id=key
                ).created
    summary.catch_up()  # the demo's dashboard and judges read the sums at once
    return made


def _ensure_judges(*, app: App) -> int:
    """Judges that need no LLM, no network and no extra, run over the demo's reviewed turns; how
    many results they gave. A second run finds them and makes nothing."""
    manager = User.objects.get(email=DEMO_JUDGES_OWNER)
    made = 0
    from reviewapp.judges import embeddings

    for name, kind, metric, live in DEMO_JUDGES + (DEMO_EMBEDDING_JUDGES if embeddings.available() else []):
        if Judge.objects.filter(app=app, name=name).exists():
            continue  # made by an earlier run (or deleted by the app's manager since)
        judge = judge_services.create_judge(
            app=app, user=manager, name=name, kind=kind, metric=metric, sample_percent=live
        )
        job = judge_services.start_run(judge=judge, user=manager, filters=Filters())
        # Run here, so the judges' results are there at once; the job's message finds it done.
        made += run_job(str(job.pk), judge_runs.run).result.get("judged", 0)
    return made


def _demo_feedback(request: Request, email: str, share: float, *, off_topic: bool) -> dict | None:
    """What `email` thinks of `request`, drawn the same way on every run; None: not reviewed."""
    seed = hashlib.sha256(f"{request.request_id}/{email}".encode()).hexdigest()
    draw = random.Random(seed)
    if draw.random() >= share:
        return None
    liked = not off_topic and draw.random() < THUMBS_UP_SHARE.get(request.app_version, 0.6)
    changes: dict = {"rating": "positive" if liked else "negative"}
    reasons = [r for r in request.app.reasons or [] if r != "other"]
    if not liked and reasons:
        changes["reasons"] = draw.sample(reasons, k=min(len(reasons), draw.choice((1, 1, 2))))
    passages = request.passages()
    if passages and draw.random() < 0.6:
        # The first passage is the likeliest to help, as a retriever's ranking should make it.
        changes["retrieval_assessments"] = [
            {
                "position": passage["position"],
                "rating": "relevant" if draw.random() < (0.85 if rank == 0 else 0.45) else "not_relevant",
            }
            for rank, passage in enumerate(passages)
        ]
    if not liked and draw.random() < 0.3:
        changes["corrected_response"] = (
            "I can only answer from the documentation, and it does not cover this question."
            if off_topic
            else "The answer should quote the step the documentation gives, and cite its section."
        )
    if not liked and not off_topic and draw.random() < 0.2:
        changes["missing_sources"] = [{"doc_uri": "docs://reviewapp/faq", "content": ""}]
    return changes
