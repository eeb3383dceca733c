"""Imported rows whose text no database can store (NUL, unpaired surrogates) are kept, made storable
and marked altered; rows that are really broken are still refused with the reason."""

import json
import uuid

from reviewapp.requestlog.models import Request
from reviewapp.requestlog.storage import ImportReport, import_jsonl
from tests.requestlog.helpers import row, trace_dict


def import_lines(app, tmp_path, lines: list[str]) -> ImportReport:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ImportReport(source="jsonl")
    import_jsonl(app=app, path=path, report=report)
    return report


def test_escaped_nul_and_surrogates_in_a_jsonl_line_are_stored_altered(app, tmp_path):
    odd = row(0, response="before\\u0000after \\ud83d alone", conversation_id="conv-\\udfff")
    trace = json.dumps(trace_dict("Where?", "There.", trace_id="tr-odd")).replace(
        '"tr-odd"', '"tr-odd\\u0000"'
    )
    lines = [
        json.dumps(odd).replace("\\\\u", "\\u"),
        json.dumps(row(1, trace=trace)),
        json.dumps(row(2, response="a joined pair \\ud83d\\ude00")).replace("\\\\u", "\\u"),
    ]

    report = import_lines(app, tmp_path, lines)

    assert (report.imported, report.bad_rows) == (3, 0), report.errors
    first = Request.objects.get(pk=uuid.UUID(odd["request_id"]))
    assert first.response == "beforeafter \ufffd alone"
    assert first.conversation_id == "conv-\ufffd"
    assert first.text_altered
    second = Request.objects.get(pk=uuid.UUID(row(1)["request_id"]))
    assert second.text_altered and second.trace["info"]["trace_id"] == "tr-odd"
    third = Request.objects.get(pk=uuid.UUID(row(2)["request_id"]))
    assert (third.response, third.text_altered) == ("a joined pair 😀", False)


def test_broken_lines_are_still_refused_with_the_reason(app, tmp_path):
    lines = [
        '{"request_id": ',
        json.dumps({"request_id": str(uuid.uuid4()), "response": "x\\u0000"}).replace("\\\\u", "\\u"),
        '{"request_id": "' + str(uuid.uuid4()) + '", "request": "q", "response": NaN}',
        "[" * 70 + "]" * 70,
    ]

    report = import_lines(app, tmp_path, lines)

    reasons = [e["reason"] for e in report.errors]
    assert report.imported == 0
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "request is missing"
    assert reasons[2] == "NaN is not valid JSON"
    assert reasons[3] == "[0] is nested deeper than 64 levels"
