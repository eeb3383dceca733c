"""Property: whatever text a chain answers (surrogates, NUL, control characters, anything), the turn
is logged, can be reviewed and exported, and no step answers a 500. Runs on the configured database:
PostgreSQL in CI, SQLite in the embedded run."""

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewapp.catalog.models import App, Level
from reviewapp.exports import services as exports
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.selection import Filters
from reviewapp.feedback.models import Assessment
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.lib.text import storable
from reviewapp.requestlog.models import Request
from tests import factories
from tests.chat.helpers import events_of
from tests.conftest import client_for

# Every code point, lone surrogates and NUL included (hypothesis leaves surrogates out by default).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def fresh_app(server, manager) -> App:
    """An app of its own per example: the database is not rolled back between examples."""
    app = factories.make_app(
        f"odd-{uuid.uuid4().hex[:12]}",
        adapter=App.Adapter.HTTP,
        adapter_config={"url": server.url},
        timeout_seconds=5,
    )
    factories.grant(app, manager, Level.CAN_MANAGE)
    return app


def post_json(client, url: str, body: dict):
    # json.dumps writes a lone surrogate as an escape, as a real client's JSON library would.
    return client.post(url, json.dumps(body), content_type="application/json")


@FEW
@given(text=ANY_TEXT, stream=st.booleans())
def test_any_answer_is_logged_reviewed_and_exported_never_a_500(manager, server, text, stream):
    app = fresh_app(server, manager)
    client = client_for(manager)
    server.answer = text
    expected, altered = storable(text)

    # Logging the turn.
    response = post_json(
        client,
        f"/api/v1/apps/{app.slug}/invocations",
        {"messages": [{"role": "user", "content": "Say anything"}], "stream": stream},
    )
    assert response.status_code == 200
    body = events_of(response)[-1][1] if stream else response.json()
    assert (body["status"], body["response"], body["text_altered"]) == ("ok", expected, altered)
    row = Request.objects.get(request_id=body["request_id"])
    assert (row.status, row.response, row.text_altered) == ("ok", expected, altered)

    # Feedback: the raw text as a reviewer's comment is refused when it cannot be stored, never a 500;
    # the stored (replaced) answer, copied into a correction, is accepted.
    url = f"/api/v1/apps/{app.slug}/feedback"
    commented = post_json(
        client, url, {"request_id": str(row.request_id), "rating": "negative", "comment": text}
    )
    assert commented.status_code == (400 if altered else 201), commented.content
    corrected = post_json(
        client,
        url,
        {"request_id": str(row.request_id), "rating": "negative", "corrected_response": f"Fix: {expected}"},
    )
    assert corrected.status_code == 201, corrected.content
    effective = Assessment.objects.latest_per_reviewer().get(request=row)
    assert effective.corrected_response == f"Fix: {expected}"

    # A question the database could not store is refused with a 400, else logged.
    asked = post_json(
        client, f"/api/v1/apps/{app.slug}/invocations", {"messages": [{"role": "user", "content": text}]}
    )
    assert asked.status_code in ((400,) if altered or not text.strip() else (200,)), asked.content

    # The evaluation-set export of the reviewed turn.
    job = exports.start_evaluation_set_export(
        app=app, user=manager, name="odd", filters=Filters(), include_outputs=True
    )
    job = run_job(str(job.id), export_evaluation_set)
    assert job.status == Job.Status.SUCCEEDED, job.error
    folder = job.evaluation_set_version.directory
    rows = [json.loads(line) for line in (folder / "evaluation_set.jsonl").open(encoding="utf-8")]
    exported = next(r for r in rows if r["request_id"] == str(row.request_id))
    assert (exported["response"], exported["expected_response"]) == (expected, f"Fix: {expected}")
