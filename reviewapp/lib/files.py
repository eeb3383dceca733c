"""Files web processes and workers share: exports and uploads, through Django's storages.

Both are folders on this machine (EXPORT_DIR, MEDIA_ROOT) unless S3_BUCKET is set; then they are
keys in that S3-compatible bucket (django-storages), so web replicas and workers on other
machines see the same files. Code reads and writes them through `storages`, never a path, and
uses `local_copy`/`local_files` where a library wants a path on disk.
"""

import logging
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .env import envsecret, envurl

log = logging.getLogger(__name__)

EXPORTS = "exports"
S3_BACKEND = "storages.backends.s3.S3Storage"
# An S3 object read for a download or a copy is spooled to disk past this size, not held in memory.
S3_MAX_MEMORY_BYTES = 8 * 1024 * 1024

# Amazon's bucket naming rules (MinIO and the other S3-compatible stores follow them).
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,48}")
_PREFIX_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.-]+")


def _bucket() -> str:
    bucket = os.environ.get("S3_BUCKET", "").strip()
    if bucket and (not _BUCKET_RE.fullmatch(bucket) or ".." in bucket):
        raise ImproperlyConfigured(
            f"S3_BUCKET must be a bucket name (3 to 63 lower-case letters, digits, '.' and '-'), not {bucket!r}"
        )
    return bucket


def _region() -> str:
    region = os.environ.get("S3_REGION", "").strip()
    if region and not _REGION_RE.fullmatch(region):
        raise ImproperlyConfigured(f"S3_REGION must be a region name such as eu-west-1, not {region!r}")
    return region


def _prefix() -> str:
    prefix = os.environ.get("S3_PREFIX", "").strip().strip("/")
    segments = prefix.split("/") if prefix else []
    if any(not _PREFIX_SEGMENT_RE.fullmatch(s) or s in (".", "..") for s in segments):
        raise ImproperlyConfigured(
            f"S3_PREFIX must be a key prefix such as reviewapp or team/reviewapp "
            f"(letters, digits, '_', '.', '-' and '/'), not {prefix!r}"
        )
    return prefix


def file_storages(export_dir: Path, media_root: Path) -> dict[str, dict]:
    """The STORAGES entries for uploads ("default") and exports ("exports"), from the environment.

    Local folders unless S3_BUCKET is set; a bad value raises ImproperlyConfigured naming it.
    """
    bucket, region, prefix = _bucket(), _region(), _prefix()
    endpoint = envurl("S3_ENDPOINT_URL", "", {"http", "https"})
    if not bucket:
        stray = [n for n in ("S3_ENDPOINT_URL", "S3_REGION", "S3_PREFIX") if os.environ.get(n, "").strip()]
        if stray:
            raise ImproperlyConfigured(
                f"{stray[0]} is set but S3_BUCKET is not: set S3_BUCKET too, or unset it"
            )
        return {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            # A retried MLflow step rewrites trace_ids.json in place.
            EXPORTS: {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(export_dir), "allow_overwrite": True},
            },
        }
    key_id, secret = envsecret("AWS_ACCESS_KEY_ID"), envsecret("AWS_SECRET_ACCESS_KEY")
    if bool(key_id) != bool(secret):
        given, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if key_id
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise ImproperlyConfigured(f"{given} is set but {missing} is not: S3_BUCKET needs both, or neither")
    from botocore.config import Config

    options = {
        "bucket_name": bucket,
        # Neither set: boto3 finds credentials itself (instance role, ~/.aws, web identity).
        "access_key": key_id or None,
        "secret_key": secret or None,
        "security_token": envsecret("AWS_SESSION_TOKEN") or None,
        "endpoint_url": endpoint or None,
        "region_name": region or None,
        "client_config": Config(
            # MinIO and most S3-compatible stores answer on one host name, not one per bucket.
            s3={"addressing_style": "path" if endpoint else None},
            signature_version="s3v4",
            # A store that is down is told within seconds (a download answers 503), not minutes.
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
        ),
        "default_acl": None,
        "file_overwrite": True,
        "max_memory_size": S3_MAX_MEMORY_BYTES,
    }
    return {
        "default": {
            "BACKEND": S3_BACKEND,
            "OPTIONS": {**options, "location": posixpath.join(prefix, "media")},
        },
        EXPORTS: {
            "BACKEND": S3_BACKEND,
            "OPTIONS": {**options, "location": posixpath.join(prefix, "exports")},
        },
    }


def unreachable(exc: BaseException) -> bool:
    """True for an error that says the shared store cannot be reached or is overloaded right now
    (not that a file is missing or a request was wrong)."""
    try:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    except ImportError:
        return False
    # ConnectionError: no connection (refused, DNS, connect timeout); HTTPClientError: one that
    # broke or went silent (ConnectionClosedError, ReadTimeoutError), which does not derive from it.
    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) in (500, 502, 503, 504)
    return False


def local_root(storage) -> Path | None:
    """The folder on this machine that holds `storage`'s files, or None for a remote store."""
    try:
        return Path(storage.path(""))
    except NotImplementedError:
        return None


def uri(storage, name: str) -> str:
    """Where the file `name` is, for a record such as an MLflow dataset's source."""
    root = local_root(storage)
    if root is not None:
        return str(root / name)
    bucket = getattr(storage, "bucket_name", None)
    if bucket:
        return f"s3://{bucket}/{posixpath.join(storage.location, name)}"
    return storage.url(name)


def save(storage, name: str, content) -> None:
    """Store `content` (a File) as exactly `name`, replacing what is there."""
    saved = storage.save(name, content)
    if saved != name:  # a storage that picks another name would lose the file
        raise RuntimeError(f"the storage kept {name!r} as {saved!r}; it must allow overwriting")


def upload_folder(storage, folder: Path, prefix: str, names: Iterable[str]) -> None:
    """Store each named file of `folder` as `prefix/name`."""
    from django.core.files import File

    for name in names:
        with (folder / name).open("rb") as handle:
            save(storage, f"{prefix}/{name}", File(handle, name=name))


def delete_tree(storage, prefix: str) -> None:
    """Remove every file under `prefix`."""
    folders, files = storage.listdir(prefix)
    for name in files:
        storage.delete(f"{prefix}/{name}")
    for folder in folders:
        delete_tree(storage, f"{prefix}/{folder}")


def jsonl_rows(storage, name: str) -> Iterator:
    """The value of each line of the JSON Lines file `name`, read a line at a time (a file on the
    bucket comes through a spooled copy, on disk past S3_MAX_MEMORY_BYTES): never all in memory."""
    import json

    with storage.open(name, "rb") as handle:
        for line in handle:  # Django's File yields lines, whatever its chunks
            if line.strip():
                yield json.loads(line)


@contextmanager
def removed_unless_committed(storage, name: str) -> Iterator[None]:
    """Around the transaction that records the file `name` (run and committed in this block): the
    file is removed when it fails, so that no file is left that no row names."""
    from django.db import transaction

    try:
        with transaction.atomic():
            yield
    except BaseException:
        try:
            storage.delete(name)
        except Exception as exc:  # the store is down too: the error that matters is the first
            log.warning("could not remove %s after a failed transaction: %s", name, exc)
        raise


@contextmanager
def local_copy(storage, name: str) -> Iterator[Path]:
    """A path on this machine holding the file `name`: the file itself on a local storage, else a
    temporary copy (removed on exit). FileNotFoundError when there is no such file."""
    root = local_root(storage)
    if root is not None:
        path = Path(storage.path(name))
        if not path.is_file():
            raise FileNotFoundError(name)
        yield path
        return
    with local_files(storage, posixpath.dirname(name), [posixpath.basename(name)]) as folder:
        yield folder / posixpath.basename(name)


@contextmanager
def local_files(storage, prefix: str, names: Iterable[str]) -> Iterator[Path]:
    """A folder on this machine holding the named files under `prefix`: the storage's own folder
    on a local storage, else a temporary one with copies (removed on exit)."""
    root = local_root(storage)
    if root is not None:
        yield root / prefix
        return
    with tempfile.TemporaryDirectory(prefix="reviewapp-files-") as temp:
        folder = Path(temp)
        for name in names:
            with storage.open(f"{prefix}/{name}", "rb") as source, (folder / name).open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        yield folder
