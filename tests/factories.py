"""Small factories for test data (plain functions; no extra library needed)."""

import itertools
import uuid

from reviewapp.accounts.models import Group, User
from reviewapp.catalog.models import App, Grant, Level
from reviewapp.requestlog.models import Request, retrieved_documents, store_documents

_seq = itertools.count(1)


def make_user(email: str | None = None, password: str = "pw-for-tests", **extra) -> User:
    email = email or f"user{next(_seq)}@example.com"
    return User.objects.create_user(email, password, **extra)


def make_group(name: str | None = None, members=()) -> Group:
    group = Group.objects.create(name=name or f"group-{next(_seq)}")
    for member in members:
        member.scim_groups.add(group)
    return group


def make_app(slug: str | None = None, **extra) -> App:
    slug = slug or f"app-{next(_seq)}"
    extra.setdefault("name", slug.replace("-", " ").title())
    return App.objects.create(slug=slug, **extra)


def grant(app: App, principal, level: Level) -> Grant:
    if isinstance(principal, Group):
        return Grant.objects.create(app=app, group=principal, level=level)
    return Grant.objects.create(app=app, user=principal, level=level)


def make_request(app: App, **extra) -> Request:
    question = extra.pop("question", "How do I rotate an API token?")
    extra.setdefault("messages", [{"role": "user", "content": question}])
    extra.setdefault("response", "Open Settings, then API tokens, and press Rotate.")
    extra.setdefault("conversation_id", str(uuid.uuid4()))
    extra.setdefault("source", Request.Source.REVIEW_APP)
    extra.setdefault("app_version", app.version)
    extra.setdefault(
        "chunks",
        [
            {
                "position": 0,
                "doc_uri": "docs://tokens#rotate",
                "content": "Tokens can be rotated in Settings.",
            },
            {
                "position": 1,
                "doc_uri": "docs://tokens#revoke",
                "content": "Revoked tokens stop working at once.",
            },
        ],
    )
    request = Request(app=app, **extra)
    # Written with the request, as log_turn and the importers do.
    documents = retrieved_documents(request)
    request.save(force_insert=True)
    store_documents(documents)
    return request


def make_assessment(request: Request, reviewer: User, rating: str = "", **extra):
    """One assessment row written directly (the service's merging and checks are tested on their own)."""
    from reviewapp.feedback import summary
    from reviewapp.feedback.models import Assessment

    row = Assessment.objects.create(
        request=request, app=request.app, reviewer=reviewer, source_id=reviewer.email, rating=rating, **extra
    )
    # As every real write does, in its transaction: what the log's filters and the dashboard read.
    summary.refresh(request)
    return row
