from celery import shared_task

from . import services


@shared_task(name="reviewapp.jobs.sweep", ignore_result=True)
def sweep() -> int:
    """Send again the jobs no message is likely to start (on beat, every JOB_SWEEP_SECONDS)."""
    return services.sweep()
