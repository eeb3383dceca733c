import re

import pytest
from playwright.sync_api import expect

from reviewapp.requestlog.models import Request
from tests.requestlog.helpers import jsonl, row, trace_dict

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_a_manager_uploads_jsonl_watches_the_progress_and_finds_the_rows_in_the_log(
    app, manager, page_for, celery_worker
):
    lines: list = [row(i, trace=trace_dict(f"Q{i}", f"A{i}")) if i == 7 else row(i) for i in range(2000)]
    lines[41] = "{not json"
    page = page_for(manager)
    page.goto(f"/apps/{app.slug}/requests/import/")
    page.get_by_label("JSONL file", exact=True).set_input_files(
        files=[{"name": "traces.jsonl", "mimeType": "application/jsonl", "buffer": jsonl(lines)}]
    )
    page.get_by_role("button", name="Upload and import").click()

    progress = page.locator(".job-progress")
    expect(progress).to_be_visible()
    expect(progress.locator("progress").or_(page.get_by_test_id("import-summary"))).to_be_visible()
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_test_id("import-summary")).to_contain_text("1999 imported")
    expect(page.get_by_test_id("import-errors")).to_contain_text("not valid JSON")
    expect(page.get_by_test_id("import-errors").locator("td").first).to_have_text("42")

    page.get_by_test_id("open-log").click()
    expect(page).to_have_url(re.compile(r"/requests/\?source=import$"))
    table = page.get_by_test_id("request-log")
    expect(table.locator("tbody tr")).to_have_count(50)
    expect(table).to_contain_text("Question number 1999")

    page.get_by_test_id("older").click()
    expect(table).to_contain_text("Question number 1949")
    expect(table).not_to_contain_text("Question number 1999")

    page.get_by_role("link", name="Question number 1949").click()
    expect(page.get_by_test_id("conversation")).to_contain_text("Question number 1949")
    assert Request.objects.filter(app=app, source="import").count() == 1999
