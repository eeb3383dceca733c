from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.views.decorators.http import require_POST

from .access import get_job_for
from .services import AlreadyFinished, cancel_job, eta_seconds


@login_required
def job_progress(request: HttpRequest, job_id) -> HttpResponse:
    """The progress fragment; it polls itself with htmx until the job has finished."""
    job = get_job_for(request.user, job_id)
    result_template = select_template([f"jobs/result_{job.kind}.html", "jobs/result_default.html"])
    context = {"job": job, "eta": eta_seconds(job), "result_template": result_template.template.name}
    template = "jobs/progress.html" if request.htmx else "jobs/job_page.html"
    return render(request, template, context)


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id) -> HttpResponse:
    job = get_job_for(request.user, job_id)
    try:
        cancel_job(job)
    except AlreadyFinished as exc:
        messages.info(request, str(exc))
    if request.htmx:
        return job_progress(request, job_id)
    return redirect("job-progress", job_id=job.pk)
