"""Quality per chain version, from the effective assessments (DESIGN.md: the app owner's dashboard)."""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q

from reviewapp.catalog.models import App
from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request

from .models import Assessment


@dataclass
class VersionQuality:
    version: str
    requests: int = 0
    # Turns the chain failed, and turns whose answer stopped part-way (kept and reviewable).
    errors: int = 0
    incomplete: int = 0
    reviewed: int = 0
    assessments: int = 0
    positive: int = 0
    negative: int = 0
    corrections: int = 0
    chunks_rated: int = 0
    chunks_relevant: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def positive_pct(self) -> float | None:
        rated = self.positive + self.negative
        return round(100 * self.positive / rated, 1) if rated else None

    @property
    def chunk_relevance_pct(self) -> float | None:
        return round(100 * self.chunks_relevant / self.chunks_rated, 1) if self.chunks_rated else None

    @property
    def top_reasons(self) -> list[tuple[str, int]]:
        return self.reasons.most_common(5)


def quality_by_version(app: App) -> list[VersionQuality]:
    """One row per app version that served requests, newest first (by its latest request)."""
    rows: dict[str, VersionQuality] = {}
    order = (
        Request.objects.filter(app=app)
        .values("app_version")
        .annotate(
            n=Count("request_id"),
            errors=Count("request_id", filter=Q(status=Request.Status.ERROR)),
            incomplete=Count("request_id", filter=Q(status=Request.Status.INCOMPLETE)),
        )
        .order_by()
    )
    for item in order:
        rows[item["app_version"]] = VersionQuality(
            version=item["app_version"],
            requests=item["n"],
            errors=item["errors"],
            incomplete=item["incomplete"],
        )
    reviewed: dict[str, set] = defaultdict(set)
    effective = (
        Assessment.objects.filter(app=app)
        .latest_per_reviewer()
        .values_list(
            "request__app_version",
            "request_id",
            "rating",
            "reasons",
            "corrected_response",
            "retrieval_assessments",
            "request__chunks",
        )
    )
    for version, request_id, rating, reasons, correction, rated, chunks in effective.iterator():
        row = rows.setdefault(version, VersionQuality(version=version))
        row.assessments += 1
        reviewed[version].add(request_id)
        if rating == Assessment.Rating.POSITIVE:
            row.positive += 1
        elif rating == Assessment.Rating.NEGATIVE:
            row.negative += 1
        row.reasons.update(reasons or [])
        if correction is not None:
            row.corrections += 1
        for chunk in passage_rules.ratings(rated, chunks, app.context_span).values():
            row.chunks_rated += 1
            row.chunks_relevant += chunk["rating"] == "relevant"
    for version, ids in reviewed.items():
        rows[version].reviewed = len(ids)
    return sorted(rows.values(), key=lambda r: _version_key(r.version), reverse=True)


def _version_key(version: str):
    """Numeric versions sort as numbers ("10" after "9"); others after them, by text."""
    parts = version.split(".")
    if all(re.fullmatch(r"[0-9]+", p) for p in parts):  # not isdigit(): "²" is a digit int() refuses
        return (1, tuple(int(p) for p in parts), "")
    return (0, (), version)
