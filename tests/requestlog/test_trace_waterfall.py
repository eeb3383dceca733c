"""The trace as a timeline: one row per span, a bar placed by start and length, durations and tokens,
and each span's inputs and outputs a click (or a key) away."""

import json

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import expect

from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import run_turn
from reviewapp.requestlog.trace_view import rows, span_tree
from tests.browser_checks import serious_violations
from tests.requestlog.helpers import span

QUESTION = [{"role": "user", "content": "How do I rotate an API token?"}]
MS = 1_000_000


def test_each_spans_bar_starts_and_lasts_in_proportion_to_the_whole_trace():
    spans = [
        span("r", "chain", "CHAIN", {}, {}, 1000 * MS, 1200 * MS),
        span("a", "retrieve", "RETRIEVER", {}, {}, 1000 * MS, 1050 * MS, parent="r"),
        span("b", "answer", "LLM", {}, {}, 1100 * MS, 1200 * MS, parent="r"),
    ]
    roots = span_tree({"info": {}, "data": {"spans": spans}})

    placed = {n.name: (n.bar_start, n.bar_length, n.shown_depth) for n in rows(roots)}
    assert [n.name for n in rows(roots)] == ["chain", "retrieve", "answer"]
    assert placed == {"chain": (0, 1000, 0), "retrieve": (0, 250, 1), "answer": (500, 500, 1)}


def test_a_span_without_an_end_gets_a_sliver_and_tokens_are_read_from_the_span():
    llm = span("b", "answer", "LLM", {}, {}, 5 * MS, 9 * MS)
    llm["attributes"]["mlflow.chat.tokenUsage"] = json.dumps({"input_tokens": 40, "output_tokens": "12"})
    open_span = span("c", "stuck", "TOOL", {}, {}, 7 * MS, None)
    roots = span_tree({"info": {}, "data": {"spans": [llm, open_span]}})

    by_name = {n.name: n for n in rows(roots)}
    assert by_name["answer"].tokens == {"input_tokens": 40, "output_tokens": 12, "total_tokens": None}
    assert (by_name["stuck"].bar_start, by_name["stuck"].bar_length) == (500, 2)
    html = render_to_string("requestlog/trace_tree.html", {"nodes": roots})
    assert "40 in · 12 out tokens" in html and "not ended" in html
    assert 'x="500" y="1" width="2"' in html


def test_a_demo_chain_turn_shows_its_spans_on_the_timeline(app, manager, as_user, demo_model_uri):
    turn = run_turn(app=app, user=manager, source=Request.Source.REVIEW_APP, messages=QUESTION).request

    body = as_user(manager).get(f"/apps/{app.slug}/requests/{turn.request_id}/").content.decode()

    assert 'data-testid="waterfall"' in body
    names = [part.partition('"')[0] for part in body.split('data-span-name="')[1:]]
    assert names[-3:] == ["demo_chain", "retrieve", "compose_answer"]
    assert " out tokens" in body and " ms</span>" in body
    assert 'href="/static/css/trace.css"' in body


@pytest.mark.browser
def test_a_span_opens_on_its_inputs_and_outputs_by_click_and_by_keyboard(
    page_for, app, manager, demo_model_uri
):
    turn = run_turn(app=app, user=manager, source=Request.Source.REVIEW_APP, messages=QUESTION).request
    page = page_for(manager)
    page.goto(f"/apps/{app.slug}/requests/{turn.request_id}/")

    retrieve = page.locator('[data-testid=span-row][data-span-name="retrieve"]')
    expect(retrieve.get_by_text("Outputs")).to_be_hidden()
    retrieve.locator("summary").click()
    expect(retrieve.locator(".span-io").last).to_contain_text("docs://reviewapp/api#tokens")
    expect(retrieve.get_by_test_id("span-duration")).to_contain_text(" ms")

    compose = page.locator('[data-testid=span-row][data-span-name="compose_answer"]')
    expect(compose.get_by_test_id("span-tokens")).to_contain_text("out tokens")
    compose.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(compose.locator(".span-io").last).to_contain_text("From the documentation")
    # The bar of a child lies within its parent's.
    chain = page.locator('[data-testid=span-row][data-span-name="demo_chain"]').get_by_test_id("span-bar")
    bar = compose.get_by_test_id("span-bar")
    start, length = int(bar.get_attribute("data-start")), int(bar.get_attribute("data-length"))
    assert int(chain.get_attribute("data-start")) <= start and start + length <= 1000


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_the_timeline_with_a_span_open_has_no_serious_accessibility_violation(
    page_for, app, manager, demo_model_uri, width
):
    turn = run_turn(app=app, user=manager, source=Request.Source.REVIEW_APP, messages=QUESTION).request
    page = page_for(manager)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"/apps/{app.slug}/requests/{turn.request_id}/")
    page.locator('[data-testid=span-row][data-span-name="retrieve"] summary').click()

    assert serious_violations(page, "[data-testid=span-tree]") == []
    fits = page.evaluate(
        "[...document.querySelectorAll('[data-testid=span-tree] *')]"
        ".every(e => e.getBoundingClientRect().right <= window.innerWidth)"
    )
    assert fits
