"""An LLM judge in the browser: defined with its judge model, run, read against the reviewers,
tuned with their examples, and its versions read side by side on the held-out requests."""

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import expect

from reviewapp.judges.models import Judge, JudgeResult
from reviewapp.requestlog.models import Request
from tests.judges import judge_model
from tests.judges.test_tuning import reviewed

PAGE = "/apps/support-bot/judges/"
THREE = Decimal("0.001")


@pytest.mark.browser
@pytest.mark.worker
def test_a_manager_defines_runs_measures_and_tunes_an_llm_judge_in_the_browser(
    app, manager, page_for, judge_server, celery_worker
):
    for i in range(20):
        reviewed(app, manager, i, "negative" if i < 14 else "positive")
    page = page_for(manager)
    page.goto(PAGE)
    form = page.get_by_test_id("define-judge")
    form.get_by_label("Name").fill("correct")
    form.get_by_label("Kind").select_option("llm")
    form.get_by_label("Metric").select_option("correctness")
    form.get_by_label("Judge model").fill(judge_model.MODEL)
    form.get_by_label("Endpoint URL").fill(f"{judge_server.url}/v1")
    form.get_by_label("Key variable").fill("CHAIN_SECRET_NOT_SET")
    form.get_by_role("button", name="Define judge").click()
    # A key variable the server has not got: said beside the field, what was typed kept.
    expect(page.get_by_text("CHAIN_SECRET_NOT_SET is not set on this server")).to_be_visible()
    expect(form.get_by_label("Endpoint URL")).to_have_value(f"{judge_server.url}/v1")
    form.get_by_label("Key variable").fill(judge_model.KEY_ENV)
    form.get_by_role("button", name="Define judge").click()
    expect(page).to_have_url(re.compile(r"/judges/correct/$"))

    page.get_by_test_id("run").get_by_role("button").click()
    expect(page.locator(".job-progress")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert JudgeResult.objects.filter(value="pass").count() == 20  # no answer says "wrong"
    page.goto(f"{PAGE}correct/")
    # The judge passes all; the reviewers failed 14 of 20.
    expect(page.get_by_test_id("accuracy")).to_have_text("0.300")
    expect(page.get_by_test_id("pass-rate")).to_have_text("100%")

    page.get_by_test_id("tune").get_by_role("button").click()
    expect(page.locator(".job-progress")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_test_id("tune-result")).to_contain_text("held-out requests")
    page.get_by_role("link", name="See both versions side by side").click()
    tuned = Judge.objects.get().current
    held_out = len(tuned.held_out)
    failed = JudgeResult.objects.filter(
        version=tuned.tuned_from, request_id__in=tuned.held_out
    ).count()  # every held-out request, judged by both
    assert failed == held_out
    section = page.get_by_test_id("tuned")
    expect(section).to_contain_text(f"on {held_out} held-out requests")
    # Version 1 passes all; the tuned one's examples carry a reviewer's "This is wrong.", so it
    # fails all (the judge model's rule): its accuracy is the share of held-out answers they failed.
    failing = Request.objects.filter(pk__in=tuned.held_out, response__contains="forever").count()
    share = Decimal(failing) / held_out
    expect(page.get_by_test_id("accuracy-before")).to_have_text(
        str((1 - share).quantize(THREE, ROUND_HALF_UP))
    )
    expect(page.get_by_test_id("accuracy-after")).to_have_text(str(share.quantize(THREE, ROUND_HALF_UP)))
