"""The import page in a browser, at desktop and phone widths: the format, the sample file, and an
import whose rows all fail, shown as a warning with the reasons."""

import pytest
from playwright.sync_api import expect

from reviewapp.jobs.models import Job
from reviewapp.requestlog.jsonl_import import sample_jsonl
from tests.requestlog.helpers import jsonl, row

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def no_sideways_scroll(page):
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


@pytest.mark.parametrize("width", [1280, 390])
def test_an_import_of_only_bad_rows_is_a_warning_with_the_reasons_at_any_width(
    app, manager, page_for, celery_worker, width, tmp_path
):
    page = page_for(manager)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"/apps/{app.slug}/requests/import/")
    page.get_by_text("The file format, with an example").click()
    expect(page.get_by_test_id("import-example")).to_contain_text("ticket-1001")
    no_sideways_scroll(page)

    with page.expect_download() as download:
        page.get_by_test_id("import-sample").click()
    saved = tmp_path / "sample.jsonl"
    download.value.save_as(saved)
    assert saved.read_text() == sample_jsonl()

    bad = jsonl([row(0, response=None), "{not json", row(2, timestamp="soon")])
    page.get_by_label("JSONL file", exact=True).set_input_files(
        files=[{"name": "bad.jsonl", "mimeType": "application/jsonl", "buffer": bad}]
    )
    page.get_by_role("button", name="Upload and import").click()
    progress = page.locator(".job-progress")
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_test_id("job-status")).to_have_text("Nothing imported")
    expect(page.get_by_test_id("job-status")).to_have_class("badge badge-warning")
    expect(page.get_by_test_id("import-headline")).to_have_text("Nothing imported: all 3 rows had problems.")
    errors = page.get_by_test_id("import-errors")
    expect(errors.locator("tbody tr")).to_have_count(3)
    expect(errors.locator("tbody tr").nth(2)).to_contain_text("timestamp 'soon' is not ISO 8601")
    expect(page.get_by_role("heading", name="Import running")).to_have_count(0)
    no_sideways_scroll(page)
    assert Job.objects.get().result["imported"] == 0
