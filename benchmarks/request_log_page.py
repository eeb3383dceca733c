"""Request-log page time at up to 1,000,000 rows on PostgreSQL (a script printing a table).

    .venv/bin/python benchmarks/request_log_page.py [--sizes 100000,1000000] [--runs 15]

Seeds a scratch database (BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/reviewapp_bench_requestlog, dropped and created) with
INSERT … SELECT generate_series, 1 % of the rows with feedback, then for each size measures
GET /apps/<slug>/requests/ through the whole Django stack (middleware, session, permission
check, query, template) in this process: median and p95 server time and the SQL query count,
for the first page, a deep page reached by cursor, the last page, and filters.
Target (issue 5): ≤ 150 ms, ≤ 10 queries, constant in the table size.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
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


def seed_requests(app, start: int, stop: int) -> None:
    """Rows start..stop-1 of `app`: one per second from 2026-01-01, newest = highest number."""

    from reviewapp.requestlog.models import Request

    seeded = {
        "request_id": "md5('r' || i)::uuid",
        "app_id": "%s",
        "app_version": "(1 + i %% 3)::text",
        "conversation_id": "'conv-' || (i / 4)",
        "source": "(ARRAY['review_app','rest_api','import'])[1 + i %% 3]",
        "created_at": "timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'",
        "messages": "jsonb_build_array(jsonb_build_object('role','user','content',"
        "'How do I ' || (ARRAY['rotate','revoke','create','list','renew'])[1 + i %% 5] || ' token number ' || i || '?'))",
        "response": "'To do that, open Settings, then API tokens (answer ' || i || ').'"
        " || CASE WHEN i %% 50000 = 7 THEN ' Mention the zanzibar clause.' ELSE '' END",
        "status": "CASE WHEN i %% 97 = 0 THEN 'error' ELSE 'ok' END",
        "latency_ms": "50 + i %% 400",
        "request_tokens": "10 + i %% 20",
        "response_tokens": "20 + i %% 40",
        "total_tokens": "30 + i %% 60",
    }
    _insert_series(Request, seeded, [app.pk], start, stop)


def seed_feedback(app, reviewer, start: int, stop: int) -> None:
    """Feedback on 1 % of the rows (every 100th), a third of it negative."""

    from reviewapp.feedback.models import Assessment

    seeded = {
        "assessment_id": "md5('a' || i)::uuid",
        "request_id": "md5('r' || i)::uuid",
        "app_id": "%s",
        "reviewer_id": "%s",
        "source_id": "%s",
        "created_at": "timestamptz '2026-06-01 00:00:00+00' + i * interval '1 second'",
        "rating": "CASE WHEN i %% 300 = 0 THEN 'negative' ELSE 'positive' END",
    }
    params = [app.pk, reviewer.pk, reviewer.email]
    _insert_series(Assessment, seeded, params, start, stop, where="WHERE i %% 100 = 0")


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE requestlog_request")
        cursor.execute("VACUUM ANALYZE feedback_assessment")


def measure(client, url: str, runs: int) -> tuple[float, float, float, float, int, int]:
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
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    # On a busy machine wall time includes waiting for a CPU; Django's CPU time + SQL time does not.
    cpu_plus_sql = statistics.median(c + q for c, q in zip(cpu_times, sql_times, strict=True))
    return statistics.median(times), p95, statistics.median(sql_times), cpu_plus_sql, queries, status


def cases(app, size: int) -> list[tuple[str, dict]]:
    from reviewapp.requestlog.browse import Cursor
    from reviewapp.requestlog.models import Request

    def cursor_at(fraction: float) -> str:
        # An OFFSET here is fine: it only finds a cursor for the benchmark, once.
        row = Request.objects.filter(app=app).order_by("-created_at", "-request_id")[int(size * fraction)]
        return Cursor.of(row).encode()

    return [
        ("first page", {}),
        ("deep page (50 %) by cursor", {"after": cursor_at(0.5)}),
        ("last page by cursor", {"after": cursor_at(1 - 60 / size)}),
        ("previous page from deep", {"before": cursor_at(0.5)}),
        ("source=import", {"source": "import"}),
        ("version=2, source=rest_api", {"version": "2", "source": "rest_api"}),
        ("time range (one day)", {"since": "2026-01-05T00:00", "until": "2026-01-06T00:00"}),
        ("has feedback", {"feedback": "yes"}),
        ("rating=negative", {"rating": "negative"}),
        ("text: common word", {"q": "revoke"}),
        ("text: rare word", {"q": "zanzibar"}),
        ("rating=negative + text", {"rating": "negative", "q": "token"}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="table sizes to measure at, ascending")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="measure the database a previous run seeded")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
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
        factories.grant(app, manager, Level.CAN_MANAGE)
        seed_requests(other, 10_000_000, 10_050_000)  # another app's rows share the table
    client = Client()
    client.force_login(manager)

    results: dict[str, dict[int, tuple]] = {}
    seeded = 0
    for size in sizes:
        if not args.reuse:
            started = time.perf_counter()
            seed_requests(app, seeded, size)
            seed_feedback(app, manager, seeded, size)
            analyze()
            print(
                f"seeded {size:,} rows of the app in {time.perf_counter() - started:.1f} s", file=sys.stderr
            )
            seeded = size
        base = f"/apps/{app.slug}/requests/"
        for name, params in cases(app, size):
            results.setdefault(name, {})[size] = measure(client, f"{base}?{urlencode(params)}", args.runs)

    head = f"{'page':32}" + "".join(f"| {f'{s:,} rows':>44} " for s in sizes)
    print(head)
    print(f"{'':32}" + "".join(f"| {'median / p95 ms (SQL; CPU+SQL) · queries':>44} " for _ in sizes))
    print("-" * len(head))
    worst_ms, worst_q = 0.0, 0
    for name, by_size in results.items():
        cells = []
        for size in sizes:
            median, p95, sql, cpu_sql, queries, status = by_size[size]
            worst_ms, worst_q = max(worst_ms, median), max(worst_q, queries)
            flag = "" if status == 200 else f" HTTP {status}"
            cells.append(
                f"| {median:7.1f} / {p95:6.1f} ({sql:5.1f}; {cpu_sql:5.1f}) · {queries:2d}{flag:>5} "
            )
        print(f"{name:32}" + "".join(cells))
    load = os.getloadavg()[0]
    print(f"\nworst median {worst_ms:.1f} ms (target ≤ 150), most queries {worst_q} (target ≤ 10)")
    print(
        f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs (wall times include waiting for a CPU)"
    )


if __name__ == "__main__":
    main()
