"""reviewapp.client's import_traces and list_request_logs against a live server and a real worker."""

import pytest

from reviewapp.client import ApiError
from tests.requestlog.helpers import row


@pytest.mark.worker
def test_a_manager_imports_rows_and_reads_them_back_page_by_page(client_as, app, manager, celery_worker):
    client = client_as(manager)
    job = client.import_traces(app.slug, [row(i) for i in range(5)] + [{"request_id": "x"}], timeout=60)
    assert (job["result"]["imported"], job["result"]["bad_rows"]) == (5, 1)
    assert job["result"]["errors"][0]["line"] == 6
    logged = list(client.list_request_logs(app.slug, source="import", page_size=2))
    assert [r["response"] for r in logged] == [f"Answer number {i}" for i in reversed(range(5))]


def test_bad_calls_raise_api_errors_with_the_reason(client_as, app, manager, querier, transactional_db):
    with pytest.raises(ApiError) as missing:
        client_as(manager).import_traces(app.slug, experiment="no-such-experiment-here", wait=False)
    assert missing.value.status == 400 and "experiment" in missing.value.body
    with pytest.raises(ApiError) as denied:
        list(client_as(querier).list_request_logs(app.slug))
    assert denied.value.status == 403
    with pytest.raises(ValueError):
        client_as(manager).import_traces(app.slug)
