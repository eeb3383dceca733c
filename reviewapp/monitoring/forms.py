"""The dashboard's query string: which time range, bucket, versions, comparison and baseline.

A value that cannot be read is shown beside its control and replaced by its default, so the rest
of the page still renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.db import connection
from django.utils import timezone

from reviewapp.lib.filters import UtcDateTimeField
from reviewapp.requestlog.models import Request

from .quality import BUCKETS, MAX_VERSIONS, PRECISION_AT, Window, WindowError, check, version_key

RANGES = {
    "24h": ("24 h", timedelta(hours=24)),
    "7d": ("7 d", timedelta(days=7)),
    "30d": ("30 d", timedelta(days=30)),
    "90d": ("90 d", timedelta(days=90)),
}
DEFAULT_RANGE = "30d"
DEFAULT_K = Window.k
BASELINE = timedelta(days=30)
MAX_VERSION_CHARS = Request._meta.get_field("app_version").max_length
# The version chooser lists at most this many of the versions an app ever served.
MAX_CHOICES = 200
# Times the database and the bucket arithmetic take without overflowing.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """A time as the request log's since/until read it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UtcTimeInput(forms.DateTimeInput):
    """A datetime-local input in UTC that shows a time given in the query string in any form the
    field reads (such as 2026-03-02T00:00:00Z), since the browser's input takes only its own."""

    input_type = "datetime-local"

    def __init__(self):
        super().__init__(attrs={"step": "1"}, format="%Y-%m-%dT%H:%M:%S")

    def format_value(self, value):
        if isinstance(value, str):
            try:
                value = UtcDateTimeField().clean(value)
            except forms.ValidationError:
                return ""
        if isinstance(value, datetime):
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().format_value(value)


def auto_bucket(since: datetime, until: datetime) -> str:
    span = until - since
    if span <= timedelta(days=2):
        return "hour"
    return "day" if span <= timedelta(days=120) else "week"


def default_until(now: datetime | None = None) -> datetime:
    """Now, rounded up to the minute: the window holds every request so far, and links say so exactly."""
    now = now or timezone.now()
    floor = now.replace(second=0, microsecond=0)
    return floor if floor == now else floor + timedelta(minutes=1)


def served_versions(app) -> list[str]:
    """Every version `app` ever served, newest first: one query, an index seek per version."""
    table = Request._meta.db_table
    # A loose index scan (the next version after the last one found) rather than DISTINCT, which
    # would read every request of the app.
    sql = f"""
        WITH RECURSIVE v(version) AS (
            SELECT MIN(app_version) FROM {table} WHERE app_id = %s
            UNION ALL
            SELECT (SELECT MIN(app_version) FROM {table} WHERE app_id = %s AND app_version > v.version)
            FROM v WHERE v.version IS NOT NULL
        )
        SELECT version FROM v WHERE version IS NOT NULL LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [app.pk, app.pk, MAX_CHOICES])
        versions = [row[0] for row in cursor.fetchall()]
    return sorted(versions, key=version_key, reverse=True)


class VersionListField(forms.Field):
    """Versions picked with checkboxes, each one value of `versions`; "" is the unversioned one."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        return list(dict.fromkeys(str(v) for v in value or []))

    def validate(self, value):
        if len(value) > MAX_VERSIONS:
            raise forms.ValidationError(f"pick at most {MAX_VERSIONS} versions")
        if any(len(v) > MAX_VERSION_CHARS for v in value):
            raise forms.ValidationError(f"a version has at most {MAX_VERSION_CHARS} characters")
        # PostgreSQL's text takes no NUL: the query would fail, not find nothing.
        if any("\x00" in v for v in value):
            raise forms.ValidationError(
                "Null characters are not allowed.", code="null_characters_not_allowed"
            )


class VersionField(forms.CharField):
    """One version: absent is None, an empty value is the unversioned one ("")."""

    def __init__(self, **kwargs):
        super().__init__(required=False, strip=False, max_length=MAX_VERSION_CHARS, **kwargs)

    def to_python(self, value):
        return None if value is None else str(value)


class DashboardForm(forms.Form):
    range = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in RANGES.items()], required=False, label="Range"
    )
    since = UtcDateTimeField(required=False, label="From (UTC)", widget=UtcTimeInput)
    until = UtcDateTimeField(required=False, label="Until (UTC)", widget=UtcTimeInput)
    bucket = forms.ChoiceField(
        choices=[("", "Automatic"), *((b, b.capitalize()) for b in BUCKETS)], required=False, label="Per"
    )
    versions = VersionListField(required=False, label="Versions")
    compare = forms.BooleanField(required=False, label="Compare two versions")
    a = VersionField(label="Version A")
    b = VersionField(label="Version B")
    k = forms.TypedChoiceField(
        choices=[(k, str(k)) for k in PRECISION_AT],
        coerce=int,
        required=False,
        empty_value=DEFAULT_K,
        label="Precision at k",
    )
    baseline_since = UtcDateTimeField(required=False, label="Baseline from (UTC)", widget=UtcTimeInput)
    baseline_until = UtcDateTimeField(required=False, label="Baseline until (UTC)", widget=UtcTimeInput)

    WINDOW_FIELDS = ("range", "since", "until", "bucket")

    def __init__(self, data=None, *, now: datetime | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.now = default_until(now)

    def clean(self):
        data = super().clean()
        for name in ("since", "until", "baseline_since", "baseline_until"):
            moment = data.get(name)
            if moment is None:
                continue
            # Whole seconds: the request log's links say the window to the second.
            data[name] = moment = moment.replace(microsecond=0)
            if not EARLIEST <= moment <= LATEST:
                self.add_error(name, f"must be between {EARLIEST.year} and {LATEST.year}")
        if not any(name in self.errors for name in self.WINDOW_FIELDS):
            since, until, bucket, _ = self._window(data)
            if since >= until:
                self.add_error("until", "must be later than From")
            else:
                try:
                    check(Window(since=since, until=until, bucket=bucket))
                except WindowError as error:
                    # Too many buckets: on the bucket when one was picked, else on the range.
                    field = error.field if error.field in self.fields and data.get("bucket") else "since"
                    self.add_error(field, error.message)
        if not any(name in self.errors for name in ("baseline_since", "baseline_until")):
            start, end = data.get("baseline_since"), data.get("baseline_until")
            if (start is None) != (end is None):
                self.add_error(
                    "baseline_until" if start else "baseline_since", "give both ends of the baseline"
                )
            elif start is not None and start >= end:
                self.add_error("baseline_until", "must be later than Baseline from")
        if data.get("compare") and not any(name in self.errors for name in ("a", "b")):
            if data.get("a") is None or data.get("b") is None:
                self.add_error("a" if data.get("a") is None else "b", "pick the two versions to compare")
            elif data["a"] == data["b"]:
                self.add_error("b", "pick a version other than A")
        return data

    def _window(self, data) -> tuple[datetime, datetime, str, str | None]:
        """(since, until, bucket, preset) from valid values; the defaults for what was not given."""
        since, until = data.get("since"), data.get("until")
        preset = None
        if since is None and until is None:
            preset = data.get("range") or DEFAULT_RANGE
            until = self.now
            since = until - RANGES[preset][1]
        else:
            until = until or self.now
            since = since or until - RANGES[DEFAULT_RANGE][1]
        return since, until, data.get("bucket") or auto_bucket(since, until), preset

    def controls(self, app_versions: list[str]) -> Controls:
        """What the controls show: what was sent, also when it was refused, so a second change can fix
        it; the app's versions to pick from, and those sent that it never served."""
        data = self.data if self.is_bound else {}
        ticked = (
            [v for v in data.getlist("versions") if len(v) <= MAX_VERSION_CHARS][:MAX_VERSIONS]
            if data
            else []
        )
        sent_ab = [
            v if v is None or len(v) <= MAX_VERSION_CHARS else None for v in (data.get("a"), data.get("b"))
        ]
        versions = list(app_versions)
        versions += [v for v in dict.fromkeys([*ticked, *sent_ab]) if v is not None and v not in versions]
        # A and B default to the two newest versions, the newer as B.
        ab = tuple(sent_ab) if None not in sent_ab else tuple(versions[1::-1])
        compare = (
            bool(self.fields["compare"].widget.value_from_datadict(data, {}, "compare")) if data else False
        )
        return Controls(versions, ticked, compare, ab if len(ab) == 2 else None)

    def query(self) -> DashboardQuery:
        """What to show: the valid values, and the defaults in place of the others."""
        data = getattr(self, "cleaned_data", {}) if self.is_bound else {}
        errors = self.errors if self.is_bound else {}

        def valid(*names):
            return {name: data.get(name) for name in names if name not in errors}

        since, until, bucket, preset = self._window(valid(*self.WINDOW_FIELDS))
        baseline = valid("baseline_since", "baseline_until")
        baseline_given = (
            baseline.get("baseline_since") is not None and baseline.get("baseline_until") is not None
        )
        if not baseline_given:
            baseline = {"baseline_since": since - BASELINE, "baseline_until": since}
        compare = None
        if data.get("compare") and not any(name in errors for name in ("compare", "a", "b")):
            compare = (data["a"], data["b"])
        picked = tuple(data.get("versions") or ()) if "versions" not in errors else ()
        k = data.get("k") if "k" not in errors and data.get("k") else DEFAULT_K
        window = Window(
            since=since,
            until=until,
            bucket=bucket,
            versions=compare or picked or None,
            baseline_since=baseline["baseline_since"],
            baseline_until=baseline["baseline_until"],
            k=k,
        )
        return DashboardQuery(
            window=window,
            preset=preset,
            bucket_given=bool(valid("bucket").get("bucket")),
            picked=picked,
            compare=compare,
            baseline_given=baseline_given,
        )


@dataclass(frozen=True)
class Controls:
    versions: list[str]  # to pick from, newest first
    ticked: list[str]
    compare: bool
    ab: tuple[str, str] | None  # None: fewer than two versions to compare


@dataclass(frozen=True)
class DashboardQuery:
    window: Window
    preset: str | None  # the range preset in force; None when From/Until were given
    bucket_given: bool
    picked: tuple[str, ...]  # versions ticked (empty: all)
    compare: tuple[str, str] | None  # (A, B)
    baseline_given: bool = False

    def params(self, **changes) -> dict:
        """The query string of this view, as given (a preset stays a preset), with `changes`."""
        w = self.window
        params: dict = {}
        if self.preset:
            params["range"] = self.preset
        else:
            params.update(since=iso(w.since), until=iso(w.until))
        if self.bucket_given:
            params["bucket"] = w.bucket
        if self.picked:
            params["versions"] = list(self.picked)
        if self.compare:
            params.update(compare="yes", a=self.compare[0], b=self.compare[1])
        if w.k != DEFAULT_K:
            params["k"] = w.k
        if self.baseline_given:
            params.update(baseline_since=iso(w.baseline_since), baseline_until=iso(w.baseline_until))
        params.update(changes)
        return {name: value for name, value in params.items() if value is not None}

    def pinned(self) -> dict:
        """The query string that gives exactly these figures later too: every time written out."""
        w = self.window
        return self.params(
            range=None,
            since=iso(w.since),
            until=iso(w.until),
            bucket=w.bucket,
            baseline_since=iso(w.baseline_since),
            baseline_until=iso(w.baseline_until),
        )


def query_string(params: dict) -> str:
    return urlencode(params, doseq=True)
