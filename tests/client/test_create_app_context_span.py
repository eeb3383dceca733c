"""`Client.create_app` sets the context span when given, and leaves the server's default otherwise."""

from reviewapp.catalog.models import App


def test_create_app_sends_the_context_span_only_when_given(client_as, staff, transactional_db):
    client = client_as(staff)

    named = client.create_app("Reranked bot", context_span="rerank_docs")
    default = client.create_app("Plain bot")

    assert named["context_span"] == "rerank_docs"
    assert App.objects.get(slug=named["slug"]).context_span == "rerank_docs"
    assert default["context_span"] == ""
