"""Operational metrics for Prometheus: what the processes count, per server, and what the
database holds, read at each scrape of /metrics (views_metrics.py).

Counts live in prometheus-client's multiprocess files, so gunicorn's workers and the Celery
workers add up. Each server (gunicorn's master, a Celery worker's main process) owns a folder
under METRICS_DIR, named after its host and pid, that the processes it starts share (the
PROMETHEUS_MULTIPROC_DIR they inherit); any other process that counts (a management command, a
test) makes a folder of its own the first time it counts. Each folder is exported on its own,
under a `server` label (the folder's name): a server that restarts resets its own counters only,
which Prometheus' rate() and increase() take for the reset they are, whatever the other servers
hold. A server starting removes what the servers gone from this host left, and starts from an
empty folder. The files of a live server's dead processes stay (its counters never go down).
Another host's folder (each container of a shared volume is a host of its own) is left to that
host, until none of its files has changed for STALE_AFTER: that host is gone.

Labels hold app slugs, versions, URL patterns, methods, statuses and ids, never an email or free
text, each at most LABEL_LIMIT characters. A chain's version is its label only when the database
knows it for the app (the app's version or one of its AppVersion rows), else "other": a chain is
not trusted, and each label set is kept for ever in every process's file.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from prometheus_client import Counter, Histogram, multiprocess, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

if TYPE_CHECKING:
    from reviewapp.requestlog.models import Request

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
LABEL_LIMIT = 100
OTHER = "other"
# How long the versions the database knows for an app are trusted before they are read again.
KNOWN_VERSIONS_SECONDS = 60.0
# Another host's folder with no file changed for this long belongs to a host that is gone.
STALE_AFTER = timedelta(days=7)
# Any other method a client sends is "other": a label value per invented method would grow the
# files for ever.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def process_dir() -> Path:
    """The folder this process counts into: its server's (inherited), else one of its own."""
    root = Path(settings.METRICS_DIR).absolute()
    inherited = os.environ.get(ENV)
    if inherited and Path(inherited).parent == root:
        return Path(inherited)
    own = root / _folder_name(os.getpid())
    os.environ[ENV] = str(own)
    return own


def _host() -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in socket.gethostname()) or "host"


def _folder_name(pid: int) -> str:
    return f"{_host()}-{pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


_counting = False  # whether this process has opened its files (then its folder is in use)


def start_server() -> Path:
    """Called by a server's first process before it starts the processes that count (gunicorn's
    `on_starting`, a Celery worker's `celeryd_init`): removes the folders of this host's servers that
    are gone, and gives this server an empty folder of its own, which its processes inherit.

    A folder that cannot be made is logged, and the server starts all the same: without /metrics'
    counts (each failure to count is logged too), but serving.
    """
    root = Path(settings.METRICS_DIR).absolute()
    own = root / _folder_name(os.getpid())
    os.environ[ENV] = str(own)
    try:
        _clear(root)
        own.mkdir(exist_ok=True)
    except OSError:
        log.exception("metrics: %s cannot be made; this server's counts are not kept", own)
    return own


def _clear(root: Path) -> None:
    """Remove the folders of this host's servers that are gone, ours too unless we count into it."""
    root.mkdir(parents=True, exist_ok=True)
    prefix = f"{_host()}-"
    mine = _folder_name(os.getpid())
    for folder in root.glob(f"{glob.escape(prefix)}*"):
        owner = folder.name.removeprefix(prefix)
        if not owner.isdigit():
            continue  # another host whose name starts with ours
        # Our own name, not yet counted into: the folder of an earlier run that had our pid (pid 1
        # in a restarted container).
        if (folder.name == mine and not _counting) or (folder.name != mine and not _alive(int(owner))):
            shutil.rmtree(folder, ignore_errors=True)
    prune_gone_hosts(root)


def _ours(folder: Path) -> bool:
    """Whether the folder is one of this host's servers' (host-pid)."""
    return folder.name.removeprefix(f"{_host()}-").isdigit() and folder.name.startswith(f"{_host()}-")


def prune_gone_hosts(root: Path, now: float | None = None) -> None:
    """Remove the folders of other hosts where no file has changed for STALE_AFTER: an old
    container's, which nothing else would ever remove. A live server's files change as it counts."""
    now = time.time() if now is None else now
    try:
        folders = [folder for folder in Path(root).iterdir() if folder.is_dir() and not _ours(folder)]
    except OSError:
        return
    for folder in folders:
        try:
            changed = max((path.stat().st_mtime for path in folder.iterdir()), default=folder.stat().st_mtime)
        except OSError:
            continue  # removed meanwhile
        if now - changed > STALE_AFTER.total_seconds():
            shutil.rmtree(folder, ignore_errors=True)


def process_exited(pid: int) -> None:
    """A server's child exited (gunicorn's `child_exit`, Celery's `worker_process_shutdown`): its
    live-gauge files go; its counts stay, so the counters of the server never go down."""
    path = os.environ.get(ENV)
    if path:
        multiprocess.mark_process_dead(pid, path)


class _Value(values.MultiProcessValue()):
    """prometheus-client's multiprocess value, made in this process's folder (created on first use)."""

    def __init__(self, *args, **kwargs):
        global _counting
        process_dir().mkdir(parents=True, exist_ok=True)
        _counting = True
        super().__init__(*args, **kwargs)


# Every metric below is made after this, so each uses the files; they have labels, so none opens a
# file before it first counts (importing this module writes nothing).
values.ValueClass = _Value

HTTP_REQUESTS = Counter(
    "reviewapp_http_requests_total",
    "HTTP requests answered, by URL pattern, method and status",
    ["route", "method", "status"],
    registry=None,
)
HTTP_DURATION = Histogram(
    "reviewapp_http_request_duration_seconds",
    "Time to answer an HTTP request, to the first chunk of a streamed answer, by URL pattern and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None,
)
CHAIN_INVOCATIONS = Counter(
    "reviewapp_chain_invocations_total",
    "Turns sent to a chain (chat and the API), by app, version and status (ok, incomplete, error)",
    ["app", "version", "status"],
    registry=None,
)
CHAIN_LATENCY = Histogram(
    "reviewapp_chain_latency_seconds",
    "The chain's own latency of a turn, by app and version",
    ["app", "version"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120),
    registry=None,
)
CHAIN_TOKENS = Counter(
    "reviewapp_chain_tokens_total",
    "Tokens of the turns sent to a chain, by app, version and kind (request, response)",
    ["app", "version", "kind"],
    registry=None,
)
FEEDBACK = Counter(
    "reviewapp_feedback_total",
    "Ratings given: a reviewer's first feedback on a request, and each change of their thumbs rating,"
    " by app and the rating given (positive, negative, none: feedback without a thumb, or a thumb cleared)",
    ["app", "rating"],
    registry=None,
)

JUDGE_RESULTS = Counter(
    "reviewapp_judge_results_total",
    "Judge results recorded, by app, judge, what it said (pass, fail, or error: the judge model gave"
    " no verdict) and how it came (run: a run over reviewed requests; live: a sampled new turn)",
    ["app", "judge", "value", "how"],
    registry=None,
)


def _label(value) -> str:
    return str(value if value is not None else "")[:LABEL_LIMIT]


_known: dict[tuple, tuple[float, frozenset[str]]] = {}
_known_lock = threading.Lock()


def _versions_served(app) -> frozenset[str]:
    """The versions the app has served (its AppVersion rows), read once a KNOWN_VERSIONS_SECONDS
    a process. Keyed by the app's id and creation time: SQLite may give a new app a deleted one's id."""
    from reviewapp.catalog.models import AppVersion

    key = (app.pk, app.created_at)
    now = time.monotonic()
    with _known_lock:
        cached = _known.get(key)
        if cached is not None and now - cached[0] < KNOWN_VERSIONS_SECONDS:
            return cached[1]
        versions = frozenset(
            AppVersion.objects.filter(app_id=app.pk).order_by().values_list("version", flat=True).distinct()
        )
        _known[key] = (now, versions)
        return versions


def _version(app, version) -> str:
    """The chain's version as a label: the app's current version (as the turn's request read it,
    so a new version shows at once) or one it served before, else "other"."""
    version = _label(version)
    known = version == _label(app.version) or version in _versions_served(app)
    return version if known else OTHER


_last_failure = 0.0


def _never_fails(count):
    """Counting must never fail what it counts (a full disk, an unwritable METRICS_DIR): the failure
    is logged, at most once a minute a process, and the request goes on."""

    def safely(*args, **kwargs) -> None:
        global _last_failure
        try:
            count(*args, **kwargs)
        except Exception:
            if time.monotonic() - _last_failure > 60:
                _last_failure = time.monotonic()
                log.exception("could not count %s into %s", count.__name__, os.environ.get(ENV))

    safely.__name__ = count.__name__
    safely.__doc__ = count.__doc__
    return safely


@_never_fails
def count_request(*, route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else OTHER
    route = _label(route)
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_DURATION.labels(route, method).observe(seconds)


@_never_fails
def count_turn(turn: Request) -> None:
    """A turn logged for a chat or API call (requestlog.services.log_turn, once it is committed)."""
    app = _label(turn.app.slug)
    version = _version(turn.app, turn.app_version)
    CHAIN_INVOCATIONS.labels(app, version, turn.status).inc()
    if turn.latency_ms is not None:
        CHAIN_LATENCY.labels(app, version).observe(turn.latency_ms / 1000)
    for kind, tokens in (("request", turn.request_tokens), ("response", turn.response_tokens)):
        if tokens:
            CHAIN_TOKENS.labels(app, version, kind).inc(tokens)


@_never_fails
def count_feedback(*, app: str, rating: str) -> None:
    """A reviewer's rating given or changed (feedback.services.record_feedback, once committed)."""
    FEEDBACK.labels(_label(app), rating if rating in ("positive", "negative") else "none").inc()


@_never_fails
def count_judge_results(*, app: str, judge: str, values: list[str], live: bool) -> None:
    """Results a judge recorded (judges.runs and judges.online, once committed)."""
    for value in ("pass", "fail", "error"):
        if n := values.count(value):
            JUDGE_RESULTS.labels(_label(app), _label(judge), value, "live" if live else "run").inc(n)


class ProcessCounts:
    """The counts of the processes of each server under METRICS_DIR, added up per server and
    labelled with it (`server`), so one server's restart resets its series alone."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def collect(self):
        prune_gone_hosts(self.root)
        families: dict[str, Metric] = {}
        try:
            folders = sorted(folder for folder in self.root.iterdir() if folder.is_dir())
        except OSError:
            return []
        for folder in folders:
            for metric in self._merge(folder):
                family = families.get(metric.name)
                if family is None:
                    family = families[metric.name] = Metric(
                        metric.name, metric.documentation, metric.type, metric.unit
                    )
                family.samples.extend(
                    sample._replace(labels={**sample.labels, "server": folder.name})
                    for sample in metric.samples
                )
        return list(families.values())

    @staticmethod
    def _merge(folder: Path):
        for _ in range(3):
            files = glob.glob(os.path.join(glob.escape(str(folder)), "*.db"))
            try:
                return multiprocess.MultiProcessCollector.merge(files, accumulate=True)
            except FileNotFoundError:
                continue  # a server starting removed a gone server's folder meanwhile: look again
        return []


class DatabaseGauges:
    """What the database holds: queue backlogs, jobs, MLflow write-backs of feedback.

    A handful of queries, read at most once every `seconds` a process (a storm of scrapes waits
    for one reading and shares it). Should the database not answer, these series are left out
    (and asked for again at the next scrape) and the process counts are still served.
    """

    seconds = 30.0
    _read: tuple[float, list] | None = None
    _lock = threading.Lock()

    @classmethod
    def forget(cls) -> None:
        """Drop the reading kept, so the next scrape reads the database again."""
        with cls._lock:
            cls._read = None

    def collect(self):
        from django.db import DatabaseError

        cls = type(self)
        with cls._lock:
            if cls._read is not None and time.monotonic() - cls._read[0] < self.seconds:
                return cls._read[1]
            try:
                found = list(self._gauges())
            except DatabaseError:
                log.warning("metrics: the database did not answer; its gauges are left out", exc_info=True)
                return []
            cls._read = (time.monotonic(), found)
            return found

    def _gauges(self):
        # Imported here: gunicorn's master and Celery's main process import this module before
        # Django's apps are loaded.
        from django.db.models import Count, F, OuterRef, Q, Subquery
        from django.db.models.functions import Coalesce
        from django.utils import timezone

        from reviewapp.feedback.models import MlflowSync
        from reviewapp.jobs.models import Job
        from reviewapp.queues.models import QueueItem, Reservation, ReviewQueue

        now = timezone.now()
        backlog = GaugeMetricFamily(
            "reviewapp_queue_backlog_items",
            "Review slots of a queue not yet filled: its items x its overlap - the reviews submitted"
            " (an item reviewed by one of two reviewers it needs counts 1)",
            labels=["app", "queue"],
        )
        oldest = GaugeMetricFamily(
            "reviewapp_queue_oldest_item_age_seconds",
            "Age of the queue's oldest item still waiting for a review (0 when none waits)",
            labels=["app", "queue"],
        )
        # A submitted review fills one of the item's slots 1..overlap; a slot past a lowered
        # overlap is no longer one the item needs.
        filled = Q(done_at__isnull=False, slot__lte=F("item__queue__overlap"))
        queues = list(
            ReviewQueue.objects.order_by().values("pk", "overlap", "app__slug").annotate(items=Count("items"))
        )
        done = dict(
            Reservation.objects.filter(filled)
            .order_by()
            .values("item__queue")
            .annotate(n=Count("pk"))
            .values_list("item__queue", "n")
        )
        waiting = {
            queue["pk"]: max(queue["items"] * queue["overlap"] - done.get(queue["pk"], 0), 0)
            for queue in queues
        }
        # Only queues with a slot to fill are searched, each from its oldest item on (the
        # queue_item_added index) up to the first one still waiting: never every item ever queued.
        slots_filled = (
            Reservation.objects.filter(
                item=OuterRef("pk"), done_at__isnull=False, slot__lte=OuterRef(OuterRef("overlap"))
            )
            .order_by()
            .values("item")
            .annotate(n=Count("pk"))
            .values("n")
        )
        first_waiting = (
            QueueItem.objects.filter(queue=OuterRef("pk"))
            .annotate(filled=Coalesce(Subquery(slots_filled), 0))
            .filter(filled__lt=OuterRef("overlap"))
            .order_by("added_at", "pk")
            .values("added_at")[:1]
        )
        waiting_since = dict(
            ReviewQueue.objects.filter(pk__in=[pk for pk, slots in waiting.items() if slots])
            .order_by()
            .annotate(since=Subquery(first_waiting))
            .values_list("pk", "since")
        )
        for queue in queues:
            labels = [_label(queue["app__slug"]), str(queue["pk"])]
            backlog.add_metric(labels, waiting[queue["pk"]])
            since = waiting_since.get(queue["pk"])
            oldest.add_metric(labels, max((now - since).total_seconds(), 0) if since else 0)
        yield backlog
        yield oldest

        jobs = GaugeMetricFamily(
            "reviewapp_jobs", "Background jobs by kind and state", labels=["kind", "state"]
        )
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for kind, state, n in Job.objects.order_by().values_list("kind", "status").annotate(n=Count("pk")):
            counts[kind][state] = n
        for kind, states in sorted(counts.items()):
            for state in Job.Status.values:  # every state of a kind, 0 included, so rates see a start
                jobs.add_metric([_label(kind), state], states.get(state, 0))
        yield jobs

        # Only feedback's write-backs, retried until they reach MLflow. An export's MLflow step
        # gives up after a few tries and says so on the export's page: a backlog it never clears.
        writeback = GaugeMetricFamily(
            "reviewapp_mlflow_writeback_backlog",
            "Feedback waiting to be written to its MLflow trace, by state (pending, failed: retried)",
            labels=["state"],
        )
        backlog_of = {MlflowSync.Status.PENDING.value: 0, MlflowSync.Status.FAILED.value: 0}
        for state, n in (
            MlflowSync.objects.filter(status__in=list(backlog_of))
            .order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
        ):
            backlog_of[state] = n
        for state, n in backlog_of.items():
            writeback.add_metric([state], n)
        yield writeback
