"""gunicorn settings shared by `manage.py serve` and the Docker image (`gunicorn -c python:...`).

Threaded workers; each warms its chains once it runs (reviewapp.chains.warmup). The number of
workers comes from WEB_CONCURRENCY (or --workers); the address from HOST and PORT, so the
production command line (docker/compose.yaml's web, `make serve-prod`) names no port.
"""

import os

from reviewapp.lib import logs
from reviewapp.monitoring import metrics

# 0.0.0.0:8000 in a container (compose.yaml sets HOST and PORT for the web service); a --bind on
# the command line (`manage.py serve`) wins over this.
bind = f"{os.environ.get('HOST') or '0.0.0.0'}:{os.environ.get('PORT') or '8000'}"

worker_class = "gthread"
threads = 4
timeout = 120
# gunicorn's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl), shared by every
# gunicorn on the machine (replicas, tests); nothing here uses it.
control_socket_disable = True

# Its error and access lines as ours (LOG_FORMAT, LOG_LEVEL: reviewapp.lib.logs). The access line
# gets the request id from the response's X-Request-ID header (the atom %({x-request-id}o)s), and
# in JSON its atoms as fields, serialized by the formatter rather than quoted by this text.
logconfig_dict = logs.logging_config(logs.log_format(), logs.log_level(), gunicorn=True)
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


def on_starting(server):
    # Before the workers fork: what libraries print to stderr becomes JSON lines too.
    if logs.log_format() == "json":
        logs.stderr_to_log()
    # And the folder the workers count into for /metrics: this server's own, empty (its counters
    # start at zero), with what servers gone from this host left removed. METRICS_DIR is a setting.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    metrics.start_server()


def child_exit(server, worker):
    metrics.process_exited(worker.pid)


def post_worker_init(worker):
    # The WSGI app (and so Django) is loaded by now; the models load while the worker serves.
    from reviewapp.chains import warmup

    warmup.start_in_background()
