"""reviewapp.client's export calls against a live server and a real worker."""

import time
from pathlib import Path

import pandas as pd
import pytest

from reviewapp.accounts.models import ApiToken
from reviewapp.client import ApiError, Client
from reviewapp.exports.models import JudgeExport
from tests.exports.helpers import relevant, reviewed

pytestmark = pytest.mark.worker


def test_the_client_exports_a_set_and_judge_examples_and_downloads_them(
    live_server, app, manager, celery_worker, tmp_path
):
    reviewed(app, manager, "positive", retrieval_assessments=relevant(0, not_relevant=[1]))
    reviewed(
        app, manager, "negative", question="Off?", reasons=["irrelevant"], corrected_response="On topic."
    )
    _token, raw = ApiToken.issue(user=manager, name="client test")
    client = Client(live_server.url, token=raw, timeout=30)

    version = client.export_evaluation_set("support-bot", "golden", rule="majority", timeout=120)
    assert version["number"] == 1 and version["row_count"] == 2
    path = client.download_export_file(version["files"]["evaluation_set.parquet"], tmp_path / "set.parquet")
    assert pd.read_parquet(path)["expected_response"].tolist()[1] == "On topic."
    assert client.list_evaluation_sets("support-bot")[0]["name"] == "golden"

    export = client.export_judge_examples(
        "support-bot", judges=["relevance_to_query", "chunk_relevance"], timeout=120
    )
    assert export["manifest"]["per_judge"] == {
        "relevance_to_query": {"true": 1, "false": 1},
        "chunk_relevance": {"true": 1, "false": 1},
    }
    path = client.download_export_file(export["files"]["examples.jsonl"], tmp_path / "examples.jsonl")
    assert len(Path(path).read_text().splitlines()) == 4

    with pytest.raises(ApiError) as bad:
        client.export_evaluation_set("support-bot", "Bad Name")
    assert bad.value.status == 400 and "name" in bad.value.body
    # Wait for the MLflow steps, so the worker stops idle.
    for _ in range(120):
        if JudgeExport.objects.filter(mlflow_status="done").exists():
            break
        time.sleep(1)
    assert client.list_judge_exports("support-bot")[0]["mlflow_status"] == "done"
