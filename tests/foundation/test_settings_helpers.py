import pytest
from django.core.exceptions import ImproperlyConfigured

from reviewapp.lib import env as s


def test_envbool_accepts_the_usual_spellings(monkeypatch):
    for value, expected in [
        ("1", True),
        ("yes", True),
        ("ON", True),
        ("0", False),
        ("off", False),
        ("", False),
    ]:
        monkeypatch.setenv("X_FLAG", value)
        assert s.envbool("X_FLAG", "false") is expected


def test_envbool_rejects_a_bad_value_naming_the_variable(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        s.envbool("X_FLAG", "false")


def test_envint_rejects_a_bad_value_naming_the_variable(monkeypatch):
    monkeypatch.setenv("X_NUM", "12a")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be a whole number"):
        s.envint("X_NUM", "1")


def test_envurl_rejects_a_wrong_scheme(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://db/x")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        s.envurl("DATABASE_URL", "", {"postgres", "postgresql", "sqlite"})


def test_envsecret_reads_the_file_variant(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert s.envsecret("X_SECRET") == "s3cret"


def test_envsecret_names_an_unreadable_file(monkeypatch, tmp_path):
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
        s.envsecret("X_SECRET")
