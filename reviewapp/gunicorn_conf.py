"""gunicorn settings shared by `manage.py serve` and the Docker image (`gunicorn -c python:...`).

Threaded workers; each warms its chains once it runs (reviewapp.chains.warmup). Bind address and
number of workers come from the command line (or WEB_CONCURRENCY).
"""

worker_class = "gthread"
threads = 4
timeout = 120
accesslog = "-"


def post_worker_init(worker):
    # The WSGI app (and so Django) is loaded by now; the models load while the worker serves.
    from reviewapp.chains import warmup

    warmup.start_in_background()
