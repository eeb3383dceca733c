"""Where exports and uploads live: local folders by default, an S3-compatible bucket with S3_BUCKET."""

import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, default_storage, storages

from reviewapp.lib.files import EXPORTS, file_storages
from tests import processes

VARIABLES = (
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_PREFIX",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


@pytest.fixture
def env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    return monkeypatch


def storages_for(env, **values) -> dict:
    for name, value in values.items():
        env.setenv(name, value)
    return file_storages(Path("/srv/exports"), Path("/srv/media"))


def test_without_a_bucket_exports_and_uploads_are_the_local_folders_they_always_were(settings):
    exports = storages[EXPORTS]
    assert isinstance(exports, FileSystemStorage) and isinstance(default_storage, FileSystemStorage)
    assert Path(exports.location) == Path(settings.EXPORT_DIR).resolve()
    assert Path(default_storage.location) == Path(settings.MEDIA_ROOT).resolve()


def test_a_bucket_holds_both_under_the_prefix_with_the_given_endpoint_and_credentials(env):
    chosen = storages_for(
        env,
        S3_BUCKET="team-artifacts",
        S3_ENDPOINT_URL="http://minio:9000",
        S3_REGION="eu-west-1",
        S3_PREFIX="/reviewapp/",
        AWS_ACCESS_KEY_ID="key-id",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    exports, uploads = chosen[EXPORTS]["OPTIONS"], chosen["default"]["OPTIONS"]
    assert chosen[EXPORTS]["BACKEND"] == chosen["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert (exports["location"], uploads["location"]) == ("reviewapp/exports", "reviewapp/media")
    assert exports["bucket_name"] == "team-artifacts" and exports["endpoint_url"] == "http://minio:9000"
    assert exports["region_name"] == "eu-west-1"
    assert exports["client_config"].s3 == {"addressing_style": "path"}  # MinIO's way
    assert (exports["access_key"], exports["secret_key"]) == ("key-id", "secret")


def test_credentials_may_come_from_files_and_may_be_left_to_boto3(env, tmp_path):
    (tmp_path / "id").write_text("file-key-id\n")
    (tmp_path / "secret").write_text("file-secret\n")
    options = storages_for(
        env,
        S3_BUCKET="artifacts",
        AWS_ACCESS_KEY_ID_FILE=str(tmp_path / "id"),
        AWS_SECRET_ACCESS_KEY_FILE=str(tmp_path / "secret"),
    )[EXPORTS]["OPTIONS"]
    assert (options["access_key"], options["secret_key"]) == ("file-key-id", "file-secret")
    assert options["location"] == "exports" and options["client_config"].s3 == {"addressing_style": None}

    env.delenv("AWS_ACCESS_KEY_ID_FILE")
    env.delenv("AWS_SECRET_ACCESS_KEY_FILE")
    options = storages_for(env)[EXPORTS]["OPTIONS"]
    # An instance role, ~/.aws or a web identity: boto3's own chain.
    assert options["access_key"] is None and options["secret_key"] is None


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"S3_BUCKET": "My_Bucket"}, "S3_BUCKET must be a bucket name"),
        ({"S3_BUCKET": "ab"}, "S3_BUCKET must be a bucket name"),
        ({"S3_BUCKET": "ok-bucket", "S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL must be a URL"),
        ({"S3_BUCKET": "ok-bucket", "S3_REGION": "EU West"}, "S3_REGION must be a region"),
        ({"S3_BUCKET": "ok-bucket", "S3_PREFIX": "a/../b"}, "S3_PREFIX must be a key prefix"),
        ({"S3_BUCKET": "ok-bucket", "S3_PREFIX": "a b"}, "S3_PREFIX must be a key prefix"),
        ({"S3_BUCKET": "ok-bucket", "AWS_ACCESS_KEY_ID": "id"}, "AWS_SECRET_ACCESS_KEY is not"),
        ({"S3_BUCKET": "ok-bucket", "AWS_SECRET_ACCESS_KEY": "s"}, "AWS_ACCESS_KEY_ID is not"),
        ({"S3_ENDPOINT_URL": "http://minio:9000"}, "S3_ENDPOINT_URL is set but S3_BUCKET is not"),
        ({"S3_PREFIX": "reviewapp"}, "S3_PREFIX is set but S3_BUCKET is not"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(env, values, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        storages_for(env, **values)


def test_the_settings_refuse_a_bad_bucket_name_at_start_up(tmp_path):
    result = subprocess.run(
        [str(processes.BIN / "python"), "manage.py", "check"],
        cwd=processes.ROOT,
        env=processes.test_env(DJANGO_SETTINGS_MODULE="reviewapp.settings", S3_BUCKET="Not_A_Bucket"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "S3_BUCKET must be a bucket name" in result.stderr, result.stderr[-2000:]
