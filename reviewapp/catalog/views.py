from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods

from reviewapp.lib.forms import render_page, show_service_errors, status_for

from . import services
from .forms import LEVEL_CHOICES, AppForm, DeleteAppForm, GrantForm, InstructionsForm
from .models import App
from .permissions import get_app_for


@login_required
def app_list(request: HttpRequest) -> HttpResponse:
    apps = App.objects.visible_to(request.user).order_by("name")
    context = {"apps": apps, "nav": "apps", "can_create": services.can_create_apps(request.user)}
    return render(request, "catalog/app_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def app_create(request: HttpRequest) -> HttpResponse:
    if not services.can_create_apps(request.user):
        raise PermissionDenied(services.who_may_create_apps())
    form = AppForm(request.POST or None, creating=True, initial={"reasons": "\n".join(App().reasons)})
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        slug = form.cleaned_data["slug"] or slugify(fields["name"])
        try:
            app = services.create_app(actor=request.user, slug=slug, **fields)
        except ValidationError as exc:
            show_service_errors(form, exc, AppForm.service_errors)
        else:
            messages.success(request, f"{app.name} is ready. Write the instructions for its reviewers below.")
            return redirect("app-settings", app.slug)
    return render(request, "catalog/app_create.html", {"form": form, "nav": "apps"}, status=status_for(form))


@login_required
def app_detail(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "view")
    context = {"app": app, "instructions": app.current_instructions(), "nav": "apps"}
    return render(request, "catalog/app_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def app_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Two forms on one page, told apart by the `form` field; htmx gets the saved form back."""
    app = get_app_for(request.user, slug, "update")
    which = request.POST.get("form") if request.method == "POST" else None
    app_form = AppForm(request.POST if which == "app" else None, initial=AppForm.initial_for(app))
    current = app.current_instructions()
    instructions_form = InstructionsForm(
        request.POST if which == "instructions" else None,
        initial={"markdown": current.markdown if current else ""},
    )
    saved = None
    if which == "app" and app_form.is_valid():
        try:
            app = _keep_level(
                services.update_app(actor=request.user, app=app, changes=app_form.service_fields()), app
            )
        except ValidationError as exc:
            show_service_errors(app_form, exc, AppForm.service_errors)
        else:
            saved = "app"
            app_form = AppForm(initial=AppForm.initial_for(app))
    elif which == "instructions" and instructions_form.is_valid():
        try:
            current = services.set_review_instructions(
                actor=request.user, app=app, markdown=instructions_form.cleaned_data["markdown"]
            )
        except ValidationError as exc:
            show_service_errors(instructions_form, exc)
        else:
            saved = "instructions"
            instructions_form = InstructionsForm(initial={"markdown": current.markdown})
    if which and not saved and not request.htmx:
        messages.error(request, "Nothing was saved: see the errors below.")
    context = {
        "app": app,
        "app_form": app_form,
        "instructions_form": instructions_form,
        "instructions": current,
        "instructions_history": app.instructions.select_related("created_by")[:20],
        "versions": app.versions.select_related("created_by")[:20],
        "saved": saved,
        "nav": "apps",
    }
    part = {"app": "app-form", "instructions": "instructions-form"}.get(which)
    return render_page(
        request, "catalog/app_settings.html", context, part=part, forms=[app_form, instructions_form]
    )


def _keep_level(updated: App, seen: App) -> App:
    updated.level = seen.level
    return updated


@login_required
@require_http_methods(["GET", "POST"])
def app_delete(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "delete")
    form = DeleteAppForm(request.POST or None, app=app)
    if request.method == "POST" and form.is_valid():
        services.delete_app(actor=request.user, app=app)
        messages.success(request, f"{app.name} was deleted.")
        return redirect("app-list")
    return render(
        request, "catalog/app_delete.html", {"app": app, "form": form, "nav": "apps"}, status=status_for(form)
    )


@login_required
@require_http_methods(["GET", "POST"])
def app_permissions(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "permissions")
    form = GrantForm(request.POST or None)
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            services.set_permissions(
                actor=request.user,
                app=app,
                principals=form.principal_list(),
                level=form.cleaned_data["level"],
            )
        except ValidationError as exc:
            show_service_errors(form, exc)
        else:
            saved = True
            form = GrantForm()
    if request.method == "POST" and not saved and not request.htmx:
        messages.error(request, "Nothing was changed: see the errors below.")
    context = {
        "app": app,
        "form": form,
        "grants": services.grants_of(app),
        "level_choices": LEVEL_CHOICES,
        "saved": saved,
        "recent_audit": app.audit.all()[:5],
        "nav": "apps",
    }
    part = "permissions-section" if request.method == "POST" else None
    return render_page(request, "catalog/app_permissions.html", context, part=part, forms=[form])


@login_required
def app_audit(request: HttpRequest, slug: str) -> HttpResponse:
    app = get_app_for(request.user, slug, "permissions")
    page = Paginator(app.audit.select_related("actor"), 50).get_page(request.GET.get("page"))
    return render(request, "catalog/app_audit.html", {"app": app, "page": page, "nav": "apps"})
