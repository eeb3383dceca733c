from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers

from reviewapp.catalog.permissions import get_app_for
from reviewapp.lib.filters import errors_by_parameter
from reviewapp.lib.forms import render_page

from . import charts
from .forms import RANGES, DashboardForm, DashboardQuery, query_string, served_versions
from .quality import PRECISION_AT, Quality, WindowError, quality

# The dashboard's charts, by section, in the order the page shows them.
SECTIONS = [
    ("traffic", "Traffic and health", ["requests", "errors", "latency", "tokens", "cost"]),
    (
        "people",
        "Quality from people",
        ["reviewed", "thumbs_up", "judges", "reasons", "corrections", "reviewers"],
    ),
    (
        "retrieval",
        "Retrieval from chunk ratings",
        ["chunk_precision", "hit_rate", "mrr", "precision_at_k", "missing_sources"],
    ),
    ("drift", "Drift", ["drift", "new_documents"]),
]
# Text a spreadsheet would run as a formula: such cells of a CSV start with a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _has_prices(app) -> bool:
    return app.price_input_per_1k is not None or app.price_output_per_1k is not None


def _read(request: HttpRequest, app) -> tuple[DashboardForm, DashboardQuery, Quality]:
    form = DashboardForm(request.GET)
    form.is_valid()
    query = form.query()
    try:
        return form, query, quality(app, query.window)
    except WindowError as error:
        # The form checks what quality() refuses; should a rule differ, say so and show the defaults.
        form.add_error(error.field if error.field in form.fields else None, error.message)
        query = DashboardForm({}).query()
        return form, query, quality(app, query.window)


def _colours(app_versions: list[str], q: Quality) -> dict[str, str]:
    # By the app's versions, so a version keeps its colour whichever others are shown with it.
    known = list(app_versions) + [vq.version for vq in q.versions if vq.version not in app_versions]
    return charts.colours_for(known)


@login_required
# The body alone answers htmx, the page answers the rest: the browser's cache must tell them apart,
# or going back to the dashboard shows the body without the page around it.
@vary_on_headers("HX-Request")
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """Quality over time per app version: figures side by side, charts, A/B, drift."""
    app = get_app_for(request.user, slug, "monitor")
    app_versions = served_versions(app)
    form, query, q = _read(request, app)
    colours = _colours(app_versions, q)
    log_url = reverse("requestlog", args=[app.slug])
    url = reverse("app-dashboard", args=[app.slug])
    by_version = {vq.version: vq for vq in q.versions}
    order = [by_version[v] for v in query.compare if v in by_version] if query.compare else q.versions
    shown = {name for _, _, names in SECTIONS for name in names}
    if not _has_prices(app):
        shown.discard("cost")
    drawn = {name: charts.chart(name, q, colours, log_url) for name in shown} if q.versions else {}
    controls = form.controls(app_versions)
    context = {
        "app": app,
        "nav": "apps",
        "form": form,
        "query": query,
        "quality": q,
        "order": [
            (
                vq,
                colours[vq.version],
                charts.Scope(vq.version, query.window.since, query.window.until).log_query(),
            )
            for vq in order
        ],
        "controls": controls,
        "version_choices": [(v, colours.get(v, charts.PALETTE[0])) for v in controls.versions],
        "sections": charts.figure_sections(q, order, log_url, prices=_has_prices(app)) if order else [],
        "chart_sections": [
            (key, title, [drawn[name] for name in names if name in drawn]) for key, title, names in SECTIONS
        ],
        "presets": [
            (key, label, query_string(query.params(range=key, since=None, until=None, bucket=None)))
            for key, (label, _) in RANGES.items()
        ],
        "all_versions_query": query_string(query.params(versions=None, compare=None, a=None, b=None)),
        "pinned_query": query_string(query.pinned()),
        "dashboard_url": url,
        "log_url": log_url,
        "has_prices": _has_prices(app),
        "k_choices": PRECISION_AT,
    }
    # htmx restoring a page it has no copy of asks for the whole page.
    part = None if request.htmx.history_restore_request else "dashboard-body"
    return render_page(request, "monitoring/dashboard.html", context, part=part, forms=[form])


def _chart_for(request: HttpRequest, slug: str, name: str):
    app = get_app_for(request.user, slug, "monitor")
    if name not in charts.CHART_NAMES:
        raise Http404("No such chart")
    form = DashboardForm(request.GET)
    if not form.is_valid():
        return app, form, None, None
    query = form.query()
    try:
        q = quality(app, query.window)
    except WindowError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return app, form, None, None
    log_url = reverse("requestlog", args=[app.slug])
    return app, form, query, charts.chart(name, q, _colours(served_versions(app), q), log_url)


def _csv_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


@login_required
def chart_csv(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    """The data of one chart, one row per version and bucket (or category), the counts included."""
    app, form, query, drawn = _chart_for(request, slug, chart)
    if drawn is None:
        return JsonResponse(errors_by_parameter(form.errors), status=400)
    w = query.window
    response = HttpResponse(drawn.csv(text=_csv_text), content_type="text/csv; charset=utf-8")
    name = f"{app.slug}-{chart}-{w.since:%Y%m%dT%H%M}-{w.until:%Y%m%dT%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def chart_table(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    """One chart with its data as a table, every count a link to the requests it counts."""
    app, form, query, drawn = _chart_for(request, slug, chart)
    context = {
        "app": app,
        "nav": "apps",
        "form": form,
        "chart": drawn,
        "query": query,
        "pinned_query": query_string(query.pinned()) if query else "",
        "dashboard_url": reverse("app-dashboard", args=[app.slug]),
        "log_url": reverse("requestlog", args=[app.slug]),
    }
    if drawn is not None:
        context["table"] = drawn.table(context["log_url"])
    return render(request, "monitoring/chart.html", context, status=200 if drawn else 400)
