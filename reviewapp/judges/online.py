"""Judging a sample of live traffic: after a turn is logged, each judge of its app that samples
draws whether to judge it, and a worker does so; the chat never waits for it.

The draw is a hash of (judge, request), so a message sent twice judges once and a turn's fate
does not depend on which process drew it. Only a judge that needs no reviewer can judge a turn
nobody reviewed yet: groundedness, and the LLM criteria that read no correction.
"""

import hashlib
import logging
import time

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.exports.selection import Reviewed
from reviewapp.jobs.sending import send
from reviewapp.monitoring import metrics as counters
from reviewapp.requestlog.models import Request

from . import llm, mlflow_write
from .models import Judge, JudgeDay, JudgeResult, JudgeVersion
from .runs import Outcome, judge, result_row

log = logging.getLogger(__name__)

LIVE_KINDS = (Judge.Kind.GROUNDEDNESS, Judge.Kind.LLM)
MAX_PERCENT = 100.0


def judges_live_turns(kind: str, version: JudgeVersion) -> bool:
    """Whether a judge can judge a turn nobody reviewed yet: it reads no reviewer's label."""
    if kind == Judge.Kind.LLM:
        return not llm.needs_reviewers(version.metric, version.instructions)
    return kind in LIVE_KINDS


def sampled(judge_id: int, request_id, percent: float) -> bool:
    """Whether the judge takes this request: a uniform draw in [0, 100) from their hash."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{judge_id}/{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * MAX_PERCENT < percent


def keep_sampling(judge: Judge) -> None:
    """Copy to the judge's app which of its judges sample new turns (App.sampling_judges, what
    after_turn reads); called wherever a judge's share or its being live changes."""
    with transaction.atomic():
        # The app's row is locked before the judges are read: two judges of one app changed at once
        # are written one after the other, the second seeing the first's change.
        list(App.objects.select_for_update().filter(pk=judge.app_id).values("pk"))
        sampling = Judge.objects.live().filter(app_id=judge.app_id, sample_percent__gt=0).order_by("name")
        found = [[pk, percent] for pk, percent in sampling.values_list("pk", "sample_percent")]
        App.objects.filter(pk=judge.app_id).update(sampling_judges=found)
    if Judge.app.is_cached(judge):
        judge.app.sampling_judges = found


def after_turn(request: Request) -> None:
    """Called once the turn is committed: a message per judge that samples it (none is sent for
    a judge that does not), as the app read for the turn lists them (keep_sampling). Sending never
    raises and gives up within a second (jobs.sending). Only a judge that can judge live turns
    samples any (services.set_sampling)."""
    from .tasks import judge_turn_task

    for judge_id, percent in request.app.sampling_judges:
        if sampled(judge_id, request.pk, percent):
            send(judge_turn_task, args=(judge_id, str(request.pk)))


def _take_call(found: Judge) -> bool:
    """One of today's calls (UTC), if the cap leaves one: a conditional UPDATE, so the cap holds
    however many workers judge at once, without a lock held while the judge model thinks."""
    day = timezone.now().date()
    JudgeDay.objects.get_or_create(judge=found, day=day)
    return bool(
        JudgeDay.objects.filter(judge=found, day=day, calls__lt=found.daily_cap).update(calls=F("calls") + 1)
    )


def _give_back(found: Judge) -> None:
    JudgeDay.objects.filter(judge=found, day=timezone.now().date(), calls__gt=0).update(calls=F("calls") - 1)


def judge_turn(judge_id: int, request_id: str) -> str:
    """The worker's part: judge the turn with the judge's current version, within its daily cap."""
    request = Request.objects.filter(pk=request_id).first()
    if request is None:
        return "no such request"
    found = Judge.objects.live().select_related("app").filter(pk=judge_id, app_id=request.app_id).first()
    if found is None:
        return "no such judge"
    version = found.current
    if not judges_live_turns(found.kind, version):
        return "needs the reviewers"
    if JudgeResult.objects.filter(version=version, request=request).exists():
        return "already judged"
    if not _take_call(found):
        return "over the daily cap"
    item = Reviewed(
        request_id=str(request.pk),
        conversation_id=request.conversation_id,
        messages=request.messages,
        response=request.response,
        chunks=request.chunks,
        app_version=request.app_version,
        created_at=request.created_at,
        mlflow_trace_id=request.mlflow_trace_id,
        status=request.status,
        context_span=found.app.context_span,
    )
    started = time.perf_counter()
    outcome = judge(version, item)
    if not isinstance(outcome, Outcome):
        _give_back(found)  # nothing was judged, so nothing called
        return outcome
    try:
        with transaction.atomic():
            result = result_row(
                version, item, outcome, latency_ms=round((time.perf_counter() - started) * 1000), online=True
            )
            result.save(force_insert=True)
    except IntegrityError:
        return "already judged"
    if result.mlflow_status == JudgeResult.MlflowStatus.PENDING:
        mlflow_write.send_for([result.pk])
    counters.count_judge_results(app=found.app.slug, judge=found.name, values=[outcome.value], live=True)
    return outcome.value
