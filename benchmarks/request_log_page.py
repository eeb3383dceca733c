"""Request-log page time at up to 1,000,000 rows on PostgreSQL (a script printing a table).

    .venv/bin/python benchmarks/request_log_page.py [--sizes 100000,1000000] [--runs 15]

Seeds a scratch database (BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/reviewapp_bench_requestlog, dropped and created) with
INSERT … SELECT generate_series: half the rows retrieved a document, 1 % have feedback (its
assessments, RequestFeedback summaries and FeedbackReason rows, as the feedback writes leave them),
every 10th was judged. Then for each size it measures GET /apps/<slug>/requests/ through the whole
Django stack (middleware, session, permission check, query, template) in this process: median and
p95 server time and the SQL query count, for the first page, a deep page reached by cursor, the last
page, and every filter the page offers (each value that reads differently), some of them on a deep
and the last page too.
Targets: ≤ 100 ms median for every case at 1,000,000 rows, ≤ 10 queries, constant in the table size.

    --reuse             measure the database a previous run seeded (alternate old and new code on it)
    --only rating,verdict   only the cases whose name contains one of these words
    --explain           print EXPLAIN (ANALYZE, BUFFERS) of each case's page query
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _scratch import recreate_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/reviewapp_bench_requestlog"


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    # Pages are rendered as in production (DEBUG off): hashed static files need a manifest.
    os.environ.setdefault("STATIC_ROOT", tempfile.mkdtemp(prefix="reviewapp-bench-static-"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def _insert_series(model, seeded: dict, params: list, start: int, stop: int, where: str = "") -> None:
    """INSERT … SELECT over generate_series(start, stop - 1): `seeded` maps columns to SQL of `i`
    (its %s placeholders take `params`); every other column gets its default, one value for all rows."""
    from django.db import connection

    columns, expressions, defaults = [f'"{c}"' for c in seeded], list(seeded.values()), []
    for field in model._meta.concrete_fields:
        if field.column in seeded or field.primary_key and field.column == "id":
            continue
        columns.append(f'"{field.column}"')
        expressions.append("%s")
        defaults.append(field.get_db_prep_save(None if field.null else field.get_default(), connection))
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM generate_series(%s, %s) AS i {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *defaults, start, stop - 1])


_TIME_OF_I = "timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'"


def seed_requests(app, start: int, stop: int) -> None:
    """Rows start..stop-1 of `app`: one per second from 2026-01-01, newest = highest number.
    Every 11th logged without a version, every 13th untimed, every 97th an error, every 997th
    incomplete; the even ones retrieved one document (RetrievedDocument)."""

    from reviewapp.requestlog.models import Request

    seeded = {
        "request_id": "md5('r' || i)::uuid",
        "app_id": "%s",
        "app_version": "CASE WHEN i %% 11 = 0 THEN '' ELSE (1 + i %% 3)::text END",
        "conversation_id": "'conv-' || (i / 4)",
        "source": "(ARRAY['review_app','rest_api','import'])[1 + i %% 3]",
        "created_at": _TIME_OF_I,
        "messages": "jsonb_build_array(jsonb_build_object('role','user','content',"
        "'How do I ' || (ARRAY['rotate','revoke','create','list','renew'])[1 + i %% 5] || ' token number ' || i || '?'))",
        "response": "'To do that, open Settings, then API tokens (answer ' || i || ').'"
        " || CASE WHEN i %% 50000 = 7 THEN ' Mention the zanzibar clause.' ELSE '' END",
        "status": "CASE WHEN i %% 97 = 0 THEN 'error' WHEN i %% 997 = 5 THEN 'incomplete' ELSE 'ok' END",
        "latency_ms": "CASE WHEN i %% 13 = 0 THEN NULL ELSE 50 + i %% 400 END",
        "request_tokens": "10 + i %% 20",
        "response_tokens": "20 + i %% 40",
        "total_tokens": "30 + i %% 60",
        "documents": "CASE WHEN i %% 2 = 0 THEN 1 ELSE 0 END",
    }
    _insert_series(Request, seeded, [app.pk], start, stop)


# Document k (k even, below 5000) is retrieved by every 5000th row; a few rows retrieve a document
# of their own, never seen before: what the novelty filter finds.
_DOC_OF_I = (
    "CASE WHEN i %% 20011 = 0 THEN 'https://docs.example.com/new-' || i "
    "ELSE 'https://docs.example.com/page-' || (i %% 5000) END"
)
COMMON_DOC = "https://docs.example.com/page-42"


def seed_documents(app, start: int, stop: int) -> None:
    from reviewapp.requestlog.models import RetrievedDocument

    seeded = {
        "request_id": "md5('r' || i)::uuid",
        "app_id": "%s",
        "app_version": "CASE WHEN i %% 11 = 0 THEN '' ELSE (1 + i %% 3)::text END",
        "created_at": _TIME_OF_I,
        "doc_uri": _DOC_OF_I,
    }
    _insert_series(RetrievedDocument, seeded, [app.pk], start, stop, where="WHERE i %% 2 = 0")
    note_seeded_documents(app)


def note_seeded_documents(app) -> None:
    """The app's list of documents (AppDocument), as the writers keep it, for the rows seeded above."""
    from django.db import connection

    from reviewapp.requestlog.models import AppDocument, RetrievedDocument

    table = AppDocument._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (app_id, doc_uri, first_seen) "
            f"SELECT app_id, doc_uri, MIN(created_at) FROM {RetrievedDocument._meta.db_table} "
            "WHERE app_id = %s GROUP BY app_id, doc_uri ON CONFLICT (app_id, doc_uri) "
            f"DO UPDATE SET first_seen = LEAST(EXCLUDED.first_seen, {table}.first_seen)",
            [app.pk],
        )


# Feedback is on every 100th row; j = i / 100 numbers those. What each one's effective feedback is:
_RATING_OF_J = (
    "CASE WHEN (i / 100) %% 3 = 0 THEN 'negative' WHEN (i / 100) %% 7 = 1 THEN 'mixed' "
    "WHEN (i / 100) %% 11 = 2 THEN '' ELSE 'positive' END"
)
RARE_REASON = "Outdated"


def seed_feedback(app, reviewer, rare_reviewer, start: int, stop: int) -> None:
    """Feedback on 1 % of the rows (every 100th): a third of it negative, 1 in 7 mixed (a second
    reviewer disagreeing), 1 in 11 a note without a rating; corrections, missing sources and chunk
    ratings on some. The assessments, and the summaries and reasons the feedback writes keep."""

    from reviewapp.feedback.models import Assessment, FeedbackReason, FeedbackReviewer, RequestFeedback

    every_100th = "WHERE i %% 100 = 0"
    rating = f"({_RATING_OF_J})"
    assessments = {
        "assessment_id": "md5('a' || i)::uuid",
        "request_id": "md5('r' || i)::uuid",
        "app_id": "%s",
        "reviewer_id": "%s",
        "source_id": "%s",
        "created_at": "timestamptz '2026-06-01 00:00:00+00' + i * interval '1 second'",
        "rating": f"CASE WHEN {rating} = 'mixed' THEN 'positive' ELSE {rating} END",
        "app_version": "CASE WHEN i %% 11 = 0 THEN '' ELSE (1 + i %% 3)::text END",
    }
    params = [app.pk, reviewer.pk, reviewer.email]
    _insert_series(Assessment, assessments, params, start, stop, where=every_100th)
    second = {
        **assessments,
        "assessment_id": "md5('b' || i)::uuid",
        "rating": f"CASE WHEN {rating} = 'mixed' THEN 'negative' ELSE {rating} END",
    }
    twice = f"{every_100th} AND ({rating} = 'mixed' OR (i / 100) %% 50 = 0)"
    _insert_series(
        Assessment, second, [app.pk, rare_reviewer.pk, rare_reviewer.email], start, stop, where=twice
    )
    copied = {
        "request_id": "md5('r' || i)::uuid",
        "app_id": "%s",
        "app_version": "CASE WHEN i %% 11 = 0 THEN '' ELSE (1 + i %% 3)::text END",
        "request_created_at": _TIME_OF_I,
    }
    two = f"({rating} = 'mixed' OR (i / 100) %% 50 = 0)"
    summaries = {
        **copied,
        "source": "(ARRAY['review_app','rest_api','import'])[1 + i %% 3]",
        "reviewers": f"CASE WHEN {two} THEN 2 ELSE 1 END",
        "up": f"CASE WHEN {rating} = 'mixed' THEN 1 WHEN {rating} = 'positive' THEN "
        f"(CASE WHEN {two} THEN 2 ELSE 1 END) ELSE 0 END",
        "down": f"CASE WHEN {rating} = 'mixed' THEN 1 WHEN {rating} = 'negative' THEN "
        f"(CASE WHEN {two} THEN 2 ELSE 1 END) ELSE 0 END",
        "verdict": rating,
        "corrections": "CASE WHEN (i / 100) %% 5 = 0 THEN 1 ELSE 0 END",
        "missing_sources": "CASE WHEN (i / 100) %% 13 = 0 THEN 1 ELSE 0 END",
        "passages_rated": "CASE WHEN (i / 100) %% 4 = 0 THEN 2 ELSE 0 END",
        "passages_relevant": "CASE WHEN (i / 100) %% 8 = 0 THEN 1 ELSE 0 END",
    }
    _insert_series(RequestFeedback, summaries, [app.pk], start, stop, where=every_100th)
    reasons = {
        **copied,
        "reason": f"CASE WHEN (i / 100) %% 97 = 0 THEN '{RARE_REASON}' ELSE 'Wrong answer' END",
    }
    negative = f"{every_100th} AND {rating} IN ('negative', 'mixed')"
    _insert_series(FeedbackReason, reasons, [app.pk], start, stop, where=negative)
    listed = {**copied, "reviewer_id": "%s"}
    _insert_series(FeedbackReviewer, listed, [app.pk, reviewer.pk], start, stop, where=every_100th)
    listed_twice = {**copied, "reviewer_id": "%s"}
    _insert_series(FeedbackReviewer, listed_twice, [app.pk, rare_reviewer.pk], start, stop, where=twice)


JUDGE = "groundedness"


def make_judge(app, manager):
    """A live judge with two versions; results are seeded for the current one (see seed_judged)."""
    from reviewapp.judges.models import Judge, JudgeVersion

    judge = Judge.objects.create(app=app, name=JUDGE, kind=Judge.Kind.GROUNDEDNESS, created_by=manager)
    for number in (1, 2):
        JudgeVersion.objects.create(judge=judge, number=number, metric="groundedness", threshold=0.5)
    return judge


def seed_judged(app, start: int, stop: int) -> None:
    """Every 10th row judged by the current version: a fail in 7, an error in 100."""
    from reviewapp.judges.models import Judge, JudgeResult

    version = Judge.objects.get(app=app, name=JUDGE).current
    seeded = {
        "version_id": "%s",
        "request_id": "md5('r' || i)::uuid",
        "app_id": "%s",
        "value": "CASE WHEN i %% 1000 = 0 THEN 'error' WHEN i %% 70 = 0 THEN 'fail' ELSE 'pass' END",
        "created_at": _TIME_OF_I,
        "request_created_at": _TIME_OF_I,
    }
    _insert_series(JudgeResult, seeded, [version.pk, app.pk], start, stop, where="WHERE i %% 10 = 0")


def analyze() -> None:
    from django.db import connection

    tables = (
        "requestlog_request",
        "requestlog_retrieveddocument",
        "requestlog_appdocument",
        "feedback_assessment",
        "feedback_requestfeedback",
        "feedback_feedbackreason",
        "feedback_feedbackreviewer",
        "judges_judgeresult",
    )
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def measure(
    client, url: str, runs: int, explain: bool = False
) -> tuple[float, float, float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches and the connection
        client.get(url)
    times, sql_times, cpu_times, queries, status = [], [], [], 0, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu_started) * 1000)
        queries, status = len(captured), response.status_code
        sql_times.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    if explain:
        page_queries = [q for q in captured.captured_queries if 'FROM "requestlog_request"' in q["sql"]]
        slowest = max(page_queries or captured.captured_queries, key=lambda q: float(q["time"]))
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {slowest['sql']}")
            plan = "\n".join(f"    {line}" for (line,) in cursor.fetchall())
        print(f"  {url}\n    {slowest['sql'][:600]}\n{plan}\n", file=sys.stderr)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    # On a busy machine wall time includes waiting for a CPU; Django's CPU time + SQL time does not.
    cpu_plus_sql = statistics.median(c + q for c, q in zip(cpu_times, sql_times, strict=True))
    shown = response.content.count(b'name="request_ids"')  # rows on the page: each has a checkbox
    return statistics.median(times), p95, statistics.median(sql_times), cpu_plus_sql, queries, status, shown


def cases(app, size: int, rare_reviewer: str) -> list[tuple[str, dict]]:
    """Every filter of the page (form and chips) with each value that reads differently, the pages
    a reader walks to, and the costliest filters on a deep and the last page."""
    from reviewapp.requestlog.browse import Cursor
    from reviewapp.requestlog.models import Request

    def row_at(fraction: float) -> Request:
        # An OFFSET here is fine: it only finds a row for the benchmark, once.
        return Request.objects.filter(app=app).order_by("-created_at", "-request_id")[int(size * fraction)]

    def minute(when) -> str:
        return when.strftime("%Y-%m-%dT%H:%M")

    middle = row_at(0.5)
    deep, last = Cursor.of(middle).encode(), Cursor.of(row_at(1 - 60 / size)).encode()
    hour, day = timedelta(hours=1), timedelta(days=1)
    # An hour of the log's middle; a day ending at the deep page's row.
    an_hour = {"since": minute(middle.created_at - hour), "until": minute(middle.created_at)}
    a_day = {"since": minute(middle.created_at - day), "until": minute(middle.created_at)}
    # The baseline is the log's second day: every document but the few new ones is in it.
    baseline = {"novel_since": "2026-01-02T00:00", "novel_until": "2026-01-03T00:00"}
    return [
        ("first page", {}),
        ("deep page (50 %) by cursor", {"after": deep}),
        ("last page by cursor", {"after": last}),
        ("previous page from deep", {"before": deep}),
        ("time range (one hour)", an_hour),
        ("since (an hour before), deep page", {"since": an_hour["since"], "after": deep}),
        ("source=import", {"source": "import"}),
        ("status=error", {"status": "error"}),
        ("status=incomplete", {"status": "incomplete"}),
        ("app_version=2", {"app_version": "2"}),
        ("version=2, source=rest_api", {"version": "2", "source": "rest_api"}),
        ("feedback=yes", {"feedback": "yes"}),
        ("feedback=yes, deep page", {"feedback": "yes", "after": deep}),
        ("feedback=yes, last page", {"feedback": "yes", "after": last}),
        ("feedback=no", {"feedback": "no"}),
        ("rating=positive", {"rating": "positive"}),
        ("rating=negative", {"rating": "negative"}),
        ("rating=negative, deep page", {"rating": "negative", "after": deep}),
        ("rating=negative, last page", {"rating": "negative", "after": last}),
        ("rating=negative, previous page", {"rating": "negative", "before": deep}),
        ("rating=negative, version=2", {"rating": "negative", "app_version": "2"}),
        ("rating=negative, time range (a day)", {"rating": "negative", **a_day}),
        ("rating=negative, time range (an hour)", {"rating": "negative", **an_hour}),
        ("text: common word", {"q": "revoke"}),
        ("text: rare word", {"q": "zanzibar"}),
        ("rating=negative + text", {"rating": "negative", "q": "token"}),
        ("verdict=positive", {"verdict": "positive"}),
        ("verdict=negative", {"verdict": "negative"}),
        ("verdict=mixed", {"verdict": "mixed"}),
        ("verdict=mixed, deep page", {"verdict": "mixed", "after": deep}),
        ("verdict=rated", {"verdict": "rated"}),
        ("verdict=unrated", {"verdict": "unrated"}),
        ("unversioned=yes", {"unversioned": "yes"}),
        ("unversioned=no", {"unversioned": "no"}),
        ("corrected=yes", {"corrected": "yes"}),
        ("corrected=no", {"corrected": "no"}),
        ("missing_source=yes", {"missing_source": "yes"}),
        ("missing_source=no", {"missing_source": "no"}),
        ("retrieval=rated", {"retrieval": "rated"}),
        ("retrieval=hit", {"retrieval": "hit"}),
        ("retrieval=miss", {"retrieval": "miss"}),
        ("reason (common)", {"reason": "Wrong answer"}),
        ("reason (rare)", {"reason": RARE_REASON}),
        ("reason (rare), deep page", {"reason": RARE_REASON, "after": deep}),
        ("reviewer (on every review)", {"reviewer": "bench-manager@example.com"}),
        ("reviewer (rare)", {"reviewer": rare_reviewer}),
        ("reviewer (rare), deep page", {"reviewer": rare_reviewer, "after": deep}),
        ("retrieved=yes", {"retrieved": "yes"}),
        ("retrieved=no", {"retrieved": "no"}),
        ("timed=yes", {"timed": "yes"}),
        ("timed=no", {"timed": "no"}),
        ("doc_uri", {"doc_uri": COMMON_DOC}),
        ("doc_uri, deep page", {"doc_uri": COMMON_DOC, "after": deep}),
        ("novel since/until", baseline),
        ("judge", {"judge": JUDGE}),
        ("judge said fail", {"judge": JUDGE, "judge_said": "fail"}),
        ("judge said error, deep page", {"judge": JUDGE, "judge_said": "error", "after": deep}),
    ]


RARE_REVIEWER = "bench-rare-reviewer@example.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="table sizes to measure at, ascending")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="measure the database a previous run seeded")
    parser.add_argument("--only", default="", help="comma-separated words: only cases whose name has one")
    parser.add_argument("--explain", action="store_true", help="print each case's plan (EXPLAIN ANALYZE)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = [word for word in args.only.split(",") if word]
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not args.reuse:
        recreate_database(url)
    setup_django(url)

    from django.test import Client

    from reviewapp.accounts.models import User
    from reviewapp.catalog.models import App, Level
    from reviewapp.requestlog.models import Request
    from tests import factories

    if args.reuse:
        app, manager = App.objects.get(slug="bench-app"), User.objects.get(email="bench-manager@example.com")
        sizes = [Request.objects.filter(app=app).count()]
    else:
        app = factories.make_app("bench-app", name="Bench app")
        other = factories.make_app("bench-other", name="Other app")
        manager = factories.make_user("bench-manager@example.com")
        rare = factories.make_user(RARE_REVIEWER)
        factories.grant(app, manager, Level.CAN_MANAGE)
        make_judge(app, manager)
        seed_requests(other, 10_000_000, 10_050_000)  # another app's rows share the table
    client = Client()
    client.force_login(manager)

    results: dict[str, dict[int, tuple]] = {}
    seeded = 0
    for size in sizes:
        if not args.reuse:
            started = time.perf_counter()
            seed_requests(app, seeded, size)
            seed_documents(app, seeded, size)
            seed_feedback(app, manager, rare, seeded, size)
            seed_judged(app, seeded, size)
            analyze()
            print(
                f"seeded {size:,} rows of the app in {time.perf_counter() - started:.1f} s", file=sys.stderr
            )
            seeded = size
        base = f"/apps/{app.slug}/requests/"
        for name, params in cases(app, size, RARE_REVIEWER):
            if only and not any(word in name for word in only):
                continue
            results.setdefault(name, {})[size] = measure(
                client, f"{base}?{urlencode(params)}", args.runs, args.explain
            )

    head = f"{'page':32}" + "".join(f"| {f'{s:,} rows':>49} " for s in sizes)
    print(head)
    print(f"{'':32}" + "".join(f"| {'median / p95 ms (SQL; CPU+SQL) · queries · shown':>49} " for _ in sizes))
    print("-" * len(head))
    worst_ms, worst_q = 0.0, 0
    for name, by_size in results.items():
        cells = []
        for size in sizes:
            median, p95, sql, cpu_sql, queries, status, shown = by_size[size]
            worst_ms, worst_q = max(worst_ms, median), max(worst_q, queries)
            flag = "" if status == 200 else f" HTTP {status}"
            cells.append(
                f"| {median:7.1f} / {p95:6.1f} ({sql:5.1f}; {cpu_sql:5.1f}) · {queries:2d} · {shown:2d}{flag:>5} "
            )
        print(f"{name:32}" + "".join(cells))
    load = os.getloadavg()[0]
    print(f"\nworst median {worst_ms:.1f} ms (target ≤ 100), most queries {worst_q} (target ≤ 10)")
    print(
        f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs (wall times include waiting for a CPU)"
    )


if __name__ == "__main__":
    main()
