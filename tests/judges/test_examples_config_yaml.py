"""The judges.yaml of a few-shot export can be read in the browser, with its download beside it."""

import pytest
import yaml
from django.urls import reverse

from reviewapp.exports import services
from reviewapp.exports.judge_examples import export_judge_examples
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from tests.exports.helpers import reviewed


@pytest.fixture
def exported(app, manager):
    for i in range(2):
        reviewed(app, manager, "positive", question=f"Good question {i}?")
    reviewed(app, manager, "negative", question="Wrong?", corrected_response="The right answer.")
    job = services.start_judge_export(app=app, user=manager, filters=Filters(), examples_per_judge=4)
    job = run_job(str(job.id), export_judge_examples)
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job.judge_export


def test_the_config_page_shows_the_yaml_as_text_with_a_download_link(app, manager, as_user, exported):
    client = as_user(manager)
    response = client.get(reverse("judge-examples-config", args=[app.slug, exported.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    shown = response.context["text"]
    assert shown == (exported.directory / "judges.yaml").read_text()
    assert "builtin_assessments" in yaml.safe_load(shown)
    body = response.content.decode()
    assert "builtin_assessments:" in body
    download = reverse("judge-export-file", args=[app.slug, exported.pk, "judges.yaml"])
    assert f'href="{download}" download' in body
    assert client.get(download).status_code == 200


def test_the_judges_tab_and_the_finished_job_link_to_it(app, manager, as_user, exported):
    client = as_user(manager)
    config = reverse("judge-examples-config", args=[app.slug, exported.pk])
    assert config in client.get(reverse("judge-list", args=[app.slug])).content.decode()
    assert config in client.get(reverse("job-progress", args=[exported.job_id])).content.decode()


def test_only_managers_see_it_and_a_missing_export_is_a_404(
    app, viewer, outsider, manager, as_user, exported
):
    url = reverse("judge-examples-config", args=[app.slug, exported.pk])
    assert as_user(viewer).get(url).status_code == 403  # as the export it belongs to
    assert as_user(outsider).get(url).status_code == 404
    missing = reverse("judge-examples-config", args=[app.slug, exported.pk + 1000])
    assert as_user(manager).get(missing).status_code == 404


def test_an_export_whose_file_is_gone_is_a_404_not_a_500(app, manager, as_user, exported):
    (exported.directory / "judges.yaml").unlink()
    url = reverse("judge-examples-config", args=[app.slug, exported.pk])
    assert as_user(manager).get(url).status_code == 404
