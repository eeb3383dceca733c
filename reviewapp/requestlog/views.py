from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from reviewapp.catalog.permissions import get_app_for
from reviewapp.feedback import summary
from reviewapp.feedback.models import Assessment, RequestFeedback
from reviewapp.jobs.services import eta_seconds
from reviewapp.lib.forms import render_page, show_service_errors

from . import browse, services
from .forms import AddToQueueForm, JsonlImportForm, MlflowImportForm
from .jsonl_import import sample_jsonl
from .models import Request
from .trace_view import span_tree


def _queues(app):
    from reviewapp.queues.models import ReviewQueue

    return list(ReviewQueue.objects.filter(app=app).taking_requests().order_by("name").only("id", "name"))


def _log_filter(app, data) -> browse.RequestLogFilter:
    return browse.RequestLogFilter(data, queryset=Request.objects.for_app(app))


def _with_query(url: str, query: dict) -> str:
    return f"{url}?{urlencode(query)}" if query else url


def _feedback_of(request_ids: list) -> dict:
    """{request_id: {"positive", "negative", "reviewers"}}: the effective ratings, from the summaries."""
    summary.catch_up()  # feedback recorded since the last sum
    rows = RequestFeedback.objects.filter(request_id__in=request_ids).values_list(
        "request_id", "up", "down", "reviewers"
    )
    return {
        request_id: {"positive": up, "negative": down, "reviewers": reviewers}
        for request_id, up, down, reviewers in rows
        if reviewers
    }


@login_required
def request_log(request, slug: str) -> HttpResponse:
    """The request log of an app, newest first, filtered, one keyset page at a time."""
    app = get_app_for(request.user, slug, "monitor")
    log = _log_filter(app, request.GET)
    pages = browse.PageForm(request.GET)
    page, summary, status = None, {}, 200
    if log.is_valid() and pages.is_valid():
        page = pages.page_of(log.qs)
        summary = _feedback_of([row.request_id for row in page.rows])
    else:
        status = 400
    query = log.query()
    log_url = reverse("requestlog", args=[app.slug])
    chips = [
        {
            **chip,
            "remove_url": _with_query(log_url, {k: v for k, v in query.items() if k not in chip["names"]}),
        }
        for chip in log.chips()
    ]
    context = {
        "app": app,
        "nav": "apps",
        "form": log.form,
        "errors": {**log.errors, **pages.errors},
        "paged": bool(request.GET.get("after") or request.GET.get("before")),
        "page": page,
        "rows": [(row, summary.get(row.request_id)) for row in page.rows] if page else [],
        "filter_query": urlencode(query),
        # Row links are built from these two strings: a reverse() per row costs more than the query.
        "log_url": log_url,
        "back_query": "?" + urlencode({"back": urlencode(query)}) if query else "",
        "filter_items": list(query.items()),
        "chips": chips,
        "chip_items": [(name, query[name]) for chip in chips for name in chip["names"] if name in query],
        "max_matching": browse.MAX_MATCHING,
    }
    part = "log-results" if request.htmx.target == "log-results" else None
    return render_page(request, "requestlog/request_log.html", context, part=part, status=status)


@login_required
def request_detail(request, slug: str, request_id) -> HttpResponse:
    """One turn: the conversation up to it, the response, its chunks, its trace and its feedback."""
    app = get_app_for(request.user, slug, "monitor")
    turn = get_object_or_404(Request.objects.select_related("user"), app=app, request_id=request_id)
    # The assessments in force first, then the history; newest first in each.
    assessments = (
        Assessment.objects.filter(request=turn)
        .with_is_effective()
        .select_related("reviewer")
        .order_by("-is_effective", "-created_at", "-id")
    )
    context = {
        "app": app,
        "nav": "apps",
        "turn": turn,
        "history": turn.messages[:-1] if turn.messages else [],
        "asked": turn.messages[-1] if turn.messages else None,
        "spans": span_tree(turn.trace),
        "assessments": list(assessments),
        # Beside the humans' feedback: what each judge said, the live judges' only.
        "judged": list(
            turn.judge_results.filter(version__judge__deleted_at__isnull=True)
            .select_related("version__judge")
            .order_by("version__judge__name", "-version__number")
        ),
        "back": request.GET.get("back", ""),
    }
    return render(request, "requestlog/request_detail.html", context)


def _import_context(app, upload_form=None, mlflow_form=None, job=None) -> dict:
    return {
        "app": app,
        "nav": "apps",
        "upload_form": upload_form or JsonlImportForm(),
        "mlflow_form": mlflow_form or MlflowImportForm(app=app),
        "job": job,
        "eta": eta_seconds(job) if job else None,
        "result_template": "jobs/result_import_traces.html",
        "sample_lines": sample_jsonl().splitlines(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def request_import(request, slug: str) -> HttpResponse:
    """Import traces from a JSONL upload or an MLflow experiment, as a job with a progress bar."""
    app = get_app_for(request.user, slug, "monitor")
    upload_form, mlflow_form, job = None, None, None
    if request.method == "POST":
        if request.POST.get("source") == "mlflow":
            form = mlflow_form = MlflowImportForm(request.POST, app=app)
            if form.is_valid():
                try:
                    job = services.start_mlflow_import(app=app, user=request.user, **form.cleaned_data)
                except ValidationError as exc:
                    show_service_errors(form, exc)
        else:
            form = upload_form = JsonlImportForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    job = services.start_jsonl_import(
                        app=app, user=request.user, upload=form.cleaned_data["file"]
                    )
                except ValidationError as exc:
                    show_service_errors(form, exc)
        if job is not None and not request.htmx:
            return redirect("job-progress", job.id)
    context = _import_context(app, upload_form, mlflow_form, job)
    status = 400 if request.method == "POST" and job is None else 200
    part = "import-status" if request.method == "POST" else None
    return render_page(request, "requestlog/import.html", context, part=part, status=status)


@login_required
def request_import_sample(request, slug: str) -> HttpResponse:
    """A small JSONL file in the import's format, to start from."""
    get_app_for(request.user, slug, "monitor")
    response = HttpResponse(sample_jsonl(), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="reviewapp-import-sample.jsonl"'
    return response


@login_required
@require_POST
def add_to_queue(request, slug: str) -> HttpResponse:
    """The selected requests, or every request matching the filters, into a review queue.

    From the log (no `save`): the full queue form, carrying the selection or the filters. Saved:
    a new queue with all its settings, or an existing one; on an error the form comes back with
    everything typed and the selection still carried.
    """
    from reviewapp.queues import services as queue_services
    from reviewapp.queues.forms import QueueForm

    app = get_app_for(request.user, slug, "monitor")
    log = _log_filter(app, request.POST)
    pick = AddToQueueForm(request.POST, queues=_queues(app))
    back = reverse("requestlog", args=[app.slug])
    if log.is_valid() and log.query():
        back += "?" + urlencode(log.query())
    if not log.is_valid():
        problem = "The filters are not valid: " + "; ".join(
            f"{name}: {e}" for name, es in log.errors.items() for e in es
        )
        messages.error(request, problem)
        return redirect(back)
    saving = bool(request.POST.get("save"))
    if not pick.is_valid() and not saving:
        messages.error(request, " ".join(e for es in pick.errors.values() for e in es))
        return redirect(back)
    current = app.current_instructions()
    form = QueueForm(
        request.POST if saving else None,
        app=app,
        initial={"instructions": current.markdown if current else ""},
    )
    try:
        ids = _carried_ids(log, pick) if pick.is_valid() else []
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    new_queue = pick.is_valid() and pick.new_queue()
    ready = saving and pick.is_valid() and (not new_queue or form.is_valid())
    if ready:
        try:
            if new_queue:
                queue, result = queue_services.create_queue(
                    app=app, created_by=request.user, request_ids=ids, **form.settings()
                )
            else:
                queue = pick.chosen_queue()
                result = queue_services.add_items(queue=queue, request_ids=ids, actor=request.user)
        except ValidationError as exc:
            show_service_errors(form if new_queue else pick, exc)
        else:
            note = f"Added {len(result.added)} request(s) to “{queue.name}”"
            if result.already_in_queue:
                note += f"; {len(result.already_in_queue)} were already in it"
            messages.success(request, note + ".")
            return redirect("queue-detail", app.slug, queue.pk)
    context = {
        "app": app,
        "nav": "apps",
        "form": form,
        "pick": pick,
        "from_log": True,
        "carried_count": len(ids),
        "scope": request.POST.get("scope"),
        "carried_ids": request.POST.getlist("request_ids"),
        "filter_items": list(log.query().items()),
        "back": back,
    }
    return render(request, "queues/queue_create.html", context, status=400 if saving else 200)


def _carried_ids(log, pick: AddToQueueForm) -> list:
    if pick.cleaned_data["scope"] == "matching":
        return browse.matching_ids(log.qs)
    return pick.cleaned_data["request_ids"]
