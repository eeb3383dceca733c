"""The novelty filter (novel_since/novel_until) reads each app's documents once (AppDocument), kept
by every writer of retrieved documents; it selects exactly the rows of the query that walks every
document row (what it did before, still used for a queryset not scoped to one app), on edge cases
of the baseline's ends, first sightings after it, documents of other apps and rows written out of
time order."""

import datetime as dt
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Min

from reviewapp.chains.base import ChainResult
from reviewapp.requestlog import models as log_models
from reviewapp.requestlog.models import AppDocument, Request, RetrievedDocument
from reviewapp.requestlog.services import log_turn, run_import, start_jsonl_import
from tests import factories
from tests.migrating import back_at
from tests.requestlog.helpers import jsonl, row, trace_dict

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
SINCE, UNTIL = T0, T0 + dt.timedelta(days=1)
MICROSECOND = dt.timedelta(microseconds=1)


def chunks(*uris) -> list[dict]:
    return [{"position": p, "doc_uri": uri, "content": f"About {uri}."} for p, uri in enumerate(uris)]


def make(app, when, *uris, question="q"):
    return factories.make_request(app, created_at=when, chunks=chunks(*uris), question=question)


def novel(app, since=SINCE, until=UNTIL) -> set[uuid.UUID]:
    rows = set(Request.objects.for_app(app).retrieved_novel(since, until).values_list("pk", flat=True))
    # The query over every document row, as it was: the answer must be the same.
    walked = Request.objects.filter(app=app).retrieved_novel(since, until)
    assert Request.objects.filter(app=app).app_pk is None
    assert rows == set(walked.values_list("pk", flat=True))
    return rows


def listed(app) -> dict[str, dt.datetime]:
    return dict(AppDocument.objects.filter(app=app).values_list("doc_uri", "first_seen"))


def from_rows(app) -> dict[str, dt.datetime]:
    """What AppDocument must hold: each document of the app's rows, at its earliest row."""
    rows = RetrievedDocument.objects.filter(app=app).values("doc_uri").annotate(first=Min("created_at"))
    return {r["doc_uri"]: r["first"] for r in rows}


@pytest.fixture
def log(app):
    """Requests around a baseline of one day, [SINCE, UNTIL), by name."""
    other = factories.make_app("other-bot")
    made = {
        # docs://old is retrieved before and after the baseline, never in it.
        "old, before": make(app, SINCE - dt.timedelta(days=3), "docs://old", "docs://kept"),
        "old, after": make(app, UNTIL + dt.timedelta(hours=5), "docs://old"),
        # docs://kept is in the baseline, at its very first instant.
        "kept, at since": make(app, SINCE, "docs://kept"),
        "kept, after": make(app, UNTIL + dt.timedelta(hours=6), "docs://kept"),
        # docs://edge is retrieved at UNTIL exactly, and a microsecond before SINCE: not in it.
        "edge, at until": make(app, UNTIL, "docs://edge"),
        "edge, just before": make(app, SINCE - MICROSECOND, "docs://edge"),
        # docs://last is in the baseline at its last microsecond.
        "last, in": make(app, UNTIL - MICROSECOND, "docs://last"),
        "last, after": make(app, UNTIL + dt.timedelta(days=2), "docs://last"),
        # docs://fresh is first retrieved after the baseline; with a kept document beside it.
        "fresh and kept": make(app, UNTIL + dt.timedelta(days=1), "docs://kept", "docs://fresh"),
        "nothing": make(app, UNTIL + dt.timedelta(days=1), question="no chunks"),
        # docs://shared is in the other app's baseline only: still new to this one.
        "shared": make(app, UNTIL + dt.timedelta(hours=1), "docs://shared"),
        "theirs": make(other, SINCE + dt.timedelta(hours=1), "docs://shared"),
        "theirs, old": make(other, UNTIL + dt.timedelta(hours=1), "docs://old"),
    }
    return made


# What the fixture's log holds that its baseline [SINCE, UNTIL) did not retrieve.
NEW_AGAINST_THE_BASELINE = {
    "old, before",
    "old, after",
    "edge, at until",
    "edge, just before",
    "fresh and kept",
    "shared",
}


def names(log, ids) -> set[str]:
    by_id = {r.pk: name for name, r in log.items()}
    return {by_id[i] for i in ids}


def test_it_selects_the_requests_that_retrieved_a_document_the_baseline_did_not(app, log):
    assert names(log, novel(app)) == NEW_AGAINST_THE_BASELINE


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        # A baseline that saw everything up to the day after: only the fresh document is new.
        (SINCE - dt.timedelta(days=3), UNTIL + dt.timedelta(hours=7), {"fresh and kept"}),
        # An empty baseline: every request that retrieved anything.
        (SINCE + dt.timedelta(hours=2), SINCE + dt.timedelta(hours=3), "all with documents"),
        # A baseline after every row: the same.
        (UNTIL + dt.timedelta(days=5), UNTIL + dt.timedelta(days=6), "all with documents"),
        # One microsecond wide, at `until` of the fixture: only docs://edge is in it.
        (UNTIL, UNTIL + MICROSECOND, "all with documents but edge"),
        # A baseline before every row: documents first seen after its end are new without a lookup.
        (SINCE - dt.timedelta(days=9), SINCE - dt.timedelta(days=8), "all with documents"),
    ],
)
def test_each_baseline_gives_the_rows_the_walk_over_every_document_gives(app, log, since, until, expected):
    retrieving = {name for name, r in log.items() if r.documents and r.app_id == app.pk}
    if expected == "all with documents":
        expected = retrieving
    elif expected == "all with documents but edge":
        expected = retrieving - {"edge, at until", "edge, just before"}

    assert names(log, novel(app, since, until)) == expected


def test_a_request_with_two_new_documents_is_one_row(app):
    request = make(app, UNTIL + dt.timedelta(hours=1), "docs://x", "docs://y")

    rows = list(Request.objects.for_app(app).retrieved_novel(SINCE, UNTIL).values_list("pk", flat=True))

    assert rows == [request.pk]


def test_an_app_that_retrieved_nothing_new_selects_nothing(app, log):
    assert novel(app, SINCE - dt.timedelta(days=30), UNTIL + dt.timedelta(days=30)) == set()


@pytest.mark.parametrize("limit", [0, 1, 2])
def test_past_the_listed_limit_it_finds_the_same_rows_walking_the_log(app, log, monkeypatch, limit):
    # Fewer listed new documents or requests than there are: the other way of finding them.
    monkeypatch.setattr(log_models, "MAX_LISTED", limit)

    assert names(log, novel(app)) == NEW_AGAINST_THE_BASELINE


def test_a_document_seen_again_earlier_moves_its_first_sighting_back(app, querier):
    # First logged after the baseline, then a turn dated inside it: no longer new.
    later = make(app, UNTIL + dt.timedelta(days=1), "docs://moved")
    assert novel(app) == {later.pk}

    log_turn(
        app=app,
        user=querier,
        source="review_app",
        messages=[{"role": "user", "content": "Dated in the baseline"}],
        result=ChainResult(response="ok", chunks=chunks("docs://moved")),
        created_at=SINCE + dt.timedelta(hours=1),
    )

    assert listed(app) == from_rows(app) == {"docs://moved": SINCE + dt.timedelta(hours=1)}
    assert novel(app) == set()


def test_a_turn_lists_its_documents_once_per_app(app, querier):
    for when in (UNTIL, SINCE):
        log_turn(
            app=app,
            user=querier,
            source="review_app",
            messages=[{"role": "user", "content": "Q?"}],
            result=ChainResult(response="ok", chunks=chunks("docs://a", "docs://b", "docs://a")),
            created_at=when,
        )
    live = log_turn(
        app=app,
        user=querier,
        source="review_app",
        messages=[{"role": "user", "content": "Now"}],
        result=ChainResult(response="ok", chunks=chunks("docs://c")),
    )

    assert listed(app) == from_rows(app)
    assert listed(app) == {"docs://a": SINCE, "docs://b": SINCE, "docs://c": live.created_at}


def imported(i: int, when: dt.datetime, *uris) -> dict:
    trace = trace_dict(f"Question {i}?", "Answer", docs=[(uri, f"About {uri}.") for uri in uris])
    return row(i, timestamp=when.isoformat(), trace=trace)


def test_an_import_lists_its_documents_and_moves_earlier_sightings_back(app, manager):
    live = make(app, UNTIL + dt.timedelta(days=2), "docs://a")
    rows = [
        imported(1, UNTIL + dt.timedelta(days=1), "docs://a", "docs://b"),
        imported(2, SINCE + dt.timedelta(hours=3), "docs://b"),
        imported(3, UNTIL + dt.timedelta(hours=1), "docs://c"),
    ]

    job = start_jsonl_import(app=app, user=manager, upload=SimpleUploadedFile("t.jsonl", jsonl(rows)))
    report = run_import(job)

    assert report["imported"] == 3, report
    assert listed(app) == from_rows(app)
    assert listed(app)["docs://a"] == UNTIL + dt.timedelta(days=1)
    assert listed(app)["docs://b"] == SINCE + dt.timedelta(hours=3)
    first, _, third = (uuid.UUID(r["request_id"]) for r in rows)
    # docs://b is in the baseline now; a and c are new.
    assert novel(app) == {live.pk, first, third}


@pytest.mark.django_db(transaction=True)
def test_the_migration_lists_the_documents_of_the_log_kept_before_it():
    app = factories.make_app("support-bot")
    other = factories.make_app("other-bot")

    with back_at(("requestlog", "0009_comparison_source")) as (old, migrate_forward):
        OldRequest = old.get_model("requestlog", "Request")
        OldDocument = old.get_model("requestlog", "RetrievedDocument")
        for on, when, uris in [
            (app, UNTIL, ["docs://a", "docs://b"]),
            (app, SINCE, ["docs://a"]),
            (app, UNTIL + dt.timedelta(days=1), ["docs://c"]),
            (other, SINCE - dt.timedelta(days=1), ["docs://a"]),
            (app, SINCE, []),
        ]:
            request = OldRequest.objects.create(
                app_id=on.pk, conversation_id="c", source="import", created_at=when, documents=len(uris)
            )
            for uri in uris:
                OldDocument.objects.create(request_id=request.pk, app_id=on.pk, created_at=when, doc_uri=uri)

        migrate_forward()

    assert listed(app) == {"docs://a": SINCE, "docs://b": UNTIL, "docs://c": UNTIL + dt.timedelta(days=1)}
    assert listed(other) == {"docs://a": SINCE - dt.timedelta(days=1)}
    assert len(novel(app)) == 2  # the first (docs://b, at UNTIL) and the third
