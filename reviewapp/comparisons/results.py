"""What a pairwise queue found: win rates per version, and the preference pairs trainers read.

Win rate: each reviewer's effective judgement of a pair is one match between the pair's two
versions. A version's win rate is its wins over its decisive matches (wins + losses), with the
95% Wilson score interval of that proportion; ties are reported apart, not counted as half.

Preference pairs: one per pair whose reviewers' majority picked a response (a strict majority
over each other label; a pair whose majority is a tie, or with no majority, is left out), as
{"prompt", "chosen", "rejected"} in TRL's conversational form: `prompt` the chat messages sent,
`chosen` and `rejected` each a one-message list with the assistant's response.
"""

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from reviewapp.monitoring.stats import wilson

from .models import Comparison, ComparisonPair, Preference


@dataclass
class VersionResult:
    version: str
    wins: int = 0
    losses: int = 0
    ties: int = 0
    win_rate: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def judgements(self) -> int:
        return self.wins + self.losses + self.ties


@dataclass
class ComparisonResult:
    kind: str
    version_a: str
    version_b: str
    pairs: int
    ready: int
    pending: int
    failed: int
    judgements: int
    versions: list[VersionResult] = field(default_factory=list)
    failures: list[ComparisonPair] = field(default_factory=list)


def version_results(judged: list[tuple[str, str, str]]) -> list[VersionResult]:
    """Win rates from (version_a, version_b, winner) judgements; winner is "a", "b" or "tie"."""
    by_version: dict[str, VersionResult] = {}
    for version_a, version_b, winner in judged:
        a = by_version.setdefault(version_a, VersionResult(version_a))
        b = by_version.setdefault(version_b, VersionResult(version_b))
        if winner == "tie":
            a.ties += 1
            b.ties += 1
        elif winner == "a":
            a.wins += 1
            b.losses += 1
        else:
            b.wins += 1
            a.losses += 1
    for result in by_version.values():
        if result.decisive:
            result.win_rate = result.wins / result.decisive
            result.low, result.high = wilson(result.wins, result.decisive)
    return list(by_version.values())


def comparison_result(comparison: Comparison, failures: int = 20) -> ComparisonResult:
    pairs = comparison.pairs.all()
    counts = Counter(pairs.values_list("status", flat=True))
    judged = list(
        Preference.objects.filter(pair__comparison=comparison)
        .effective()
        .order_by("pair__position", "reviewer_id")
        .values_list("pair__version_a", "pair__version_b", "winner")
    )
    versions = version_results(judged)
    # The manager's versions first, in their order; imported labels after, by name.
    first = [comparison.version_a, comparison.version_b]
    versions.sort(key=lambda v: (first.index(v.version) if v.version in first else 2, v.version))
    return ComparisonResult(
        kind=comparison.kind,
        version_a=comparison.version_a,
        version_b=comparison.version_b,
        pairs=sum(counts.values()),
        ready=counts[ComparisonPair.Status.READY],
        pending=counts[ComparisonPair.Status.PENDING],
        failed=counts[ComparisonPair.Status.FAILED],
        judgements=len(judged),
        versions=versions,
        failures=list(
            pairs.filter(status=ComparisonPair.Status.FAILED).select_related("request_a")[:failures]
        ),
    )


def majority(winners: list[str]) -> str | None:
    """The label more reviewers gave than any other, or None when two labels are level."""
    ranked = Counter(winners).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def preference_rows(comparison: Comparison) -> Iterator[dict]:
    """The DPO rows of the comparison, in pair order (see the module's docstring)."""
    winners: dict[int, list[str]] = {}
    for pair_id, winner in (
        Preference.objects.filter(pair__comparison=comparison).effective().values_list("pair_id", "winner")
    ):
        winners.setdefault(pair_id, []).append(winner)
    decided = {pair_id: majority(labels) for pair_id, labels in winners.items()}
    chosen_ids = [pair_id for pair_id, label in decided.items() if label in ("a", "b")]
    pairs = (
        comparison.pairs.filter(pk__in=chosen_ids, status=ComparisonPair.Status.READY)
        .select_related("request_a", "request_b")
        .order_by("position", "id")
    )
    for pair in pairs.iterator(chunk_size=500):
        a, b = pair.request_a, pair.request_b
        chosen, rejected = (a, b) if decided[pair.pk] == "a" else (b, a)
        yield {
            "prompt": a.messages,
            "chosen": [{"role": "assistant", "content": chosen.response}],
            "rejected": [{"role": "assistant", "content": rejected.response}],
        }


def preference_lines(comparison: Comparison) -> Iterator[str]:
    for row in preference_rows(comparison):
        yield json.dumps(row, ensure_ascii=False) + "\n"
