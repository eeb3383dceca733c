"""The curation screen and the export pages, through the test client."""

import json

from reviewapp.jobs.models import Job


def test_the_curation_screen_lists_reviewed_requests_and_previews_rows(app, manager, as_user, data):
    page = as_user(manager).get(f"/apps/{app.slug}/curate/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Good one?" in html and "Disputed one?" in html
    first = {
        "request_id": str(data["good"].request_id),
        "request": "Good one?",
        "expected_response": data["good"].response,
        "expected_retrieved_context": [],
    }
    assert json.dumps(first, ensure_ascii=False).replace('"', "&quot;") in html


def test_an_htmx_filter_returns_only_the_results_section(app, manager, as_user, data):
    page = as_user(manager).get(
        f"/apps/{app.slug}/curate/?agreement=disagree",
        headers={"HX-Request": "true", "HX-Target": "curation-results"},
    )
    html = page.content.decode()
    assert html.lstrip().startswith('<section id="curation-results"')
    assert "Disputed one?" in html and "Good one?" not in html


def test_people_who_cannot_manage_the_app_do_not_see_the_screen(app, querier, outsider, as_user):
    assert as_user(outsider).get(f"/apps/{app.slug}/curate/").status_code == 404
    assert as_user(querier).get(f"/apps/{app.slug}/curate/").status_code == 403
    assert (
        as_user(outsider).post(f"/apps/{app.slug}/curate/evaluation-set/", {"name": "x"}).status_code == 404
    )


def test_an_htmx_export_returns_the_progress_fragment_of_a_new_job(app, manager, as_user, data):
    response = as_user(manager).post(
        f"/apps/{app.slug}/curate/evaluation-set/",
        {
            "name": "golden",
            "scope": "selected",
            "request_ids": [str(data["good"].request_id)],
            "rule": "majority",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    job = Job.objects.get()
    assert 'class="job-progress"' in response.content.decode()
    assert job.params["filters"]["request_ids"] == [str(data["good"].request_id)]


def test_a_bad_set_name_is_a_form_error_and_starts_nothing(app, manager, as_user, data):
    response = as_user(manager).post(
        f"/apps/{app.slug}/curate/evaluation-set/", {"name": "Not OK", "scope": "all", "rule": "majority"}
    )
    assert response.status_code == 400
    assert "not a valid set name" in response.content.decode()
    assert not Job.objects.exists()


def test_a_filter_that_matches_nothing_is_refused_without_a_job(app, manager, as_user, data):
    response = as_user(manager).post(
        f"/apps/{app.slug}/curate/judge-examples/",
        {
            "rating": "negative",
            "reviewer": "manager@example.com",
            "scope": "all",
            "rule": "majority",
            "judges": ["correctness"],
            "examples_per_judge": 4,
            "holdout_by": "request",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400  # htmx swaps 4xx too: the fragment says it was refused
    assert "The export was not started" in response.content.decode()
    assert "The selection is empty" in response.content.decode()
    assert not Job.objects.exists()


def test_managers_add_custom_judges_on_the_exports_page(app, manager, as_user):
    client = as_user(manager)
    response = client.post(
        f"/apps/{app.slug}/exports/",
        {
            "name": "professional",
            "type": "ANSWER",
            "definition": "Professional?",
            "reasons": ["badly formatted"],
        },
    )
    assert response.status_code == 302
    assert "professional" in client.get(f"/apps/{app.slug}/exports/").content.decode()
    bad = client.post(f"/apps/{app.slug}/exports/", {"name": "Bad Name", "type": "ANSWER", "definition": "x"})
    assert bad.status_code == 400
