"""Managers name the span whose documents are "what the model saw"; blank keeps the default rule.

The settings page also says which MLflow experiment the app's traces go to.
"""

import pytest

from reviewapp.catalog.models import App
from tests.catalog.helpers import app_form, patch
from tests.said_once import assert_refused_alike, component_schemas

HX = {"HX-Request": "true"}
SETTINGS = "/apps/support-bot/settings/"
HELP = (
    "The name of the span whose documents are what the model saw (rated and exported). "
    "Blank: a reranker span when the trace has one, else every retriever span. "
    "A change sums the dashboard figures from chunk ratings again, in a background job: until it has run, "
    "feedback given before the change is counted with the old span."
)


def test_the_settings_page_sets_and_shows_the_context_span_with_its_help(as_user, app, manager):
    client = as_user(manager)

    saved = client.post(SETTINGS, app_form(context_span="  rerank  "), headers=HX)

    assert saved.status_code == 200
    assert App.objects.get(pk=app.pk).context_span == "rerank"
    page = client.get(SETTINGS).content.decode()
    assert 'name="context_span" value="rerank"' in page
    assert HELP in page


def test_the_api_sets_it_shows_it_and_blank_goes_back_to_the_default_rule(as_user, app, manager):
    client = as_user(manager)

    assert patch(client, {"context_span": "retrieve_docs"}).json()["context_span"] == "retrieve_docs"
    assert patch(client, {"context_span": ""}).json()["context_span"] == ""
    assert App.objects.get(pk=app.pk).context_span == ""


def test_a_too_long_span_name_is_refused_alike_by_the_page_and_the_api(as_user, app, manager):
    client = as_user(manager)

    page = client.post(SETTINGS, app_form(context_span="s" * 201), headers=HX)
    api = patch(client, {"context_span": "s" * 201})

    assert_refused_alike(page, api, "context_span", "at most 200 characters")
    assert App.objects.get(pk=app.pk).context_span == ""


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "bell\x07"])
def test_a_span_name_with_control_characters_is_refused(as_user, app, manager, name):
    response = patch(as_user(manager), {"context_span": name})

    assert response.status_code == 400
    assert response.json()["context_span"] == [
        "a span name: one line of plain text, without control characters"
    ]


def test_the_schema_documents_the_setting(client, db):
    field = component_schemas(client)["AppCreateInputRequest"]["properties"]["context_span"]

    text = field["oneOf"][0]  # or blank
    assert text["maxLength"] == 200 and "pattern" in text and field["description"] == HELP


def test_the_settings_page_names_the_apps_own_experiment(as_user, app, manager):
    page = as_user(manager).get(SETTINGS).content.decode()

    assert (
        "Traces of this app's chain are logged to the MLflow experiment <code>reviewapp/support-bot</code> "
        "(created on first use)"
    ) in page


def test_managers_see_the_experiment_on_the_app_page_and_reviewers_do_not(as_user, app, manager, querier):
    assert "reviewapp/support-bot" in as_user(manager).get("/apps/support-bot/").content.decode()
    assert "reviewapp/support-bot" not in as_user(querier).get("/apps/support-bot/").content.decode()
    assert (
        as_user(manager).get("/api/v1/apps/support-bot").json()["mlflow_experiment"]
        == "reviewapp/support-bot"
    )
