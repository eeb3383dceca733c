"""A turn the chain failed: reviewers read what happened and what to do; the app's managers can also
open the details (errno, URL), which reviewers never see."""

import socket

import pytest

from reviewapp.catalog.models import App
from reviewapp.requestlog.errors import DEFAULT_SUMMARY, error_summary
from reviewapp.requestlog.models import Request


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (
            "Could not reach the chain at http://10.0.0.5:8080/v1: [Errno 111] Connection refused",
            "The app could not be reached. Try again in a moment.",
        ),
        (
            "The chain did not answer within 60 seconds",
            "The app took too long to answer. Try again in a moment.",
        ),
        ("The chain answered HTTP 503 (text/html)", "The app answered with an error. Try again in a moment."),
        (
            "The answer was abandoned: the connection closed before it was complete",
            "The answer was interrupted: the page was closed or reloaded before it was complete.",
        ),
        (
            "models:/gone/3 is not in the model registry: RESOURCE_DOES_NOT_EXIST",
            "The app is not set up to answer yet; its managers can see why.",
        ),
        ("KeyError: 'choices'", DEFAULT_SUMMARY),
    ],
)
def test_each_kind_of_failure_has_words_for_reviewers(error, summary):
    assert error_summary(error) == summary


@pytest.fixture
def dead_app(app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    App.objects.filter(pk=app.pk).update(
        adapter=App.Adapter.HTTP, adapter_config={"url": f"http://127.0.0.1:{port}"}
    )
    return port


def failed_turn_page(client) -> str:
    response = client.post(
        "/apps/support-bot/chat/", {"message": "Anyone there?", "conversation_id": "c-dead"}
    )
    return client.get(response["Location"]).content.decode()


def test_a_reviewer_reads_the_summary_without_the_address_or_errno(as_user, querier, dead_app):
    html = failed_turn_page(as_user(querier))

    assert "The app could not be reached. Try again in a moment." in html
    assert f"127.0.0.1:{dead_app}" not in html and "Errno" not in html
    assert 'data-testid="error-details"' not in html
    assert "Could not reach the chain" in Request.objects.get().error  # the log keeps it all


def test_a_manager_can_open_the_details(as_user, manager, dead_app):
    html = failed_turn_page(as_user(manager))

    assert "The app could not be reached. Try again in a moment." in html
    details = html.partition('data-testid="error-details"')[2].partition("</details>")[0]
    assert f"Could not reach the chain at http://127.0.0.1:{dead_app}" in details
