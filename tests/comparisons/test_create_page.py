"""The owner's page for a new pairwise queue: two versions, or an uploaded JSONL of pairs."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from reviewapp.comparisons.models import Comparison
from reviewapp.queues.models import ReviewQueue
from tests.comparisons.helpers import VERSION_A, VERSION_B, a_request, two_version_app
from tests.conftest import client_for

URL = "/apps/support-bot/queues/pairwise/new/"


def test_two_versions_and_the_latest_requests_of_a_make_a_queue_of_pending_pairs(
    app, manager, querier, server_a, server_b
):
    two_version_app(app, server_a, server_b)
    older, newer = a_request(app, "Older"), a_request(app, "Newer")
    a_request(app, "On B", version=VERSION_B)
    response = client_for(manager).post(
        URL,
        {
            "name": "A vs B",
            "overlap": "1",
            "assignment": "named",
            "reviewers": [querier.pk],
            "version_a": VERSION_A,
            "version_b": VERSION_B,
            "latest": "5",
        },
    )
    queue = ReviewQueue.objects.get(name="A vs B")
    assert response.status_code == 302 and response["Location"] == f"/apps/{app.slug}/queues/{queue.pk}/"
    comparison = queue.comparison
    assert (queue.mode, comparison.version_a, comparison.version_b) == ("pairwise", VERSION_A, VERSION_B)
    assert set(comparison.pairs.values_list("request_a", "status")) == {
        (older.pk, "pending"),
        (newer.pk, "pending"),
    }
    assert list(queue.reviewers.all()) == [querier]
    page = client_for(manager).get(response["Location"]).content.decode()
    assert "2 pairs: 0 ready, 2 waiting for their replay, 0 failed" in page


def test_an_uploaded_jsonl_of_pairs_makes_a_queue_ready_at_once(app, manager):
    lines = [
        {"prompt": "Q1", "response_a": "A1", "response_b": "B1", "version_a": "old", "version_b": "new"},
        {"messages": [{"role": "user", "content": "Q2"}], "response_a": "A2", "response_b": "B2"},
    ]
    upload = SimpleUploadedFile("pairs.jsonl", ("\n".join(json.dumps(x) for x in lines) + "\n\n").encode())
    response = client_for(manager).post(
        URL, {"name": "Imported", "overlap": "1", "assignment": "open", "pairs_file": upload}
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    comparison = Comparison.objects.get(queue__name="Imported")
    assert comparison.kind == "imported"
    pairs = list(comparison.pairs.select_related("request_a", "request_b"))
    assert [
        (p.version_a, p.version_b, p.request_a.response, p.request_b.response, p.request_a.source, p.status)
        for p in pairs
    ] == [("old", "new", "A1", "B1", "import", "ready"), ("A", "B", "A2", "B2", "import", "ready")]
    assert comparison.queue.items.count() == 2


def test_a_bad_upload_is_a_400_naming_the_lines_and_keeping_the_name(app, manager):
    content = (
        '{"prompt": "Q1", "response_a": "A1", "response_b": "B1"}\n'
        "\n"
        "not json\n"
        '{"prompt": "Q\\u0000", "response_a": "A", "response_b": "B"}\n'
    )
    upload = SimpleUploadedFile("pairs.jsonl", content.encode())
    response = client_for(manager).post(
        URL, {"name": "Kept name", "overlap": "1", "assignment": "open", "pairs_file": upload}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "line 3: Expecting value: line 1 column 1 (char 0)" in html
    assert "line 4: prompt contains a NUL character (U+0000)" in html
    assert 'value="Kept name"' in html
    assert not ReviewQueue.objects.exists()

    bad_row = SimpleUploadedFile("pairs.jsonl", b'\n{"prompt": "Q", "response_a": "A"}\n')
    response = client_for(manager).post(
        URL, {"name": "Kept name", "overlap": "1", "assignment": "open", "pairs_file": bad_row}
    )
    assert response.status_code == 400
    assert "line 2: response_b must be a string" in response.content.decode()


def test_no_source_of_pairs_is_a_400_saying_what_to_give(app, manager):
    response = client_for(manager).post(URL, {"name": "Nothing", "overlap": "1", "assignment": "open"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error-version_a">pick a version of the app (1)' in html
    assert 'data-testid="error-request_ids">give the requests of version A to compare' in html
