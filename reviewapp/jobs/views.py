from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import select_template

from .access import get_job_for
from .services import eta_seconds


@login_required
def job_progress(request: HttpRequest, job_id) -> HttpResponse:
    """The progress fragment; it polls itself with htmx until the job has finished."""
    job = get_job_for(request.user, job_id)
    result_template = select_template([f"jobs/result_{job.kind}.html", "jobs/result_default.html"])
    context = {"job": job, "eta": eta_seconds(job), "result_template": result_template.template.name}
    template = "jobs/progress.html" if request.htmx else "jobs/job_page.html"
    return render(request, template, context)
