"""How the export reads and writes its rows: each request once with all its reviewers' feedback
whatever the page size, JSON decoded as stored, and files that say the same of awkward text."""

import csv
import gc
import json

import pyarrow.parquet as pq
import pytest

from reviewapp.exports.evaluation_sets import long_lived_objects_frozen
from reviewapp.exports.selection import Filters, iter_reviewed
from reviewapp.exports.writers import JsonlWriter, TableWriter, evaluation_schema
from tests import factories
from tests.exports.helpers import relevant, review, reviewed

AWKWARD = 'Zürich, "quoted", a comma,\nnew line; emoji 🙂 and \\ backslash\ttab'


@pytest.fixture
def second(app):
    return factories.make_user("second@example.com")


@pytest.fixture
def third(app):
    return factories.make_user("third@example.com")


def snapshot(items) -> list[tuple]:
    return [
        (
            item.request_id,
            item.conversation_id,
            item.messages,
            item.response,
            item.chunks,
            item.status,
            [
                (
                    a["source_id"],
                    a["rating"],
                    a["reasons"],
                    a["retrieval_assessments"],
                    a["missing_sources"],
                    a["corrected_response"],
                    a["instructions_version"],
                )
                for a in item.assessments
            ],
        )
        for item in items
    ]


def test_each_request_comes_once_with_every_reviewer_whatever_the_page_size(app, manager, second, third):
    many = reviewed(
        app, manager, "positive", question=AWKWARD, retrieval_assessments=relevant(0, not_relevant=[1])
    )
    review(many, second, "negative", reasons=["inaccurate", "Zürich"], corrected_response=AWKWARD)
    review(many, third, "positive", missing_sources=[{"doc_uri": "docs://x", "content": AWKWARD}])
    review(many, second, "positive")  # changed their mind: only this one counts
    alone = reviewed(app, manager, "negative", other_reason="Too long", instructions_version=3)
    pair = reviewed(app, second, "positive")
    review(pair, third, "positive", comment=AWKWARD)

    whole = snapshot(iter_reviewed(app=app, filters=Filters()))
    assert [row[0] for row in whole] == [str(r.pk) for r in (many, alone, pair)]
    first = whole[0]
    assert first[2] == [{"role": "user", "content": AWKWARD}]
    assert first[4][0]["position"] == 0 and first[4][1]["doc_uri"] == "docs://tokens#revoke"
    assert [(a[0], a[1]) for a in first[6]] == [
        ("manager@example.com", "positive"),
        ("third@example.com", "positive"),
        ("second@example.com", "positive"),
    ]
    assert first[6][0][3] == relevant(0, not_relevant=[1])
    assert first[6][1][4] == [{"doc_uri": "docs://x", "content": AWKWARD}]
    assert whole[1][6] == [("manager@example.com", "negative", [], [], [], None, 3)]
    # Pages (SQLite) or fetches (PostgreSQL) that end inside a request's reviewers change nothing.
    for size in (1, 2, 3):
        assert snapshot(iter_reviewed(app=app, filters=Filters(), chunk_size=size)) == whole


def test_a_filter_on_one_reviewers_feedback_still_brings_all_of_the_requests_reviewers(app, manager, second):
    disputed = reviewed(app, manager, "positive")
    review(disputed, second, "negative", reasons=["inaccurate"])
    reviewed(app, manager, "positive")

    [item] = iter_reviewed(app=app, filters=Filters(reasons=("inaccurate",)), chunk_size=1)

    assert item.request_id == str(disputed.pk)
    assert [(a["source_id"], a["reasons"]) for a in item.assessments] == [
        ("manager@example.com", []),
        ("second@example.com", ["inaccurate"]),
    ]


def test_the_three_files_and_the_mlflow_records_say_the_same_of_awkward_text(tmp_path):
    columns = ["request_id", "request", "expected_response", "expected_retrieved_context"]
    rows = [
        {
            "request_id": "r1",
            "request": AWKWARD,
            "expected_response": AWKWARD,
            "expected_retrieved_context": [{"doc_uri": "docs://ü", "content": AWKWARD}],
        },
        {"request_id": "r2", "request": "", "expected_response": None, "expected_retrieved_context": []},
    ]
    table = TableWriter(tmp_path, "set", columns, evaluation_schema(False))
    records = JsonlWriter(tmp_path / "records.jsonl")
    for row in rows:
        table.write(row)
        records.write({"inputs": {"messages": [{"role": "user", "content": row["request"]}]}})
    assert table.close() == ["set.jsonl", "set.csv", "set.parquet"]
    records.close()

    lines = (tmp_path / "set.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert "🙂" in lines[0]  # written as UTF-8, not escaped
    with (tmp_path / "set.csv").open(encoding="utf-8", newline="") as handle:
        header, *cells = list(csv.reader(handle))
    assert header == columns
    assert cells[0][:3] == ["r1", AWKWARD, AWKWARD]
    assert json.loads(cells[0][3]) == rows[0]["expected_retrieved_context"]
    assert cells[1] == ["r2", "", "", "[]"]  # no expected response: an empty cell
    assert pq.read_table(tmp_path / "set.parquet").to_pylist() == rows
    [first, _] = (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(first)["inputs"]["messages"][0]["content"] == AWKWARD


def test_the_collector_sees_the_whole_heap_again_after_a_stream_even_one_that_failed():
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
        raise RuntimeError("the stream broke")
    assert gc.get_freeze_count() == 0
