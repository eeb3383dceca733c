"""The importer's row checks and batch writes, called directly (no worker)."""

import uuid

import pytest

from reviewapp.requestlog.jsonl_import import sniff_jsonl
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.storage import ImportReport, import_rows
from tests import factories
from tests.requestlog.helpers import row, trace_dict


def run(app, rows):
    report = ImportReport(source="test")
    import_rows(app=app, rows=list(enumerate(rows, start=1)), report=report)
    return report


def test_it_stores_good_rows_as_imports_and_reports_bad_ones_by_line(app):
    rows = [
        row(0),
        row(1, request_id=["not", "an", "id"]),
        row(2, request="Just text, not messages"),
        row(3, response=None),
        row(4, request={"messages": [{"role": "robot", "content": "hi"}]}),
        row(5, timestamp="last tuesday"),
        ["a", "list"],
    ]
    report = run(app, rows)
    assert report.imported == 2
    assert [(e["line"], e["reason"]) for e in report.errors] == [
        (2, "request_id must be text"),
        (4, "response is missing"),
        (5, "request: messages[0].role must be one of system, user, assistant, tool, developer"),
        (6, "timestamp 'last tuesday' is not ISO 8601"),
        (7, "a row must be a JSON object, not list"),
    ]
    text_row = Request.objects.get(pk=uuid.UUID(rows[2]["request_id"]))
    assert text_row.source == "import"
    assert text_row.messages == [{"role": "user", "content": "Just text, not messages"}]
    assert text_row.conversation_id == "conv-0"


def test_the_same_request_id_is_stored_once_within_a_run_and_across_runs(app):
    first = run(app, [row(0), row(1), row(0)])
    assert (first.imported, first.already_present) == (2, 1)
    second = run(app, [row(0), row(1), row(2)])
    assert (second.imported, second.already_present, second.bad_rows) == (1, 2, 0)
    assert Request.objects.filter(app=app).count() == 3


def test_a_request_id_of_another_app_is_a_bad_row_not_a_silent_skip(app):
    other = factories.make_app("other-bot")
    taken = factories.make_request(other)
    report = run(app, [row(0, request_id=str(taken.request_id))])
    assert report.imported == 0
    assert report.errors == [
        {
            "line": 1,
            "reason": f"request_id {taken.request_id} already belongs to another app",
            "request_id": str(taken.request_id),
        }
    ]
    assert Request.objects.get(pk=taken.pk).app == other


def test_a_trace_gives_chunks_tokens_latency_and_the_mlflow_trace_id(app):
    trace = trace_dict("Where?", "There.", docs=[("docs://a", "Alpha"), ("docs://b", "Beta")])
    run(app, [row(0, trace=trace)])
    stored = Request.objects.get(app=app)
    span = {"span_name": "retrieve", "span_id": "ret", "span_type": "RETRIEVER"}
    assert stored.chunks == [
        {"position": 0, "doc_uri": "docs://a", "content": "Alpha", **span},
        {"position": 1, "doc_uri": "docs://b", "content": "Beta", **span},
    ]
    assert (stored.request_tokens, stored.response_tokens, stored.total_tokens) == (11, 7, 18)
    assert stored.latency_ms == 120
    assert stored.mlflow_trace_id == trace["info"]["trace_id"]
    assert stored.trace == trace


def test_a_trace_already_logged_by_the_chat_screen_is_not_imported_again(app):
    trace = trace_dict("Where?", "There.")
    factories.make_request(app, mlflow_trace_id=trace["info"]["trace_id"])
    report = run(app, [row(0, trace=trace)])
    assert (report.imported, report.already_present) == (0, 1)


def test_a_chat_completion_response_and_a_json_string_request_are_understood(app):
    completion = {"choices": [{"message": {"role": "assistant", "content": "From a completion"}}]}
    run(
        app,
        [row(0, request='{"messages": [{"role": "user", "content": "as JSON text"}]}', response=completion)],
    )
    stored = Request.objects.get(app=app)
    assert stored.response == "From a completion"
    assert stored.messages == [{"role": "user", "content": "as JSON text"}]


def test_the_report_keeps_at_most_a_thousand_reasons_but_counts_every_bad_row(app):
    report = run(app, [{"request_id": "x"}] * 1005)
    assert report.bad_rows == 1005
    assert len(report.errors) == 1000
    assert report.as_dict()["errors_truncated"] is True


@pytest.mark.parametrize(
    "head, problem",
    [
        (b"", "The file is empty."),
        (b"   \n\n", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe\xfd", "not UTF-8"),
        (b"request_id,request,response\n1,2,3\n", "first line is not a JSON object"),
        (b'{"request_id": \n{"a": 1}\n', "line 1 is not valid JSON"),
    ],
)
def test_a_file_that_is_not_jsonl_is_recognised_from_its_start(head, problem):
    assert problem in sniff_jsonl(head)


def test_a_jsonl_start_passes_the_sniff():
    assert sniff_jsonl(b'{"request_id": "x"}\n{"request_id": "y"}\n') is None


def test_rows_with_text_no_database_can_store_are_kept_altered_and_bad_values_reported(app):
    rows = [
        row(0, response="null \x00 inside"),
        row(1, request="lone \ud800 surrogate"),
        row(2, total_tokens=2**40),
        row(3, trace={"info": {"trace_id": "tr-1"}, "data": {"spans": ["not a span"]}}),
        row(4),
    ]
    report = run(app, rows)
    reasons = {e["line"]: e["reason"] for e in report.errors}
    assert set(reasons) == {3, 4}
    assert reasons[3].startswith("total_tokens must be a whole number from 0 to")
    assert reasons[4].startswith("the trace cannot be read")
    assert report.imported == 3
    nul = Request.objects.get(pk=uuid.UUID(rows[0]["request_id"]))
    assert (nul.response, nul.text_altered) == ("null  inside", True)
    lone = Request.objects.get(pk=uuid.UUID(rows[1]["request_id"]))
    assert (lone.request_text, lone.text_altered) == ("lone \ufffd surrogate", True)
    assert Request.objects.get(pk=uuid.UUID(rows[4]["request_id"])).text_altered is False


def test_a_row_that_cannot_be_stored_leaves_the_rest_of_its_batch_stored(app):
    # Nested deeper than JSON can be encoded (a row given as a dict, never parsed, so never capped).
    deep = inner = {}
    for _ in range(30_000):
        inner["child"] = {}
        inner = inner["child"]
    odd_trace = {"info": {"trace_id": "tr-odd", "note": deep}, "data": {"spans": []}}
    report = run(app, [row(0), row(1, trace=odd_trace), row(2)])
    stored = set(Request.objects.filter(app=app).values_list("request_id", flat=True))
    assert stored == {uuid.UUID(row(0)["request_id"]), uuid.UUID(row(2)["request_id"])}
    assert (report.imported, report.bad_rows) == (2, 1)
    assert report.errors[0]["line"] == 2
    assert report.errors[0]["reason"].startswith("the row could not be stored: maximum recursion depth")


def test_a_nul_or_a_lone_surrogate_inside_a_trace_is_kept_altered(app):
    trace = {"info": {"trace_id": "tr-nul", "note": "a\x00b", "\udc00key": "\ud800"}, "data": {"spans": []}}
    report = run(app, [row(0, trace=trace), row(1)])
    assert (report.imported, report.bad_rows) == (2, 0)
    stored = Request.objects.get(pk=uuid.UUID(row(0)["request_id"]))
    assert stored.trace["info"]["note"] == "ab"
    assert stored.trace["info"]["\ufffdkey"] == "\ufffd"
    assert stored.text_altered
