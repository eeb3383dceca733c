"""The panel in a real browser: passages to rate carry the names of the spans that returned them;
the chunks the model did not see are folded away and cannot be rated."""

import pytest
from playwright.sync_api import expect

from reviewapp.feedback.models import Assessment
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ROTATE = {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
REVOKE = {"doc_uri": "docs://tokens#revoke", "content": "Revoked tokens stop working at once."}


def chunk(position, document, span_name, span_type, span_id):
    return {
        "position": position,
        **document,
        "span_name": span_name,
        "span_id": span_id,
        "span_type": span_type,
    }


def test_a_reviewer_rates_the_reranked_passages_and_sees_the_retrievers_apart(page_for, app, querier):
    req = factories.make_request(
        app,
        user=querier,
        chunks=[
            chunk(0, ROTATE, "keyword_search", "RETRIEVER", "00000000000000a1"),
            chunk(1, REVOKE, "keyword_search", "RETRIEVER", "00000000000000a1"),
            chunk(2, ROTATE, "vector_search", "RETRIEVER", "00000000000000a2"),
            chunk(3, ROTATE, "rerank", "RERANKER", "00000000000000b1"),
            chunk(4, ROTATE, "rerank", "RERANKER", "00000000000000b1"),
        ],
    )
    page = page_for(querier)
    page.goto(f"/apps/{app.slug}/requests/{req.request_id}/feedback/")
    panel = page.get_by_test_id("feedback-panel")

    passages = panel.get_by_test_id("chunk")
    expect(passages).to_have_count(1)
    expect(passages.get_by_test_id("chunk-spans")).to_have_text("from rerank")
    others = panel.get_by_test_id("other-chunks")
    expect(others.get_by_test_id("other-chunk").first).to_be_hidden()  # folded away
    others.locator("summary").click()
    expect(others.get_by_test_id("other-chunk-span")).to_have_text(
        ["from keyword_search", "from keyword_search", "from vector_search"]
    )
    expect(others.get_by_test_id("chunk-relevant")).to_have_count(0)

    with page.expect_response(lambda r: r.url.endswith("/feedback/") and r.request.method == "POST") as info:
        passages.get_by_test_id("chunk-relevant").click()
    assert info.value.status == 200, info.value.text()
    expect(passages.get_by_test_id("chunk-relevant")).to_have_attribute("aria-pressed", "true")
    [rated] = Assessment.objects.get(request=req).retrieval_assessments
    assert (rated["position"], rated["doc_uri"], rated["rating"]) == (3, ROTATE["doc_uri"], "relevant")
