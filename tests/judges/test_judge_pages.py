"""The Judges tab: define, change, run and read a judge's agreement in the browser's pages."""

import re

import pytest
from playwright.sync_api import expect

from reviewapp.jobs.models import Job
from reviewapp.judges import services
from reviewapp.judges.models import Judge, JudgeResult
from reviewapp.queues.models import QueueItem
from reviewapp.queues.services import create_queue
from tests.judges.helpers import judged

PAGE = "/apps/support-bot/judges/"


def test_a_manager_defines_a_judge_in_the_form(app, manager, as_user):
    client = as_user(manager)

    response = client.post(PAGE, {"name": "grounded", "kind": "groundedness", "metric": "", "threshold": ""})

    assert response.status_code == 302 and response["Location"] == f"{PAGE}grounded/"
    assert Judge.objects.get().current.metric == "lexical"
    page = client.get(PAGE).content.decode()
    assert 'href="/apps/support-bot/judges/grounded/"' in page and ">Judges</a>" in page


def test_a_bad_judge_is_shown_beside_its_field_and_keeps_what_was_typed(app, manager, as_user):
    response = as_user(manager).post(PAGE, {"name": "grounded", "kind": "retrieval", "metric": "rouge_l"})

    assert response.status_code == 400
    body = response.content.decode()
    assert "A retrieval judge measures one of" in body and 'value="grounded"' in body
    assert not Judge.objects.exists()


def test_the_judge_page_shows_the_agreement_and_each_cells_requests(app, manager, as_user, labelled):
    judged(app, manager)
    client = as_user(manager)

    page = client.get(f"{PAGE}grounded/").content.decode()
    assert re.search(r'data-testid="kappa">0\.167<', page)
    assert re.search(r'data-testid="cell-pass-fail">1<', page)

    cell = client.get(f"{PAGE}grounded/", {"version": 1, "cell": "pass-fail"}).content.decode()
    assert f"/apps/support-bot/requests/{labelled['r4'].pk}/" in cell


def test_the_disagreements_go_to_a_review_queue_once_each(app, manager, as_user, labelled):
    judged(app, manager)
    queue, _added = create_queue(app=app, name="Judge says otherwise", created_by=manager)
    client = as_user(manager)

    for _ in range(2):
        answer = client.post(f"{PAGE}grounded/queue/", {"queue": queue.pk, "version": 1})
        assert answer.status_code == 302

    assert set(QueueItem.objects.filter(queue=queue).values_list("request_id", flat=True)) == {
        labelled["r2"].pk,
        labelled["r4"].pk,
    }


def test_a_change_is_a_new_version_and_a_reviewer_cannot_make_one(app, manager, querier, as_user):
    services.create_judge(app=app, user=manager, name="grounded", kind="groundedness")

    assert as_user(querier).post(f"{PAGE}grounded/change/", {"threshold": "0.5"}).status_code == 403
    as_user(manager).post(f"{PAGE}grounded/change/", {"metric": "", "threshold": "0.5"})

    assert [v.threshold for v in Judge.objects.get().versions.all()] == [0.8, 0.5]


@pytest.mark.browser
@pytest.mark.worker
def test_a_manager_defines_runs_and_reads_a_judge_in_the_browser(
    app,
    manager,
    page_for,
    labelled,
    celery_worker,
):
    page = page_for(manager)
    page.goto("/apps/support-bot/")
    page.get_by_role("navigation", name="App").get_by_role("link", name="Judges").click()
    form = page.get_by_test_id("define-judge")
    form.get_by_label("Name").fill("grounded")
    form.get_by_label("Kind").select_option("groundedness")
    form.get_by_role("button", name="Define judge").click()
    expect(page).to_have_url(re.compile(r"/judges/grounded/$"))
    expect(page.get_by_test_id("agreement-note")).to_contain_text("No request has both")

    page.get_by_test_id("run").get_by_role("button").click()
    expect(page.locator(".job-progress")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert JudgeResult.objects.count() == 6

    page.goto(f"{PAGE}grounded/")
    expect(page.get_by_test_id("kappa")).to_have_text("0.167")
    page.get_by_test_id("cell-pass-fail").click()
    expect(page.locator("#cell")).to_contain_text(labelled["r4"].request_text[:20])


def test_the_request_log_lists_what_a_judge_failed_and_the_request_shows_it_beside_the_feedback(
    app, manager, as_user, labelled
):
    judged(app, manager)
    client = as_user(manager)

    page = client.get(
        "/apps/support-bot/requests/", {"judge": "grounded", "judge_said": "fail"}
    ).content.decode()

    listed = set(re.findall(r"/apps/support-bot/requests/([0-9a-f-]{36})/", page))
    assert listed == {str(labelled[name].pk) for name in ("r3", "r4", "r5")}
    assert "grounded – fail" in page  # the filter is shown as a chip, and can be removed
    detail = client.get(f"/apps/support-bot/requests/{labelled['r3'].pk}/").content.decode()
    assert 'data-testid="judge-results"' in detail and "grounded v1" in detail
    assert "The moon is made of cheese." in detail


def test_curation_selects_by_what_a_judge_said_on_the_screen_and_over_the_api(
    app, manager, as_user, labelled
):
    judged(app, manager)
    client = as_user(manager)
    failed = {str(labelled[name].pk) for name in ("r3", "r4", "r5")}

    page = client.get(
        "/apps/support-bot/curate/", {"judge": "grounded", "judge_said": "fail"}
    ).content.decode()
    listed = set(re.findall(r'name="request_ids" value="([0-9a-f-]{36})"', page))
    assert listed == failed

    services.create_judge(app=app, user=manager, name="f1", kind="reference")
    started = client.post(
        "/api/v1/apps/support-bot/judges/f1/runs",
        {"filters": {"judge": "grounded", "judge_said": "pass"}},
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    assert Job.objects.get(pk=started.json()["job_id"]).params["selected"] == 3
    assert client.get("/apps/support-bot/curate/", {"judge": "no_such_judge"}).status_code == 400
