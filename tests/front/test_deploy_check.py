"""`manage.py check --deploy` with the example production environment finds nothing to warn about."""

import json

from tests.front.example_env import example_environment, run


def check_deploy(env):
    return run(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")


def test_the_example_production_environment_passes_check_deploy(tmp_path):
    result = check_deploy(example_environment(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "security.W" not in output


def test_the_policy_names_the_image_hosts_and_the_identity_provider(tmp_path):
    env = example_environment(
        tmp_path,
        MARKDOWN_IMAGE_HOSTS="images.example.org, static.example.org:8443",
        OIDC_ISSUER="https://idp.example.org/realms/staff",
        OIDC_CLIENT_ID="reviewapp",
        SIGN_IN_REDIRECT_HOSTS="login.partner.example",
    )
    script = (
        "import django, json; django.setup(); "
        "from django.conf import settings; print(json.dumps(settings.SECURE_CSP))"
    )
    result = run(env, "-c", script)
    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout)
    assert policy["img-src"] == [
        "'self'",
        "data:",
        "http://127.0.0.1:8000",
        "images.example.org",
        "static.example.org:8443",
    ]
    assert policy["form-action"] == ["'self'", "https://idp.example.org", "login.partner.example"]


def test_a_bad_image_host_stops_start_up_naming_the_variable(tmp_path):
    env = example_environment(tmp_path, MARKDOWN_IMAGE_HOSTS="https://images.example.org/")
    result = run(env, "manage.py", "check")
    assert result.returncode != 0
    assert "MARKDOWN_IMAGE_HOSTS must list host names" in result.stderr
