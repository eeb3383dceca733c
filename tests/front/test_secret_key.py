"""The placeholder SECRET_KEY of docker/.env.example, and weak keys outside DEBUG, stop start-up."""

import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured

from reviewapp.lib.env import check_secret_key
from tests.front.example_env import EXAMPLE, example_environment, run

PLACEHOLDER = next(
    line.partition("=")[2] for line in EXAMPLE.read_text().splitlines() if line.startswith("SECRET_KEY=")
)


def test_the_placeholder_of_the_example_stops_start_up_with_a_message(tmp_path):
    result = run(example_environment(tmp_path, SECRET_KEY=PLACEHOLDER), "manage.py", "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is the placeholder of docker/.env.example" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


@pytest.mark.parametrize("debug", [False, True])
def test_the_placeholder_is_refused_even_in_debug(debug):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is the placeholder"):
        check_secret_key(PLACEHOLDER, debug=debug)


@pytest.mark.parametrize(
    "key",
    [
        "short-but-random-4f9a",
        "ab" * 40,  # long, two different characters
        "django-insecure-" + "x7Kq2-Lm9Pz4Rt8Vw1Yb6Nc3Hd5Jf0Gs_Ae" * 2,
    ],
    ids=["short", "two-characters", "insecure-prefix"],
)
def test_a_weak_key_is_refused_outside_debug_only(key):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is too weak for DEBUG=false"):
        check_secret_key(key, debug=False)
    check_secret_key(key, debug=True)


def test_a_key_like_the_generated_one_is_accepted():
    check_secret_key(secrets.token_urlsafe(50), debug=False)
