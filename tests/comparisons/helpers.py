"""Pairwise queues for the tests: an app whose two versions are real OpenAI-compatible servers."""

from reviewapp.catalog.models import App, AppVersion
from reviewapp.comparisons import services
from reviewapp.queues import claims
from tests import factories

# Distinctive, so a page that showed one would be caught.
VERSION_A = "alpha-7f3e"
VERSION_B = "beta-9c1d"


def two_version_app(app, server_a, server_b) -> App:
    """`app` served first by server_a (VERSION_A), now by server_b (VERSION_B); both in its history."""
    AppVersion.objects.create(
        app=app, version=VERSION_A, adapter=App.Adapter.HTTP, adapter_config={"url": server_a.url}
    )
    app.adapter, app.adapter_config, app.version, app.timeout_seconds = (
        App.Adapter.HTTP,
        {"url": server_b.url},
        VERSION_B,
        5,
    )
    app.save()
    AppVersion.objects.create(
        app=app, version=VERSION_B, adapter=App.Adapter.HTTP, adapter_config={"url": server_b.url}
    )
    return app


def imported_queue(app, rows, *, name="Pairs", **options):
    """A pairwise queue of imported pairs: rows of (question, response_a, response_b)."""
    pairs = [
        {"prompt": q, "response_a": a, "response_b": b, "version_a": VERSION_A, "version_b": VERSION_B}
        for q, a, b in rows
    ]
    queue, comparison = services.create_pairwise_queue(
        app=app, name=name, created_by=None, pairs=pairs, **options
    )
    return queue, comparison


def judge(queue, reviewer, picks: list[str]) -> None:
    """`reviewer` judges the queue's pairs in order, each pick in the pair's own terms ("a" = version
    A's response), whatever order they were shown in."""
    for item, pick in zip(queue.items.order_by("position"), picks, strict=False):
        claims.claim_item(item=item, reviewer=reviewer)
        pair = item.pair
        swapped = services.order_for(pair=pair, reviewer=reviewer)
        shown = pick if pick == "tie" or not swapped else {"a": "b", "b": "a"}[pick]
        services.record_preference(item=item, reviewer=reviewer, choice=shown)


def a_request(app, question: str, version: str = VERSION_A, **extra):
    return factories.make_request(app, question=question, app_version=version, **extra)


def answers_as(name: str):
    """A chain server's rule: it answers saying which version it is."""
    return lambda messages: f"{name} says: {messages[-1]['content']}"
