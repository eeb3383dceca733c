"""Seeded data for the fill-by-rules tests: a small request log whose every rule has a known answer."""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from reviewapp.judges.models import Judge, JudgeResult, JudgeVersion
from reviewapp.queues.models import Reservation
from tests import factories

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def rate(request, reviewer, rating: str = "", reasons=(), chunks: tuple[str, ...] = ()):
    """An assessment: a thumbs up/down, reasons, and a rating per passage ("r" relevant, "n" not)."""
    ratings = [
        {
            "position": position,
            "doc_uri": request.chunks[position]["doc_uri"],
            "rating": "relevant" if mark == "r" else "not_relevant",
        }
        for position, mark in enumerate(chunks)
    ]
    return factories.make_assessment(
        request, reviewer, rating, reasons=list(reasons), retrieval_assessments=ratings
    )


def judge_with_results(app, name: str, said: dict) -> Judge:
    """A judge whose current version (2) said `said` {request: (value, score)}; version 1 said the
    opposite of each, so a rule reading an old version would select other requests."""
    judge = Judge.objects.create(app=app, name=name, kind=Judge.Kind.REFERENCE)
    old = JudgeVersion.objects.create(judge=judge, number=1, metric="token_f1", threshold=0.5)
    current = JudgeVersion.objects.create(judge=judge, number=2, metric="token_f1", threshold=0.6)
    flipped = {"pass": "fail", "fail": "pass", "error": "error"}
    for request, (value, score) in said.items():
        for version, shown in ((current, value), (old, flipped[value])):
            JudgeResult.objects.create(
                version=version,
                request=request,
                app=app,
                app_version=request.app_version,
                value=shown,
                score=None if score is None else (score if version is current else 1 - score),
            )
    return judge


def done_reservation(item, reviewer, slot: int = 1):
    now = timezone.now()
    return Reservation.objects.create(item=item, slot=slot, reviewer=reviewer, expires_at=now, done_at=now)


def draw_order(ids, seed: int) -> list:
    """The order sampling draws requests in: md5 of "seed:32 hex digits of the id"."""
    return sorted(ids, key=lambda i: (hashlib.md5(f"{seed}:{i.hex}".encode()).hexdigest(), str(i)))


@dataclass
class World:
    app: object
    other_app: object
    by_name: dict

    def ids(self, *names) -> set:
        return {self.by_name[n].request_id for n in names}


def seed_world(app, reviewer, second_reviewer) -> World:
    """Requests a–g of `app` (and their twins in another app, which no rule may ever select):

    name version time  feedback                                          passages    judge v2 said
    a    v1      +1h   👎 "wrong" (one reviewer), 👍 (the other): mixed  —           fail 0.2
    b    v1      +2h   👍                                                r r  (1.0)  fail 0.3
    c    v2      +3h   👎 "slow"                                         n n  (0.0)  pass 0.9
    d    v2      +4h   👍                                                r n  (0.5)  pass 0.8
    e    v1      +5h   none                                              —           fail 0.1
    f    v3      +6h   none                                              —           error
    g    v2      -48h  none                                              —           —
    """
    times = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": -48}
    versions = {"a": "v1", "b": "v1", "c": "v2", "d": "v2", "e": "v1", "f": "v3", "g": "v2"}
    by_name = {
        name: factories.make_request(
            app, question=f"Question {name}?", app_version=versions[name], created_at=at(h)
        )
        for name, h in times.items()
    }
    r = by_name
    rate(r["a"], reviewer, "negative", reasons=["wrong"])
    rate(r["a"], second_reviewer, "positive")
    rate(r["b"], reviewer, "positive", chunks=("r", "r"))
    rate(r["c"], reviewer, "negative", reasons=["slow"], chunks=("n", "n"))
    rate(r["d"], reviewer, "positive", chunks=("r", "n"))
    judge_with_results(
        app,
        "f1",
        {r["a"]: ("fail", 0.2), r["b"]: ("fail", 0.3), r["c"]: ("pass", 0.9), r["d"]: ("pass", 0.8),
         r["e"]: ("fail", 0.1), r["f"]: ("error", None)},
    )  # fmt: skip

    other_app = factories.make_app("other-bot")
    stranger = factories.make_user("stranger@example.com")
    twins = {}
    for name, h in times.items():
        twins[name] = factories.make_request(
            other_app, question=f"Other {name}?", app_version=versions[name], created_at=at(h)
        )
    for name in ("a", "c"):
        rate(twins[name], stranger, "negative", reasons=["wrong", "slow"], chunks=("n", "n"))
    for name in ("b", "d"):
        rate(twins[name], stranger, "positive", chunks=("n", "n"))
    judge_with_results(
        other_app,
        "f1",
        {twins[n]: ("fail", 0.0) for n in ("b", "d")} | {twins[n]: ("pass", 0.0) for n in ("a", "c")},
    )
    return World(app=app, other_app=other_app, by_name=by_name)
