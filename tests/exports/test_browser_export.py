import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.exports.helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_a_manager_filters_ticks_exports_watches_progress_and_downloads_the_rows(
    app, manager, page_for, celery_worker
):
    good = [reviewed(app, manager, "positive", question=f"Good question {i}?") for i in range(3)]
    reviewed(app, manager, "negative", question="Bad question?", corrected_response="A fixed answer.")
    page = page_for(manager)
    page.goto(f"/apps/{app.slug}/curate/")
    expect(page.get_by_test_id("matching-count")).to_have_text("4")

    page.get_by_label("Rating:", exact=True).select_option("positive")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_test_id("matching-count")).to_have_text("3")
    preview = page.get_by_test_id("preview")
    expect(preview).to_contain_text("Good question 0?")
    expect(preview).not_to_contain_text("Bad question?")

    picks = page.get_by_test_id("pick")
    picks.nth(0).check()
    picks.nth(2).check()
    page.get_by_label("The requests I ticked").check()
    page.get_by_label("Name:", exact=True).fill("golden")
    page.get_by_role("button", name="Export evaluation set").click()

    progress = page.locator("#export-result .job-progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_test_id("export-done")).to_contain_text("2 rows")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="evaluation_set.jsonl").click()
    rows = [json.loads(line) for line in Path(download_info.value.path()).read_text().splitlines()]
    assert [r["request_id"] for r in rows] == [str(good[0].request_id), str(good[2].request_id)]
    # The preview showed the first row exactly as it was exported.
    assert json.dumps(rows[0], ensure_ascii=False) in page.get_by_test_id("preview-raw").text_content()

    # The MLflow step follows on the worker; the version page says when it is done.
    page.get_by_role("link", name="Details").click()
    for _ in range(60):
        if "logged" in page.get_by_test_id("mlflow-status").inner_text():
            break
        page.wait_for_timeout(2000)
        page.reload()
    expect(page.get_by_test_id("mlflow-status")).to_contain_text("logged")


def test_an_export_with_nothing_ticked_says_so_and_starts_nothing(app, manager, page_for):
    from reviewapp.jobs.models import Job

    reviewed(app, manager, "positive")
    page = page_for(manager)
    page.goto(f"/apps/{app.slug}/curate/")
    page.get_by_label("The requests I ticked").check()
    page.get_by_label("Name:", exact=True).fill("golden")
    page.get_by_role("button", name="Export evaluation set").click()
    expect(page.get_by_test_id("export-errors")).to_contain_text("Tick at least one request")
    assert not Job.objects.exists()
