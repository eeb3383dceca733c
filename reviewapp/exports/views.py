import itertools
import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from reviewapp.catalog.permissions import get_app_for
from reviewapp.jobs.services import eta_seconds
from reviewapp.lib.forms import render_page, show_service_errors
from reviewapp.reliability.services import weights_for

from . import downloads, services
from .forms import CustomJudgeForm, EvaluationSetForm, JudgeExportForm
from .models import CustomJudge, EvaluationSet, EvaluationSetVersion, JudgeExport
from .rows import RULES, evaluation_rows
from .selection import CurationFilter, curated_requests, iter_reviewed

TABLE_ROWS = 100
PREVIEW_ROWS = 5


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _filter_words(filters: dict) -> list[str]:
    """A manifest's filters as people read them ("Rating: negative"), labels as on the curation form."""
    labels = {name: f.label for name, f in CurationFilter.base_filters.items()}
    words = []
    # In the form's order: a stored manifest (jsonb) keeps no order of its own.
    ordered = sorted(
        filters.items(), key=lambda kv: list(labels).index(kv[0]) if kv[0] in labels else len(labels)
    )
    for name, value in ordered:
        if name == "request_ids":
            words.append(f"picked by hand: {_count(len(value), 'request')}")
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif name in ("since", "until"):
            value = str(value)[:16].replace("T", " ") + " UTC"
        words.append(f"{labels.get(name, name.replace('_', ' ').capitalize())}: {value}")
    return words


def _counts_words(counts: dict, what: str) -> list[str]:
    """{"1": 2} → ["version 1: 2 rows"], most rows first."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [f"{what} {key or '(none)'}: {_count(n, 'row')}" for key, n in ordered]


def _summary(item) -> dict:
    ratings = [a["rating"] for a in item.assessments if a["rating"]]
    reasons = sorted({r for a in item.assessments for r in a["reasons"] or []})
    return {
        "item": item,
        "positive": ratings.count("positive"),
        "negative": ratings.count("negative"),
        "reasons": reasons,
        "corrected": any(a["corrected_response"] for a in item.assessments),
        "chunk_ratings": sum(len(item.ratings(a["retrieval_assessments"])) for a in item.assessments),
        "reviewers": [a["source_id"] for a in item.assessments],
    }


def _curation_context(request: HttpRequest, app, curation, export_form=None, judge_form=None) -> dict:
    filters = curation.selection() if curation.is_valid() else None
    rule = request.GET.get("rule") if request.GET.get("rule") in RULES else "majority"
    include_outputs = request.GET.get("include_outputs") == "on"
    context = {
        "app": app,
        "nav": "apps",
        "filter_form": curation.form,
        "export_form": export_form
        or EvaluationSetForm(initial={"rule": rule, "include_outputs": include_outputs}),
        "judge_form": judge_form or JudgeExportForm(app=app, initial={"rule": rule}),
        "rule": rule,
        "rules": [(name, name.replace("_", " ")) for name in RULES],
        "query": request.GET.urlencode(),
    }
    if filters is not None:
        items = list(itertools.islice(iter_reviewed(app=app, filters=filters), TABLE_ROWS))
        context["matching"] = curated_requests(app=app, filters=filters).count()
        context["rows"] = [_summary(item) for item in items]
        weighed = iter_reviewed(app=app, filters=filters, weights=weights_for(app, rule))
        preview = evaluation_rows(weighed, rule=rule, include_outputs=include_outputs)
        rows = [row for _, row in itertools.islice(preview, PREVIEW_ROWS)]
        # Read as cards; the exact JSONL lines stay one click away.
        context["preview_rows"] = rows
        context["preview"] = [json.dumps(row, ensure_ascii=False) for row in rows]
    return context


@login_required
def curate(request: HttpRequest, slug: str) -> HttpResponse:
    """Filter reviewed requests, tick some (or take all that match), preview rows and export."""
    app = get_app_for(request.user, slug, "monitor")
    curation = CurationFilter(request.GET, app=app)
    part = "curation-results" if request.htmx.target == "curation-results" else None
    status = 200 if curation.is_valid() else 400
    return render_page(
        request, "exports/curate.html", _curation_context(request, app, curation), part=part, status=status
    )


def _start(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    curation = CurationFilter(request.POST, app=app)
    if kind == "evaluation_set":
        form = EvaluationSetForm(request.POST)
    else:
        form = JudgeExportForm(request.POST, app=app)
    job = None
    if curation.is_valid() and form.is_valid():
        filters = curation.selection(request_ids=form.picked_ids())
        data = form.cleaned_data
        try:
            if kind == "evaluation_set":
                job = services.start_evaluation_set_export(
                    app=app,
                    user=request.user,
                    name=data["name"],
                    filters=filters,
                    rule=data["rule"],
                    include_outputs=data["include_outputs"],
                )
            else:
                job = services.start_judge_export(
                    app=app,
                    user=request.user,
                    filters=filters,
                    rule=data["rule"],
                    judges=data["judges"],
                    examples_per_judge=data["examples_per_judge"],
                    holdout_set=data["holdout_set"],
                    holdout_by=data["holdout_by"],
                )
        except ValidationError as exc:
            show_service_errors(form, exc)
    if request.htmx:
        context = {"app": app, "job": job, "form": form, "filter_form": curation.form, "kind": kind}
        if job is None:
            return render(request, "exports/start_result.html", context, status=400)
        context["eta"] = eta_seconds(job)
        context["result_template"] = f"jobs/result_{job.kind}.html"
        return render(request, "exports/start_result.html", context)
    if job is not None:
        return redirect("job-progress", job_id=job.id)
    forms = {"export_form": form} if kind == "evaluation_set" else {"judge_form": form}
    context = _curation_context(request, app, curation, **forms)
    return render(request, "exports/curate.html", context, status=400)


@login_required
@require_POST
def start_evaluation_set(request: HttpRequest, slug: str) -> HttpResponse:
    return _start(request, slug, "evaluation_set")


@login_required
@require_POST
def start_judge_examples(request: HttpRequest, slug: str) -> HttpResponse:
    return _start(request, slug, "judge_examples")


@login_required
def export_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Every evaluation set with its versions, the judge exports and the custom judges."""
    app = get_app_for(request.user, slug, "monitor")
    form = CustomJudgeForm(app=app)
    if request.method == "POST":
        form = CustomJudgeForm(request.POST, app=app)
        if form.is_valid():
            try:
                services.create_custom_judge(app=app, user=request.user, **form.cleaned_data)
                return redirect("export-list", slug=app.slug)
            except ValidationError as exc:
                show_service_errors(form, exc)
    context = {
        "app": app,
        "nav": "apps",
        "sets": EvaluationSet.objects.filter(app=app).prefetch_related("versions"),
        "judge_exports": JudgeExport.objects.filter(app=app)[:50],
        "custom_judges": CustomJudge.objects.filter(app=app),
        "judge_form": form,
    }
    return render(request, "exports/export_list.html", context, status=400 if form.errors else 200)


def _version(user, slug: str, name: str, number: int) -> EvaluationSetVersion:
    app = get_app_for(user, slug, "monitor")
    return get_object_or_404(
        EvaluationSetVersion.objects.select_related("evaluation_set__app", "created_by"),
        evaluation_set__app=app,
        evaluation_set__name=name,
        number=number,
    )


@login_required
def version_detail(request: HttpRequest, slug: str, name: str, number: int) -> HttpResponse:
    version = _version(request.user, slug, name, number)
    app = get_app_for(request.user, slug, "monitor")
    manifest = version.manifest or {}
    context = {
        "app": app,
        "version": version,
        "nav": "apps",
        "rule_words": str(manifest.get("rule") or "—").replace("_", " "),
        "filter_words": _filter_words(manifest.get("filters") or {}),
        "app_version_words": _counts_words(manifest.get("app_versions") or {}, "version"),
        "instructions_words": _counts_words(manifest.get("instructions_versions") or {}, "version"),
    }
    return render(request, "exports/version_detail.html", context)


def _file(obj, filename: str) -> HttpResponse:
    try:
        return downloads.file_response(obj, filename)
    except downloads.StoreUnavailable as exc:
        headers = {"Retry-After": str(downloads.RETRY_AFTER_SECONDS)}
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8", headers=headers)


@login_required
def version_file(request: HttpRequest, slug: str, name: str, number: int, filename: str) -> FileResponse:
    return _file(_version(request.user, slug, name, number), filename)


def _judge_export(user, slug: str, pk: int) -> JudgeExport:
    app = get_app_for(user, slug, "monitor")
    return get_object_or_404(JudgeExport.objects.select_related("app", "created_by"), app=app, pk=pk)


@login_required
def judge_export_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    export = _judge_export(request.user, slug, pk)
    return render(request, "exports/judge_export_detail.html", {"app": app, "export": export, "nav": "apps"})


@login_required
def judge_export_file(request: HttpRequest, slug: str, pk: int, filename: str) -> FileResponse:
    return _file(_judge_export(request.user, slug, pk), filename)
