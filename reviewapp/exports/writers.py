"""Streaming writers: rows go to JSONL, CSV, Parquet (and the MLflow 3 form) as they come.

A job writes into a private temporary folder on its machine (`temp_folder`, under
EXPORT_DIR/.tmp), then publishes it to the exports storage, in a folder of its attempt's own
(`attempt_dir`): an attempt that lost its lease and goes on all the same (a paused process, a
database out of reach) can then never overwrite or delete what the attempt that took over
published. Publishing is
- on a local folder (the default): one rename (`move_into_place`), in the transaction that
  creates the row, so a killed job leaves no files behind, only in `.tmp/`;
- on a shared bucket (S3_BUCKET): `stage_files` uploads the files before that transaction, under
  keys no row points at yet, and `move_into_place` uploads the manifest in it.
The row is what makes a version visible. What a failed attempt published is removed by that
attempt (`discard`), or, should it have died, by the next one (`clear_earlier_attempts`); never
while a committed row names it.
"""

import csv
import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from reviewapp.lib import files

log = logging.getLogger(__name__)

CONTEXT_COLUMNS = ("expected_retrieved_context", "retrieved_context")
PARQUET_BATCH = 1000  # rows per row group: each batch is held as Python objects, then as Arrow arrays


def _context_type():
    import pyarrow as pa

    return pa.list_(pa.struct([("doc_uri", pa.string()), ("content", pa.string())]))


def evaluation_schema(include_outputs: bool):
    import pyarrow as pa

    fields = [
        ("request_id", pa.string()),
        ("request", pa.string()),
        ("expected_response", pa.string()),
        ("expected_retrieved_context", _context_type()),
    ]
    if include_outputs:
        fields += [("response", pa.string()), ("retrieved_context", _context_type()), ("status", pa.string())]
    return pa.schema(fields)


# One encoder for every value: json.dumps with options builds a new one on each call.
_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode


class TableWriter:
    """Writes each row to `<stem>.jsonl`, `<stem>.csv` and `<stem>.parquet` in one pass."""

    def __init__(self, folder: Path, stem: str, columns: list[str], schema=None):
        import pyarrow.parquet as pq

        self.folder, self.stem, self.columns = folder, stem, columns
        self.jsonl = (folder / f"{stem}.jsonl").open("w", encoding="utf-8")
        self.csv_file = (folder / f"{stem}.csv").open("w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.csv_file)
        self.csv.writerow(columns)
        self.schema = schema
        self.parquet = pq.ParquetWriter(folder / f"{stem}.parquet", schema) if schema is not None else None
        self.batch: list[dict] = []
        self.count = 0

    def write(self, row: dict) -> None:
        self.jsonl.write(_dumps(row) + "\n")
        # A CSV cell holds a list or a dict as its JSON, any other value as is (None: empty).
        self.csv.writerow(
            [_dumps(v) if isinstance(v := row.get(name), list | dict) else v for name in self.columns]
        )
        if self.parquet is not None:
            self.batch.append(row)
            if len(self.batch) >= PARQUET_BATCH:
                self._flush()
        self.count += 1

    def _flush(self) -> None:
        import pyarrow as pa

        if self.batch:
            self.parquet.write_table(pa.Table.from_pylist(self.batch, schema=self.schema))
            self.batch = []

    def close(self) -> list[str]:
        self.jsonl.close()
        self.csv_file.close()
        names = [f"{self.stem}.jsonl", f"{self.stem}.csv"]
        if self.parquet is not None:
            self._flush()
            self.parquet.close()
            names.append(f"{self.stem}.parquet")
        return names


class JsonlWriter:
    def __init__(self, path: Path):
        self.path = path
        self.file = path.open("w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self.file.write(_dumps(record) + "\n")

    def close(self) -> list[str]:
        self.file.close()
        return [self.path.name]


def describe_files(folder: Path, names: list[str]) -> dict[str, dict]:
    """{name: {"bytes", "sha256"}} for the manifest and the download list."""
    out = {}
    for name in names:
        digest = hashlib.sha256()
        with (folder / name).open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
        out[name] = {"bytes": (folder / name).stat().st_size, "sha256": digest.hexdigest()}
    return out


def export_storage():
    """The storage exports are published to (STORAGES["exports"])."""
    from django.core.files.storage import storages

    return storages[files.EXPORTS]


def temp_folder(job) -> Path:
    """A new, empty folder for this attempt of `job`; the folders earlier attempts left are removed
    (a later attempt's, should this one have lost its lease, is that attempt's to keep)."""
    root = settings.EXPORT_DIR / ".tmp"
    for attempt in range(1, job.attempts):
        shutil.rmtree(root / f"{job.id}-{attempt}", ignore_errors=True)
    folder = root / f"{job.id}-{job.attempts}"
    folder.mkdir(parents=True)
    return folder


def attempt_dir(base: str, job) -> str:
    """The folder under `base` in the exports storage where this attempt of `job` publishes."""
    return f"{base}/{job.id}-{job.attempts}"


def clear_earlier_attempts(base: str, job, published: Callable[[str], bool]) -> None:
    """Remove what earlier attempts of `job` left under `base` and no committed row names
    (`published(folder)` says whether one does): files of an attempt killed before it committed.

    Only earlier attempts: this one holds the job, so they can no longer commit (their fenced
    writes fail), while a later attempt may be publishing right now.
    """
    legacy = f"{base}/{job.id}"  # an attempt of a release that published all attempts there
    for folder in [legacy, *(f"{base}/{job.id}-{n}" for n in range(1, job.attempts))]:
        if not published(folder):
            _remove(folder)


def stage_files(temp: Path, relative: str) -> None:
    """Before the publishing transaction, on a shared bucket: upload the files written so far to
    this attempt's own folder `relative` and drop their local copies, so that the transaction only
    has the manifest left to store. Nothing to do on a local folder."""
    storage = export_storage()
    if files.local_root(storage) is not None:
        return
    names = sorted(p.name for p in temp.iterdir())
    files.upload_folder(storage, temp, relative, names)
    for name in names:
        (temp / name).unlink()


def move_into_place(temp: Path, relative: str) -> None:
    """Publish the finished folder as `relative` in the exports storage: one rename on a local
    folder (all files or none), else the upload of what `stage_files` left; `temp` is gone after."""
    storage = export_storage()
    root = files.local_root(storage)
    if root is None:
        files.upload_folder(storage, temp, relative, sorted(p.name for p in temp.iterdir()))
        shutil.rmtree(temp)
        return
    final = root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    temp.rename(final)  # the attempt's own folder: nothing is there to replace


def discard(relative: str, published: Callable[[str], bool]) -> None:
    """After a failed attempt: remove what it published in its folder `relative`, unless a committed
    row names it. Best effort: what is left (the store or the database out of reach) is the next
    attempt's to clear, and a version is never made of it."""
    try:
        if not published(relative):
            _remove(relative)
    except Exception as exc:
        log.warning("could not remove the files of a failed export in %s: %s", relative, exc)


def _remove(relative: str) -> None:
    storage = export_storage()
    root = files.local_root(storage)
    if root is None:
        files.delete_tree(storage, relative)
    else:
        shutil.rmtree(root / relative, ignore_errors=True)


@dataclass(frozen=True)
class Attempt:
    """This attempt of an export job: its private `temp` folder and the folder `relative` (under
    `base`) it publishes in; `published(folder)` says whether a committed row names a folder."""

    job: object
    base: str
    relative: str
    temp: Path
    published: Callable[[str], bool]

    def stage(self) -> None:
        """Clear what earlier attempts left, then store this one's files (all but the manifest)."""
        clear_earlier_attempts(self.base, self.job, self.published)
        stage_files(self.temp, self.relative)


@contextmanager
def attempt(job, base: str, rows) -> Iterator[Attempt]:
    """The folders of this attempt of `job`, whose rows (`rows`, by `job` and `relative_dir`) say
    what is published; on any failure both folders are removed, unless a committed row names it."""

    def published(folder: str) -> bool:
        return rows.filter(job=job, relative_dir=folder).exists()

    current = Attempt(job, base, attempt_dir(base, job), temp_folder(job), published)
    try:
        yield current
    except BaseException:
        shutil.rmtree(current.temp, ignore_errors=True)  # nothing partial is left behind
        discard(current.relative, published)
        raise
