"""The Judges tab: define judges, change them (a new version), run them over the reviewed
requests, and see each version's agreement with the reviewers, the disagreements first."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from reviewapp.catalog.permissions import get_app_for
from reviewapp.exports.downloads import STORE_DOWN
from reviewapp.exports.models import EvaluationSetVersion, JudgeExport
from reviewapp.exports.selection import Filters
from reviewapp.exports.services import evaluation_set_selection
from reviewapp.lib import files
from reviewapp.lib.forms import render_page, show_service_errors
from reviewapp.queues import services as queues
from reviewapp.requestlog.models import Request

from . import services, tuning
from .agreement import agreement
from .forms import ChangeForm, JudgeForm, QueueForm
from .models import Judge, JudgeResult

# The judge configuration a few-shot export writes (exports.judge_examples).
CONFIG_FILE = "judges.yaml"
CELLS = {"pass-pass", "pass-fail", "fail-pass", "fail-fail"}
LISTED = 50
ERRORS_SHOWN = 5


def _judge(request: HttpRequest, slug: str, name: str, action: str = "monitor") -> Judge:
    app = get_app_for(request.user, slug, action)
    judge = Judge.objects.live().filter(app=app, name=name).select_related("app").first()
    if judge is None:
        raise Http404("No such judge")
    return judge


@login_required
def judge_list(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    form = JudgeForm(request.POST or None)
    if request.method == "POST":
        app = get_app_for(request.user, slug, "update")
        if form.is_valid():
            try:
                judge = services.create_judge(app=app, user=request.user, **form.cleaned_data)
                return redirect("judge-detail", slug=app.slug, name=judge.name)
            except ValidationError as exc:
                show_service_errors(form, exc)
    judges = []
    for judge in Judge.objects.live().filter(app=app).prefetch_related("versions"):
        current = judge.current
        judges.append({"judge": judge, "current": current, **current.tally()})
    context = {
        "app": app,
        "nav": "apps",
        "judges": judges,
        "form": form,
        "latest_examples": JudgeExport.objects.filter(app=app).first(),
    }
    return render_page(request, "judges/judge_list.html", context, forms=[form])


@login_required
def examples_config(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The judges.yaml of a few-shot export as text to read in the browser, beside its download."""
    app = get_app_for(request.user, slug, "monitor")
    export = get_object_or_404(JudgeExport.objects.filter(app=app), pk=pk)
    context = {"app": app, "nav": "apps", "export": export, "file": CONFIG_FILE, "text": None, "problem": ""}
    status = 200
    try:
        handle = export.open_file(CONFIG_FILE)
        if handle is None:
            raise Http404("This export has no judges.yaml")
        with handle:
            context["text"] = handle.read().decode("utf-8", errors="replace")
    except Exception as exc:
        if not files.unreachable(exc):
            raise
        context["problem"], status = STORE_DOWN, 503
    return render(request, "judges/examples_config.html", context, status=status)


@login_required
def judge_detail(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    judge = _judge(request, slug, name)
    versions = list(judge.versions.all())
    asked = request.GET.get("version", "")
    version = next((v for v in versions if str(v.number) == asked), versions[-1])
    measured = agreement(version)
    cell = request.GET.get("cell", "")
    shown = []
    if cell in CELLS:
        human, said = cell.split("-")
        ids = measured.items[human][said][:LISTED]
        shown = list(Request.objects.filter(app=judge.app, request_id__in=ids).order_by("-created_at"))
    disagreeing = list(
        Request.objects.filter(app=judge.app, request_id__in=measured.disagreements[:LISTED]).order_by(
            "-created_at"
        )
    )
    results = {
        str(r.request_id): r
        for r in JudgeResult.objects.filter(
            version=version, request_id__in=[*(s.pk for s in shown), *(d.pk for d in disagreeing)]
        )
    }
    tuned = None
    if version.tuned_from is not None:
        held_out = set(version.held_out)
        tuned = {
            "before": agreement(version.tuned_from, request_ids=held_out),
            "after": agreement(version, request_ids=held_out),
            "held_out": len(held_out),
        }
    context = {
        "app": judge.app,
        "nav": "apps",
        "judge": judge,
        "tuned": tuned,
        "tunable": judge.kind == Judge.Kind.LLM and measured.criterion in tuning.TUNABLE,
        "versions": versions,
        "version": version,
        "measured": measured,
        "cell": cell,
        "cell_title": "Reviewers {}, judge {}".format(*cell.split("-")) if cell in CELLS else "",
        "shown": [(r, results.get(str(r.pk))) for r in shown],
        "disagreeing": [(r, results.get(str(r.pk))) for r in disagreeing],
        "tally": version.tally(),
        "errors": JudgeResult.objects.filter(version=version, value=JudgeResult.Value.ERROR)[:ERRORS_SHOWN],
        "change_form": ChangeForm(
            kind=judge.kind,
            initial={
                "metric": version.metric,
                "threshold": version.threshold,
                "instructions": version.instructions,
                "model": version.model,
                "endpoint_url": version.endpoint_url,
                "key_env": version.key_env,
                "sample_percent": judge.sample_percent,
                "daily_cap": judge.daily_cap,
            },
        ),
        "queue_form": QueueForm(app=judge.app),
        "set_versions": EvaluationSetVersion.objects.filter(evaluation_set__app=judge.app)
        .select_related("evaluation_set")
        .order_by("evaluation_set__name", "-number"),
    }
    return render_page(request, "judges/judge_detail.html", context)


@login_required
@require_POST
def change_judge(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    judge = _judge(request, slug, name, "update")
    form = ChangeForm(request.POST, kind=judge.kind)
    if form.is_valid():
        try:
            version = services.update_judge(judge=judge, user=request.user, **form.cleaned_data)
            messages.success(request, f"{judge.name} is at version {version.number}.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, " ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items()))
    return redirect("judge-detail", slug=judge.app.slug, name=judge.name)


@login_required
@require_POST
def run_judge(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    judge = _judge(request, slug, name)
    number = request.POST.get("version", "")
    chosen = request.POST.get("selection", "")  # "" for every reviewed request, or "<set id>:<version>"
    try:
        filters = Filters()
        if chosen:
            version = EvaluationSetVersion.objects.filter(
                evaluation_set__app=judge.app, pk=chosen if chosen.isdigit() else 0
            ).first()
            if version is None:
                raise ValidationError("Pick an evaluation set version of this app.")
            filters = evaluation_set_selection(judge.app, version.evaluation_set.name, version.number)
        job = services.start_run(
            judge=judge,
            user=request.user,
            filters=filters,
            version=int(number) if number.isdigit() else None,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("judge-detail", slug=judge.app.slug, name=judge.name)
    return redirect("job-progress", job_id=job.id)


@login_required
@require_POST
def delete_judge(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    judge = _judge(request, slug, name, "update")
    services.delete_judge(judge=judge)
    messages.success(request, f"{judge.name} is deleted; its results are kept.")
    return redirect("judge-list", slug=judge.app.slug)


@login_required
@require_POST
def queue_disagreements(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """The version's disagreements with the reviewers into a review queue, each request once."""
    judge = _judge(request, slug, name)
    version = judge.versions.filter(number=request.POST.get("version") or 0).first() or judge.current
    form = QueueForm(request.POST, app=judge.app)
    if not form.is_valid():
        messages.error(request, "Pick a review queue of this app.")
    else:
        ids = agreement(version).disagreements
        if not ids:
            messages.error(request, "This version has no disagreement with the reviewers to review.")
        else:
            added = queues.add_items(queue=form.cleaned_data["queue"], request_ids=ids)
            messages.success(
                request,
                f"{len(added.added)} added to {form.cleaned_data['queue'].name}; "
                f"{len(added.already_in_queue)} already there.",
            )
    detail = reverse("judge-detail", kwargs={"slug": judge.app.slug, "name": judge.name})
    return redirect(f"{detail}?version={version.number}")


@login_required
@require_POST
def tune_judge(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    judge = _judge(request, slug, name, "update")
    try:
        job = services.start_tuning(
            judge=judge, user=request.user, override=request.POST.get("override") == "on"
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("judge-detail", slug=judge.app.slug, name=judge.name)
    return redirect("job-progress", job_id=job.id)
