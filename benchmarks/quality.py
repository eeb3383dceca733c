"""Quality over time at 1,000,000 requests: the dashboard, the quality API, quality() and the
request log's feedback filters (a script printing a table).

    .venv/bin/python benchmarks/quality.py [--requests 1000000] [--runs 5] [--refill]
                                           [--only TEXT] [--explain] [--fill-only]

The database: PostgreSQL when BENCH_DATABASE_URL or DATABASE_URL is set, else the embedded SQLite
default in its own folder (BENCH_VAR_DIR, default var/bench-quality/). It is filled once and kept:
a later run measures the same fill (a marker table, bench_quality_fill, says a fill finished and
its size); --refill drops it and fills it again. A database holding other apps is never touched.

The fill, for one app over the 90 days before the fill: N requests (three versions, 1 → 2 → 3
with overlaps, three sources, some errors), about N assessments by twelve reviewers (thumbs,
reasons, chunk ratings, corrections, missing sources; some reviewers changed their mind, so
the log holds superseded rows too), each reviewed request's RequestFeedback summary,
FeedbackReason and FeedbackReviewer rows, and a RetrievedDocument row per distinct document a request retrieved
(about three, a few thousand documents, some only in the last three weeks: drift). A second
app holds 10 % as many rows in the same tables. The assessments and the summaries come from the
same random draws; a check recomputes 100 summaries through feedback.summary.summarize from the
stored log and compares them (with their reasons, reviewers and documents), on every run. Rows go in by COPY (PostgreSQL) or executemany (SQLite),
with the tables' secondary indexes dropped during the load and built again afterwards.

Then, in this process through Django's test client (the whole stack) and CaptureQueriesContext,
after a warm-up, the median / min / max of --runs calls and their SQL query count for: the
dashboard page (30 days by day, 90 days by day, versions 2 vs 3 over 30 days, 60 days by day,
30 days by hour), the quality API
and quality() alone over the same windows (each with the dashboard's default drift baseline, the
30 days before), and the request log, page and API, filtered by rating=negative and
verdict=positive. Windows end where the fill ends (the hour it was made), so a kept fill measures
the same rows. --explain prints EXPLAIN ANALYZE of each case's slowest statements.
Targets (issue 13): dashboard and API ≤ 1 s server time, ≤ 15 SQL queries on PostgreSQL;
the request log keeps its own (issue 5: ≤ 150 ms, ≤ 10 queries).
"""

import argparse
import bisect
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _scratch  # noqa: E402,F401 - a throwaway SECRET_KEY for this run

SLUG, OTHER_SLUG = "bench-quality", "bench-quality-other"
MANAGER = "bench-manager@example.com"
REVIEWERS = [f"bench-reviewer-{n}@example.com" for n in range(1, 13)]
MARKER = "bench_quality_fill"
DAYS = 90
BATCH = 20_000  # requests generated and written at a time

# Which version answered, by day of the 90: 1 alone, a canary of 2, 2 alone, an A/B of 2 and 3, 3
# with a fifth of the traffic still on 2 (so the last 30 days compare 2 and 3).
VERSION_DAYS = [(30, "1", 1.0), (40, "1", 0.5), (60, "2", 1.0), (70, "2", 0.5), (DAYS, "2", 0.2)]
NEXT_VERSION = {"1": "2", "2": "3"}
P_UP = {"1": 0.62, "2": 0.70, "3": 0.74}  # a reviewer's thumbs up when they agree with the latent
P_RELEVANT = {"1": 0.55, "2": 0.62, "3": 0.66}
P_AGREE = 0.85  # a reviewer agrees with the request's latent verdict / a passage's relevance
P_NO_RATING = 0.05  # a comment without a thumbs up or down
P_SUPERSEDED = 0.12  # the reviewer wrote an earlier row, then changed their mind
P_CHUNK_RATINGS = 0.35
P_MISSING_SOURCE = 0.04
REVIEWERS_PER_REQUEST = ([1, 2, 3], [0.65, 0.28, 0.07])
SOURCES = (["rest_api", "review_app", "import"], [0.75, 0.15, 0.10])
REASONS = [
    "inaccurate",
    "incomplete",
    "not grounded in the sources",
    "irrelevant",
    "harmful or unsafe",
    "badly formatted",
]
REASON_WEIGHTS = [30, 25, 20, 15, 2, 8]
DOCS = [f"docs://kb/{n:04d}" for n in range(3000)]
NEW_DOCS = [f"docs://kb/new-{n:03d}" for n in range(400)]
NEW_DOCS_FROM_DAY = 69  # the last three weeks
P_NEW_DOC = 0.08  # per retrieved slot, once the new documents exist


def cumulative(weights) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


DOC_WEIGHTS = cumulative(1 / (r + 10) for r in range(len(DOCS)))  # a long tail, a few popular
NEW_DOC_WEIGHTS = cumulative(1 / (r + 5) for r in range(len(NEW_DOCS)))


def pick(rng: random.Random, items, cum: list[float]):
    return items[bisect.bisect_left(cum, rng.random() * cum[-1])]


# ----------------------------------------------------------------------------------------------
# Django and the database


def setup_django() -> str:
    """Settings for the run (PostgreSQL by BENCH_DATABASE_URL or DATABASE_URL, else the embedded
    SQLite file in its own folder); returns a description of the database."""
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    if not os.environ.get("DATABASE_URL"):
        os.environ["VAR_DIR"] = os.environ.get("BENCH_VAR_DIR") or str(ROOT / "var" / "bench-quality")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    # Pages are rendered as in production (DEBUG off): hashed static files need a manifest.
    os.environ.setdefault("STATIC_ROOT", tempfile.mkdtemp(prefix="reviewapp-bench-static-"))
    import django

    django.setup()
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"PostgreSQL {settings['NAME']} on {settings['HOST'] or 'localhost'}"
    return f"SQLite {settings['NAME']}"


def tables() -> set[str]:
    from django.db import connection

    return set(connection.introspection.table_names())


def existing_fill() -> dict | None:
    """The marker a finished fill wrote, or None."""
    from django.db import connection

    if MARKER not in tables():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT requests, assessments, other_requests, seed, ends_at, seconds FROM {MARKER}")
        row = cursor.fetchone()
    if row is None:
        return None
    keys = ("requests", "assessments", "other_requests", "seed", "ends_at", "seconds")
    fill = dict(zip(keys, row, strict=True))
    fill["ends_at"] = datetime.fromisoformat(fill["ends_at"])
    return fill


def refuse_unless_scratch() -> None:
    """Stop before dropping a database that holds anything but this script's rows."""
    from django.db import connection

    if MARKER in tables() or "catalog_app" not in tables():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT slug FROM catalog_app")
        slugs = {slug for (slug,) in cursor.fetchall()}
    if slugs - {SLUG, OTHER_SLUG}:
        raise SystemExit(
            f"{connection.settings_dict['NAME']} holds other apps ({', '.join(sorted(slugs)[:5])}): "
            "not a benchmark database; point DATABASE_URL at a scratch database"
        )


def empty_database() -> None:
    """Drop the benchmark database (PostgreSQL) or delete its file (SQLite): a fresh fill."""
    from django.db import connection, connections

    refuse_unless_scratch()
    settings = dict(connection.settings_dict)
    connections.close_all()
    if connection.vendor == "postgresql":
        _scratch.recreate_database(os.environ["DATABASE_URL"])
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings['NAME']}{suffix}").unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------
# The rows


@dataclass
class Batch:
    requests: list = field(default_factory=list)
    assessments: list = field(default_factory=list)
    summaries: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    reviewers: list = field(default_factory=list)
    documents: list = field(default_factory=list)


# Columns each table gets from the generator, in the order its rows hold them. Every other column
# of the model gets its default (one value for all rows), so columns added later still load.
COLUMNS = {
    "requests": (
        "requestlog.Request",
        [
            "request_id",
            "app_id",
            "app_version",
            "conversation_id",
            "source",
            "created_at",
            "messages",
            "response",
            "status",
            "error",
            "chunks",
            "latency_ms",
            "request_tokens",
            "response_tokens",
            "total_tokens",
            "documents",
        ],
    ),
    "assessments": (
        "feedback.Assessment",
        [
            "assessment_id",
            "request_id",
            "app_id",
            "reviewer_id",
            "source_id",
            "created_at",
            "rating",
            "reasons",
            "other_reason",
            "comment",
            "corrected_response",
            "retrieval_assessments",
            "missing_sources",
            "app_version",
        ],
    ),
    "summaries": (
        "feedback.RequestFeedback",
        [
            "request_id",
            "app_id",
            "app_version",
            "source",
            "request_created_at",
            "reviewers",
            "up",
            "down",
            "verdict",
            "corrections",
            "missing_sources",
            "passages_rated",
            "passages_relevant",
            "first_relevant_rank",
            "rated_at_1",
            "relevant_at_1",
            "rated_at_3",
            "relevant_at_3",
            "rated_at_5",
            "relevant_at_5",
            "updated_at",
        ],
    ),
    "reasons": (
        "feedback.FeedbackReason",
        ["request_id", "reason", "votes", "app_id", "app_version", "request_created_at"],
    ),
    "reviewers": (
        "feedback.FeedbackReviewer",
        ["request_id", "reviewer_id", "app_id", "app_version", "request_created_at"],
    ),
    "documents": (
        "requestlog.RetrievedDocument",
        ["request_id", "app_id", "app_version", "created_at", "doc_uri"],
    ),
}
PRECISION_AT = (1, 3, 5)


@dataclass
class Plan:
    app_id: int
    requests: int
    assessments: int
    seed: int
    ends_at: datetime
    reviewers: list[tuple[int, str]]  # (user id, email)


def version_on(day: float, u: float) -> str:
    for until, version, share in VERSION_DAYS:
        if day < until:
            return version if u < share else NEXT_VERSION[version]
    return VERSION_DAYS[-1][1]


def summary_of(request: tuple, effective: list[dict], updated_at: datetime) -> tuple[tuple, Counter]:
    """The summary row and reasons of a request from its effective assessments' draws: the rules of
    feedback.summary.summarize for requests whose passages are their chunks in order (distinct
    documents, no spans), so a passage's rank is its position + 1."""
    request_id, app_id, version, source, created_at = request
    up = sum(a["rating"] == "positive" for a in effective)
    down = sum(a["rating"] == "negative" for a in effective)
    reasons: Counter = Counter()
    votes: dict[int, list[int]] = {}
    for a in effective:
        if a["rating"] == "negative":
            reasons.update(set(a["reasons"]))
        for item in a["retrieval"]:
            tally = votes.setdefault(item["position"] + 1, [0, 0])
            tally[0 if item["rating"] == "relevant" else 1] += 1
    relevant = sorted(rank for rank, (yes, no) in votes.items() if yes > no)
    verdict = "mixed" if up and down else "positive" if up else "negative" if down else ""
    at_k = []
    for k in PRECISION_AT:
        at_k += [sum(rank <= k for rank in votes), sum(rank <= k for rank in relevant)]
    row = (
        request_id,
        app_id,
        version,
        source,
        created_at,
        len(effective),
        up,
        down,
        verdict,
        sum(bool(a["corrected"]) for a in effective),
        sum(bool(a["missing"]) for a in effective),
        len(votes),
        len(relevant),
        relevant[0] if relevant else None,
        *at_k,
        updated_at,
    )
    return row, reasons


def generate(plan: Plan):
    """Batches of rows for `plan`, from one seeded random stream."""
    rng = random.Random(plan.seed)
    starts_at = plan.ends_at - timedelta(days=DAYS)
    span = (plan.ends_at - starts_at).total_seconds()
    per_reviewed = sum(n * w for n, w in zip(*REVIEWERS_PER_REQUEST, strict=True)) * (1 + P_SUPERSEDED)
    p_reviewed = min(1.0, plan.assessments / plan.requests / per_reviewed)
    batch = Batch()
    for i in range(plan.requests):
        offset = (i + rng.random()) * span / plan.requests
        created_at = starts_at + timedelta(seconds=offset)
        day = offset / 86400
        version = version_on(day, rng.random())
        source = rng.choices(*SOURCES)[0]
        u = rng.random()
        status = "error" if u < 0.01 else "incomplete" if u < 0.015 else "ok"
        request_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        docs: list[str] = []
        wanted = 3 if (u := rng.random()) < 0.8 else 2 if u < 0.9 else 4
        while len(docs) < wanted:
            if day >= NEW_DOCS_FROM_DAY and rng.random() < P_NEW_DOC:
                doc = pick(rng, NEW_DOCS, NEW_DOC_WEIGHTS)
            else:
                doc = pick(rng, DOCS, DOC_WEIGHTS)
            if doc not in docs:
                docs.append(doc)
        chunks = [{"position": p, "doc_uri": d, "content": f"Passage of {d}."} for p, d in enumerate(docs)]
        request_tokens = rng.randint(200, 1500)
        response_tokens = None if status == "error" else rng.randint(50, 600)
        batch.requests.append(
            (
                request_id,
                plan.app_id,
                version,
                f"conv-{plan.seed}-{i // 3}",
                source,
                created_at,
                json.dumps([{"role": "user", "content": f"Question {i} about tokens"}]),
                "" if status == "error" else f"Answer {i}: open Settings, then API tokens.",
                status,
                "chain timed out" if status == "error" else "",
                json.dumps(chunks),
                int(rng.lognormvariate(6.4, 0.5)),
                request_tokens,
                response_tokens,
                None if response_tokens is None else request_tokens + response_tokens,
                len(docs),
            )
        )
        batch.documents += [(request_id, plan.app_id, version, created_at, d) for d in docs]
        if rng.random() < p_reviewed:
            effective = review(rng, plan, batch, request_id, version, created_at, docs)
            row, reasons = summary_of(
                (request_id, plan.app_id, version, source, created_at), effective, plan.ends_at
            )
            batch.summaries.append(row)
            batch.reasons += [
                (request_id, reason, n, plan.app_id, version, created_at) for reason, n in reasons.items()
            ]
            batch.reviewers += [
                (request_id, a["reviewer_id"], plan.app_id, version, created_at) for a in effective
            ]
        if len(batch.requests) >= BATCH:
            yield batch
            batch = Batch()
    if batch.requests:
        yield batch


def review(rng, plan: Plan, batch: Batch, request_id, version, created_at, docs) -> list[dict]:
    """The assessments of one request (appended to the batch); returns the effective ones' draws."""
    good = rng.random() < P_UP[version]
    relevant = [rng.random() < P_RELEVANT[version] for _ in docs]
    effective = []
    count = rng.choices(*REVIEWERS_PER_REQUEST)[0]
    for reviewer_id, email in rng.sample(plan.reviewers, count):
        draw = draw_assessment(rng, good, relevant, docs)
        latest = min(plan.ends_at, created_at + timedelta(minutes=rng.uniform(5, 3 * 24 * 60)))
        if rng.random() < P_SUPERSEDED:
            # An earlier opinion, the other way, replaced by the one drawn above.
            earlier = draw_assessment(rng, not good, [], docs)
            when = created_at + (latest - created_at) * rng.uniform(0.1, 0.9)
            batch.assessments.append(
                assessment_row(rng, plan, request_id, version, reviewer_id, email, when, earlier)
            )
        batch.assessments.append(
            assessment_row(rng, plan, request_id, version, reviewer_id, email, latest, draw)
        )
        effective.append({**draw, "reviewer_id": reviewer_id})
    return effective


def draw_assessment(rng, good: bool, relevant: list[bool], docs: list[str]) -> dict:
    if rng.random() < P_NO_RATING:
        rating = ""
    else:
        agrees = rng.random() < P_AGREE
        rating = "positive" if good == agrees else "negative"
    reasons, other = [], ""
    if rating == "negative":
        reasons = list(dict.fromkeys(rng.choices(REASONS, REASON_WEIGHTS, k=rng.choice((1, 1, 2)))))
        if rng.random() < 0.05:
            reasons.append("other")
            other = "It answered another product's question."
    corrected = None
    if rng.random() < (0.15 if rating == "negative" else 0.02):
        corrected = "Open Settings, then API tokens, and press Rotate."
    retrieval = []
    if relevant and rng.random() < P_CHUNK_RATINGS:
        for position in range(rng.randint(1, len(docs))):
            says = relevant[position] if rng.random() < P_AGREE else not relevant[position]
            retrieval.append(
                {
                    "position": position,
                    "doc_uri": docs[position],
                    "rating": "relevant" if says else "not_relevant",
                    "comment": "",
                }
            )
    missing = []
    if rng.random() < P_MISSING_SOURCE:
        missing = [{"doc_uri": "docs://kb/missing-rotation-faq", "content": "Rotation FAQ."}]
    return {
        "rating": rating,
        "reasons": reasons,
        "other": other,
        "corrected": corrected,
        "retrieval": retrieval,
        "missing": missing,
        "comment": "Checked against the docs." if rng.random() < 0.2 else "",
    }


def assessment_row(rng, plan: Plan, request_id, version, reviewer_id, email, when, draw) -> tuple:
    return (
        uuid.UUID(int=rng.getrandbits(128), version=4),
        request_id,
        plan.app_id,
        reviewer_id,
        email,
        when,
        draw["rating"],
        json.dumps(draw["reasons"]),
        draw["other"],
        draw["comment"],
        draw["corrected"],
        json.dumps(draw["retrieval"]),
        json.dumps(draw["missing"]),
        version,
    )


# ----------------------------------------------------------------------------------------------
# Writing


class Loader:
    """Bulk loading into the model tables: secondary indexes dropped first and built again after."""

    def __init__(self):
        from django.apps import apps
        from django.db import connection

        self.connection = connection
        self.tables = {}
        for name, (label, columns) in COLUMNS.items():
            model = apps.get_model(label)
            by_column = {f.column: f for f in model._meta.concrete_fields}
            unknown = set(columns) - set(by_column)
            if unknown:
                raise SystemExit(f"{label} has no column {', '.join(sorted(unknown))}: update COLUMNS")
            rest = [
                f
                for f in model._meta.concrete_fields
                if f.column not in columns and not (f.primary_key and f.column == "id")
            ]
            defaults = tuple(
                f.get_db_prep_save(None if f.null else f.get_default(), connection) for f in rest
            )
            fields = [by_column[c] for c in columns]
            self.tables[name] = (
                model._meta.db_table,
                [*columns, *(f.column for f in rest)],
                fields,
                defaults,
            )
        self.indexes: list[str] = []

    def __enter__(self):
        for table, *_ in self.tables.values():
            self.indexes += self.drop_indexes(table)
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            started = time.perf_counter()
            with self.connection.cursor() as cursor:
                for sql in self.indexes:
                    cursor.execute(sql)
            print(f"  indexes built in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    def write(self, batch: Batch) -> None:
        for name, (table, columns, fields, defaults) in self.tables.items():
            rows = getattr(batch, name)
            if rows:
                self.insert(table, columns, fields, rows, defaults)


class PostgresLoader(Loader):
    def __enter__(self):
        from django.db import DatabaseError

        with self.connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            cursor.execute("SET synchronous_commit = off")
            # Foreign keys are not checked row by row while loading (superuser only; skipped otherwise).
            with contextlib.suppress(DatabaseError):
                cursor.execute("SET session_replication_role = replica")
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        with self.connection.cursor() as cursor:
            cursor.execute("RESET session_replication_role")

    def drop_indexes(self, table: str) -> list[str]:
        """Drop `table`'s indexes and unique constraints except its primary key; the SQL to rebuild them."""
        rebuild = []
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'u'",
                [table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
                rebuild.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
                [table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f'DROP INDEX "{name}"')
                rebuild.append(definition)
        return rebuild

    def insert(self, table, columns, fields, rows, defaults) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with (
            self.connection.cursor() as cursor,
            cursor.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row(row + defaults)

    def analyze(self) -> None:
        with self.connection.cursor() as cursor:
            for table, *_ in self.tables.values():
                cursor.execute(f'VACUUM ANALYZE "{table}"')


class SqliteLoader(Loader):
    def __enter__(self):
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute("PRAGMA synchronous = OFF")
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys = ON")

    def drop_indexes(self, table: str) -> list[str]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                [table],
            )
            found = cursor.fetchall()
            for name, _ in found:
                cursor.execute(f'DROP INDEX "{name}"')
        return [sql for _, sql in found]

    def insert(self, table, columns, fields, rows, defaults) -> None:
        from django.db import transaction

        ops = self.connection.ops
        convert = []
        for f in fields:
            kind = (f.target_field if f.is_relation else f).get_internal_type()
            if kind == "UUIDField":
                convert.append(lambda v: v.hex)
            elif kind == "DateTimeField":
                convert.append(ops.adapt_datetimefield_value)
            else:
                convert.append(None)
        plan = list(enumerate(convert))
        converted = []
        for row in rows:
            values = list(row)
            for i, fn in plan:
                if fn is not None and values[i] is not None:
                    values[i] = fn(values[i])
            converted.append((*values, *defaults))
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        with transaction.atomic(), self.connection.cursor() as cursor:
            cursor.cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', converted)

    def analyze(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def fill(requests: int, assessments: int, seed: int) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from reviewapp.accounts.models import User
    from reviewapp.catalog.models import App, Grant, Level

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    ends_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    app = App.objects.create(slug=SLUG, name="Bench quality", version="3")
    other = App.objects.create(slug=OTHER_SLUG, name="Bench quality (other app)", version="3")
    manager = User.objects.create_user(MANAGER, "bench-pw")
    Grant.objects.create(app=app, user=manager, level=Level.CAN_MANAGE)
    reviewers = []
    for email in REVIEWERS:
        user = User.objects.create_user(email, "bench-pw")
        Grant.objects.create(app=app, user=user, level=Level.CAN_QUERY)
        Grant.objects.create(app=other, user=user, level=Level.CAN_QUERY)
        reviewers.append((user.pk, email))
    plans = [
        Plan(app.pk, requests, assessments, seed, ends_at, reviewers),
        Plan(other.pk, requests // 10, assessments // 10, seed + 1, ends_at, reviewers),
    ]
    loader = (PostgresLoader if connection.vendor == "postgresql" else SqliteLoader)()
    counts: Counter = Counter()
    with loader:
        for plan in plans:
            for batch in generate(plan):
                loader.write(batch)
                counts.update({name: len(getattr(batch, name)) for name in COLUMNS})
                if plan.app_id == app.pk:
                    counts["app assessments"] += len(batch.assessments)
                done = counts["requests"]
                if done % 200_000 < BATCH:
                    print(
                        f"  {done:,} requests written ({time.perf_counter() - started:.0f} s)",
                        file=sys.stderr,
                    )
    with connection.cursor() as cursor:
        # Each app's list of documents, as the writers of documents keep it (AppDocument).
        cursor.execute(
            "INSERT INTO requestlog_appdocument (app_id, doc_uri, first_seen) "
            "SELECT app_id, doc_uri, MIN(created_at) FROM requestlog_retrieveddocument GROUP BY app_id, doc_uri"
        )
    loader.analyze()
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {MARKER} (requests integer, assessments integer, other_requests integer, "
            "seed integer, ends_at varchar(40), seconds real)"
        )
        cursor.execute(
            f"INSERT INTO {MARKER} VALUES (%s, %s, %s, %s, %s, %s)",
            [requests, counts["app assessments"], requests // 10, seed, ends_at.isoformat(), seconds],
        )
    print(
        "filled in {:.0f} s: {}".format(
            seconds, ", ".join(f"{n:,} {name}" for name, n in counts.items() if name != "app assessments")
        ),
        file=sys.stderr,
    )
    return existing_fill()


def check(app, samples: int = 100) -> None:
    """Recompute `samples` summaries from the stored log through feedback.summary.summarize; compare."""
    from reviewapp.feedback import summary
    from reviewapp.feedback.models import Assessment, FeedbackReason, FeedbackReviewer, RequestFeedback
    from reviewapp.requestlog.models import Request, RetrievedDocument, retrieved_documents

    stored = list(RequestFeedback.objects.filter(app=app).order_by("?")[:samples])
    compared = [f.attname for f in RequestFeedback._meta.concrete_fields if f.name != "updated_at"]
    problems = []
    for row in stored:
        request = Request.objects.get(pk=row.request_id)
        effective = list(Assessment.objects.filter(request=request).latest_per_reviewer())
        fresh, reasons = summary.summarize(request, effective, app.context_span)
        for name in compared:
            if name not in fresh or getattr(row, name) != fresh[name]:
                problems.append(
                    f"{row.request_id} {name}: stored {getattr(row, name)!r}, summarize {fresh.get(name)!r}"
                )
        kept = dict(FeedbackReason.objects.filter(request_id=row.request_id).values_list("reason", "votes"))
        if kept != dict(reasons):
            problems.append(f"{row.request_id} reasons: stored {kept}, summarize {dict(reasons)}")
        listed = set(
            FeedbackReviewer.objects.filter(request_id=row.request_id).values_list(
                "reviewer_id", "app_id", "app_version", "request_created_at"
            )
        )
        if listed != {(a.reviewer_id, app.pk, request.app_version, request.created_at) for a in effective}:
            problems.append(f"{row.request_id} reviewers: stored {listed}")
        docs = set(
            RetrievedDocument.objects.filter(request_id=row.request_id).values_list("doc_uri", flat=True)
        )
        if docs != {d.doc_uri for d in retrieved_documents(request)}:
            problems.append(f"{row.request_id} retrieved documents differ")
    reviewed = Assessment.objects.filter(app=app).values("request_id").distinct().count()
    summarized = RequestFeedback.objects.filter(app=app).count()
    if reviewed != summarized:
        problems.append(f"{reviewed:,} requests with assessments but {summarized:,} summaries")
    pairs = Assessment.objects.filter(app=app).values("request_id", "reviewer_id").distinct().count()
    listed = FeedbackReviewer.objects.filter(app=app).count()
    if pairs != listed:
        problems.append(f"{pairs:,} (request, reviewer) pairs with assessments but {listed:,} reviewer rows")
    if problems:
        raise SystemExit("the fill's summaries disagree with summarize():\n  " + "\n  ".join(problems[:20]))
    print(
        f"check: {len(stored)} summaries recomputed through summary.summarize agree, with their reasons, "
        f"reviewers and documents; {summarized:,} summaries = requests with assessments; "
        f"{listed:,} reviewer rows = (request, reviewer) pairs",
        file=sys.stderr,
    )


# ----------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Case:
    group: str  # "dashboard" | "api" | "quality()" | "request log"
    name: str
    call: object  # () -> status code
    max_ms: float
    max_queries: int


@dataclass
class Result:
    case: Case
    times: list[float]
    sql_ms: float
    queries: int
    status: int
    captured: list[dict]  # the last run's queries: {"sql", "time"}

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def met(self) -> bool:
        return (
            self.status == 200 and self.median <= self.case.max_ms and self.queries <= self.case.max_queries
        )


def measure(case: Case, runs: int) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    case.call()  # warm-up: caches, the connection, imports
    times, sql_times, queries, status = [], [], 0, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            status = case.call()
            times.append((time.perf_counter() - started) * 1000)
        queries = len(captured)
        sql_times.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    return Result(case, times, statistics.median(sql_times), queries, status, captured.captured_queries)


def windows(ends_at: datetime) -> dict[str, dict]:
    """The windows measured, as the API's query parameters; each ends at the fill's last hour. Each
    has the baseline the dashboard takes when none is given (the 30 days before), so the dashboard,
    the API and quality() compute the same figures, drift included."""

    def iso(moment: datetime) -> str:
        return moment.isoformat()

    def window(days: int, **more) -> dict:
        since = ends_at - timedelta(days=days)
        return {
            "since": iso(since),
            "until": iso(ends_at),
            "bucket": "day",
            **more,
            "baseline_since": iso(since - timedelta(days=30)),
            "baseline_until": iso(since),
        }

    return {
        "30 d by day": window(30),
        "90 d by day": window(90),
        "A/B 2 vs 3, 30 d by day": window(30, versions="2,3"),
        # The 90 days' baseline precedes the fill (drift is not measured); this one's is its first 30.
        "60 d by day": window(60),
        "30 d by hour": window(30, bucket="hour"),
    }


def window_of(params: dict):
    from reviewapp.monitoring.quality import Window

    def when(name):
        return datetime.fromisoformat(params[name])

    return Window(
        since=when("since"),
        until=when("until"),
        bucket=params["bucket"],
        versions=tuple(params["versions"].split(",")) if "versions" in params else None,
        baseline_since=when("baseline_since"),
        baseline_until=when("baseline_until"),
    )


def dashboard_query(params: dict) -> dict:
    """The dashboard form's names for a window (reviewapp/monitoring/forms.py): A/B is compare, a, b."""
    query = {k: v for k, v in params.items() if k != "versions"}
    if "versions" in params:
        query["compare"] = "yes"
        query["a"], query["b"] = params["versions"].split(",")
    return query


def cases(app, fill: dict, token: str) -> list[Case]:
    from django.test import Client

    from reviewapp.accounts.models import User
    from reviewapp.monitoring.quality import quality

    # A failing page is a row of the table (its status), not the end of the run.
    browser = Client(raise_request_exception=False)
    browser.force_login(User.objects.get(email=MANAGER))
    api = Client(headers={"Authorization": f"Bearer {token}"}, raise_request_exception=False)
    out = []

    def get(client, url: str, query: dict):
        return lambda: client.get(f"{url}?{urlencode(query)}").status_code

    def compute(params: dict):
        def call():
            try:
                quality(app, window_of(params))
            except Exception as exc:  # noqa: BLE001 - reported in the table, like a page's 500
                print(f"quality() failed: {exc!r}", file=sys.stderr)
                return 500
            return 200

        return call

    for name, params in windows(fill["ends_at"]).items():
        out.append(
            Case(
                "dashboard",
                name,
                get(browser, f"/apps/{app.slug}/dashboard/", dashboard_query(params)),
                1000,
                15,
            )
        )
    for name, params in windows(fill["ends_at"]).items():
        out.append(Case("api", name, get(api, f"/api/v1/apps/{app.slug}/quality", params), 1000, 15))
    for name, params in windows(fill["ends_at"]).items():
        out.append(Case("quality()", name, compute(params), 1000, 15))
    log = f"/apps/{app.slug}/requests/"
    for name, query in [
        ("rating=negative", {"rating": "negative"}),
        ("verdict=positive", {"verdict": "positive"}),
    ]:
        out.append(Case("request log", name, get(browser, log, query), 150, 10))
        out.append(
            Case("request log API", name, get(api, f"/api/v1/apps/{app.slug}/request-logs", query), 150, 10)
        )
    return out


def explain(result: Result, top: int = 3) -> None:
    """The slowest statements of a case's last run, with EXPLAIN ANALYZE on PostgreSQL. They run in a
    transaction that first replays the settings the run made (set_config, SET), so the plans are
    the ones the run got."""
    from django.db import connection, transaction

    print(f"\n## {result.case.group}: {result.case.name}")
    reads = [q for q in result.captured if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    settings = [
        q["sql"] for q in result.captured if "set_config(" in q["sql"] or q["sql"].upper().startswith("SET ")
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in settings:
            cursor.execute(sql)
        for q in sorted(reads, key=lambda q: -float(q["time"]))[:top]:
            print(f"\n-- {float(q['time']) * 1000:.1f} ms\n{q['sql']}\n")
            if connection.vendor == "postgresql":
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {q['sql']}")
                print("\n".join(line for (line,) in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests of the measured app")
    parser.add_argument(
        "--assessments", type=int, help="assessments of the measured app (default: as many as requests)"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", help="measure only the cases whose name holds this text")
    parser.add_argument("--refill", action="store_true", help="drop the kept fill and fill again")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE the slowest queries of each case"
    )
    parser.add_argument(
        "--fill-only", action="store_true", help="fill (when needed) and check, measure nothing"
    )
    args = parser.parse_args()
    database = setup_django()

    from django.core.management import call_command

    from reviewapp.accounts.models import ApiToken, User
    from reviewapp.catalog.models import App

    fill_info = existing_fill()
    if fill_info and not args.refill and fill_info["requests"] != args.requests:
        raise SystemExit(
            f"the database holds a fill of {fill_info['requests']:,} requests; "
            f"pass --refill to fill it with {args.requests:,}"
        )
    if args.refill or fill_info is None:
        if fill_info is None and tables():
            refuse_unless_scratch()
        empty_database()
        from django.db import connection

        connection.connect()
        fill_info = fill(args.requests, args.assessments or args.requests, args.seed)
    else:
        call_command("migrate", verbosity=0)
        print(
            f"kept fill: {fill_info['requests']:,} requests, {fill_info['assessments']:,} assessments, "
            f"ending {fill_info['ends_at']:%Y-%m-%d %H:%M} UTC (filled in {fill_info['seconds']:.0f} s)",
            file=sys.stderr,
        )
    app = App.objects.get(slug=SLUG)
    check(app)
    if args.fill_only:
        return
    call_command("collectstatic", interactive=False, verbosity=0)
    manager = User.objects.get(email=MANAGER)
    _, token = ApiToken.issue(user=manager, name=f"bench {datetime.now(UTC):%Y-%m-%d %H:%M:%S}")

    chosen = [c for c in cases(app, fill_info, token) if not args.only or args.only in f"{c.group}: {c.name}"]
    results = [measure(case, args.runs) for case in chosen]

    print(
        f"\n{database}: {fill_info['requests']:,} requests and {fill_info['assessments']:,} assessments "
        f"of one app over {DAYS} days (+ {fill_info['other_requests']:,} requests of another app); "
        f"median of {args.runs} after a warm-up"
    )
    head = f"{'case':48} | {'median ms':>9} | {'min':>7} | {'max':>7} | {'SQL ms':>7} | {'queries':>7} | target met"
    print(head)
    print("-" * len(head))
    for r in results:
        target = f"{'yes' if r.met else 'NO'} (≤ {r.case.max_ms:.0f} ms, ≤ {r.case.max_queries} queries)"
        if r.status != 200:
            target = f"NO: HTTP {r.status}"
        print(
            f"{r.case.group + ': ' + r.case.name:48} | {r.median:9.1f} | {min(r.times):7.1f} | "
            f"{max(r.times):7.1f} | {r.sql_ms:7.1f} | {r.queries:7d} | {target}"
        )
    load = os.getloadavg()[0]
    print(
        f"\nload average during the run: {load:.1f} on {os.cpu_count()} CPUs (wall times include waiting for a CPU)"
    )
    targeted = [r for r in results if r.case.group in ("dashboard", "api")]
    missed = [r for r in targeted if not r.met]
    if targeted:
        worst = f"; worst median {max(r.median for r in targeted):.0f} ms" if missed else ""
        print(
            f"dashboard and API: {len(targeted) - len(missed)} of {len(targeted)} cases within target{worst}"
        )
    if args.explain:
        for r in results:
            explain(r)


if __name__ == "__main__":
    main()
