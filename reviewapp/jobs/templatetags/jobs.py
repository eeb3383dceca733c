from django import template

register = template.Library()


@register.filter
def took(job) -> str:
    """How long a finished job ran, in words: "under a minute", "3 minutes", "1 hour 5 minutes"."""
    if not job.started_at or not job.finished_at:
        return ""
    minutes = int((job.finished_at - job.started_at).total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    if minutes:
        parts.append(f"{minutes} minute{'s' * (minutes != 1)}")
    return " ".join(parts)
