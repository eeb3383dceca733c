"""A web or worker process starts without the scoring libraries: rouge-score (nltk), scikit-learn,
numpy, pandas and pyarrow cost seconds and some 150 MB, and only judges, agreement figures and
Parquet exports use them, which import them when they run. A web process does load its views as
it starts, so that no request waits for them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("nltk", "sklearn", "scipy", "numpy", "pandas", "pyarrow", "rouge_score")

LOAD = """
import sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
from reviewapp.celery import app
app.loader.import_default_modules()
print(",".join(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def printed_by(code: str) -> str:
    """What `code` prints, run by a new Python process in the project, with its settings."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reviewapp.settings", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_loading_the_urls_and_the_tasks_imports_no_scoring_library():
    assert printed_by(LOAD.format(heavy=HEAVY)).strip() == ""


# What the web server imports; then which of the URLconf and the views are loaded, and whether the
# resolver has mapped them (a first reverse() or resolve() would otherwise do both).
LOADED = """
import sys
import {module}
from django.urls import get_resolver
resolver = get_resolver()
print(",".join(name for name in {views!r} if name in sys.modules), bool(resolver._reverse_dict))
"""
VIEWS = ("reviewapp.urls", "reviewapp.feedback.api", "reviewapp.requestlog.api", "reviewapp.front.views")


@pytest.mark.parametrize("module", ["reviewapp.wsgi", "reviewapp.asgi"])
def test_a_web_process_loads_its_views_before_its_first_request(module):
    assert printed_by(LOADED.format(module=module, views=VIEWS)).split() == [",".join(VIEWS), "True"]


def test_a_rouge_score_still_computes_after_the_lazy_import():
    from reviewapp.judges.metrics import rouge_l

    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert 0 < rouge_l("the cat sat", "the cat sat on the mat") < 1
