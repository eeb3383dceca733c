"""The import page explains the format and offers a sample file that imports as it is."""

from django.urls import reverse

from reviewapp.requestlog.models import Request
from reviewapp.requestlog.storage import ImportReport, import_jsonl


def test_the_sample_file_downloads_and_every_row_of_it_imports(app, manager, as_user, tmp_path):
    response = as_user(manager).get(reverse("request-import-sample", args=[app.slug]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    path = tmp_path / "sample.jsonl"
    path.write_bytes(response.content)

    report = import_jsonl(app=app, path=path, report=ImportReport(source="jsonl"))
    assert report.bad_rows == 0, report.errors
    assert report.imported == report.rows_read == 3
    assert Request.objects.filter(app=app, source="import").count() == 3
    again = import_jsonl(app=app, path=path, report=ImportReport(source="jsonl"))
    assert (again.imported, again.already_present) == (0, 3)


def test_the_page_shows_the_format_the_example_and_the_sample_link(app, manager, as_user):
    response = as_user(manager).get(reverse("request-import", args=[app.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert reverse("request-import-sample", args=[app.slug]) in body
    assert "ticket-1001" in body  # the sample's first row, shown as the example
    assert "Rows without one get a new id each time" in body
    assert "Import running" not in body


def test_only_those_who_may_import_get_the_sample(app, viewer, outsider, as_user):
    url = reverse("request-import-sample", args=[app.slug])
    assert as_user(viewer).get(url).status_code == 403
    assert as_user(outsider).get(url).status_code == 404
    assert as_user(None).get(url).status_code == 302
