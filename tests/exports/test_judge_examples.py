"""The judge few-shot job: the reference's YAML, balance, disagreement first, HUMAN feedback on traces."""

import json

import pytest
import yaml

from reviewapp.exports import services
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.judge_examples import export_judge_examples
from reviewapp.exports.mlflow_step import log_judge_export
from reviewapp.exports.models import JudgeExport, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.requestlog.models import Request
from tests import factories
from tests.exports.helpers import custom_judge, relevant, review, reviewed


def export(app, manager, **kwargs) -> Job:
    job = services.start_judge_export(app=app, user=manager, filters=Filters(), **kwargs)
    return run_job(str(job.id), export_judge_examples)


@pytest.fixture
def feedback(app, manager):
    second = factories.make_user("second@example.com")
    for i in range(4):
        reviewed(app, manager, "positive", question=f"Good question {i}?", retrieval_assessments=relevant(0))
    reviewed(
        app,
        manager,
        "negative",
        question="Off topic?",
        reasons=["irrelevant"],
        comment="Talks about billing.",
    )
    reviewed(app, manager, "negative", question="Made up?", reasons=["not grounded in the sources"])
    wrong = reviewed(app, manager, "negative", question="Wrong?", corrected_response="The right answer.")
    review(
        wrong,
        second,
        "negative",
        corrected_response="The right answer.",
        retrieval_assessments=relevant(not_relevant=[1]),
    )
    # Reviewers disagree on this one: the majority (2 of 3) says positive.
    disputed = reviewed(app, manager, "positive", question="Disputed?")
    review(disputed, second, "negative", reasons=["irrelevant"])
    review(disputed, factories.make_user("third@example.com"), "positive")
    return disputed


def test_the_yaml_parses_and_has_the_reference_shape(app, manager, feedback):
    custom_judge(app, "professional", "ANSWER", "Is the response professional?", "badly formatted")
    reviewed(app, manager, "negative", question="Rude?", reasons=["badly formatted"])
    job = export(app, manager, examples_per_judge=4)
    assert job.status == Job.Status.SUCCEEDED, job.error
    config = yaml.safe_load((job.judge_export.directory / "judges.yaml").read_text())
    assert set(config) == {"builtin_assessments", "assessment_judges"}
    builtin = {name: body for entry in config["builtin_assessments"] for name, body in entry.items()}
    assert list(builtin) == ["groundedness", "correctness", "relevance_to_query", "chunk_relevance"]
    fields = {
        "groundedness": {"request", "response", "context"},
        "correctness": {"request", "response", "expected_response"},
        "relevance_to_query": {"request", "response"},
        "chunk_relevance": {"request", "context"},
    }
    for name, body in builtin.items():
        assert body["examples"], name
        for example in body["examples"]:
            assert set(example) - {"value", "rationale"} == fields[name]
            assert isinstance(example["value"], bool)
    [judge] = config["assessment_judges"]
    [assessment] = judge["assessments"]
    assert assessment["name"] == "professional" and assessment["type"] == "ANSWER"
    assert assessment["definition"] == "Is the response professional?"
    assert {e["value"] for e in assessment["examples"]} == {True, False}


def test_examples_are_balanced_true_and_false_per_judge(app, manager, feedback):
    job = export(app, manager, examples_per_judge=4)
    per_judge = job.judge_export.manifest["per_judge"]
    # relevance_to_query: 5 true (4 good + the disputed one) and 1 false → 1 of each.
    assert per_judge["relevance_to_query"] == {"true": 1, "false": 1}
    assert per_judge["correctness"] == {"true": 1, "false": 1}
    # groundedness: 5 true and 1 false ("not grounded in the sources").
    assert per_judge["groundedness"] == {"true": 1, "false": 1}
    assert per_judge["chunk_relevance"] == {"true": 1, "false": 1}


def test_items_reviewers_disagreed_on_come_first(app, manager, feedback):
    job = export(app, manager, examples_per_judge=2, judges=["correctness"])
    rows = list(job.judge_export.examples())
    assert rows[0]["request_id"] == str(feedback.request_id)
    assert rows[0]["human_disagreement"] is True


def test_the_table_is_written_as_jsonl_and_csv(app, manager, feedback):
    import pandas as pd

    export_row = export(app, manager).judge_export
    jsonl = pd.read_json(export_row.directory / "examples.jsonl", lines=True)
    csv = pd.read_csv(export_row.directory / "examples.csv")
    assert len(jsonl) == len(csv) == export_row.example_count
    assert {"judge", "request", "value", "rationale", "request_id"} <= set(jsonl.columns)


def test_a_holdout_never_shares_a_conversation_with_the_evaluation_set(app, manager, feedback):
    golden = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
    run_job(str(golden.id), export_evaluation_set)
    in_set = json.loads(
        (Job.objects.get(pk=golden.pk).evaluation_set_version.directory / "manifest.json").read_text()
    )
    job = export(app, manager, holdout_set="golden", holdout_by="conversation")
    assert job.status == Job.Status.SUCCEEDED, job.error
    used = {r["request_id"] for r in job.judge_export.examples()}
    conversations = set(Request.objects.filter(pk__in=used).values_list("conversation_id", flat=True))
    assert not conversations & set(in_set["conversation_ids"])
    assert job.judge_export.manifest["held_out"] >= 1


def test_the_traces_carry_each_example_as_human_feedback_named_after_its_judge(app, manager, feedback):
    import mlflow

    job = export(app, manager, examples_per_judge=2)
    log_judge_export(export_id=job.judge_export.pk)
    exported = JudgeExport.objects.get(pk=job.judge_export.pk)
    assert exported.mlflow_status == MlflowStatus.DONE, exported.mlflow_error
    rows = list(exported.examples())
    assert (
        exported.trace_ids
        and json.loads((exported.directory / "trace_ids.json").read_text()) == exported.trace_ids
    )
    for row in rows:
        request = Request.objects.get(pk=row["request_id"])
        assert request.mlflow_trace_id in exported.trace_ids  # imported as a trace, remembered
        trace = mlflow.get_trace(request.mlflow_trace_id)
        assert trace.data.request and "messages" in json.loads(trace.data.request)
        feedback_rows = [
            a
            for a in trace.info.assessments
            if a.name == row["judge"]
            and a.source.source_type == "HUMAN"
            and (a.metadata or {}).get("chunk_position")
            == (str(row["chunk_position"]) if row["chunk_position"] is not None else None)
        ]
        assert len(feedback_rows) == 1, row
        assert feedback_rows[0].value is row["value"]
        assert "manager@example.com" in feedback_rows[0].source.source_id

    # Run again (a retried task): no feedback is logged twice.
    JudgeExport.objects.filter(pk=exported.pk).update(mlflow_status=MlflowStatus.PENDING)
    log_judge_export(export_id=exported.pk)
    request = Request.objects.get(pk=rows[0]["request_id"])
    names = [a.name for a in mlflow.get_trace(request.mlflow_trace_id).info.assessments]
    assert names.count(rows[0]["judge"]) == sum(
        1 for r in rows if r["request_id"] == rows[0]["request_id"] and r["judge"] == rows[0]["judge"]
    )


def test_unknown_judges_and_empty_selections_are_refused(app, manager):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as unknown:
        services.start_judge_export(app=app, user=manager, filters=Filters(), judges=["tone"])
    assert "judges" in unknown.value.message_dict
    with pytest.raises(ValidationError) as empty:
        services.start_judge_export(app=app, user=manager, filters=Filters())
    assert "filters" in empty.value.message_dict
