"""Celery's side of reviewapp.lib.logs: our log handlers in `celery worker` and `celery beat`, and
the request id carried to the tasks a request starts.

The id travels as a header of the task message (set when it is sent, so a redelivered task keeps
it) and is the current one while the task runs, with the task's id and name, so each line the task
logs carries them. A task sent outside a request (by beat, a command) gets an id of its own.
Imported by reviewapp.celery, so every process that can send or run a task has these receivers.
"""

import logging

from celery import signals

from reviewapp.lib import logs

HEADER = "request_id"

_running: dict[str, tuple] = {}
_log = logging.getLogger("celery.worker")


@signals.before_task_publish.connect(dispatch_uid="reviewapp.request_id.publish")
def _send_request_id(headers=None, **kwargs) -> None:
    if headers is not None and not headers.get(HEADER):
        headers[HEADER] = logs.current_request_id() or logs.new_request_id()


@signals.task_prerun.connect(dispatch_uid="reviewapp.request_id.prerun")
def _enter_task(task_id=None, task=None, **kwargs) -> None:
    request_id = logs.sane_request_id(task.request.get(HEADER)) or logs.new_request_id()
    _running[task_id] = logs.enter(request_id, (task_id, task.name))


@signals.task_postrun.connect(dispatch_uid="reviewapp.request_id.postrun")
def _leave_task(task_id=None, **kwargs) -> None:
    tokens = _running.pop(task_id, None)
    if tokens is not None:
        logs.leave(tokens)


@signals.setup_logging.connect(dispatch_uid="reviewapp.logging")
def _configure_logging(loglevel=None, **kwargs) -> None:
    """Any receiver here stops Celery from setting up logging its own way (its handlers on the
    root and task loggers, text lines), in `celery worker` and `celery beat` alike."""
    from django.conf import settings

    logs.configure(settings.LOGGING)
    if settings.LOG_FORMAT == "json":
        logs.stderr_to_log()
    if loglevel:
        logging.getLogger().setLevel(loglevel)  # the command line's --loglevel


@signals.celeryd_init.connect(dispatch_uid="reviewapp.logging.banner")
def _banner_as_a_log_line(instance=None, **kwargs) -> None:
    """The worker prints a multi-line banner before it logs; in JSON it is one line, logged."""
    from django.conf import settings

    if settings.LOG_FORMAT == "json" and not instance.quiet:
        instance.quiet = True
        signals.celeryd_after_setup.connect(_log_banner, dispatch_uid="reviewapp.logging.banner.log")


def _log_banner(sender=None, instance=None, **kwargs) -> None:
    _log.info("%s", instance.startup_info(artlines=False).strip())
