from django.http import Http404

from reviewapp.catalog.models import Level

from .models import Job


def get_job_for(user, job_id) -> Job:
    """A job its creator, or a manager of its app, may see; 404 for everyone else."""
    job = Job.objects.select_related("app").filter(pk=job_id).first()
    if job is None or not user.is_authenticated:
        raise Http404("No such job")
    if job.created_by_id == user.pk or user.is_staff or user.is_superuser:
        return job
    if job.app and job.app.level_for(user) >= Level.CAN_MANAGE:
        return job
    raise Http404("No such job")
