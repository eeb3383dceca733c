"""Each rule of an app's fields has one home (catalog.rules): the page, the API and the schema agree."""

import json

import pytest

from reviewapp.catalog import rules
from reviewapp.catalog.models import App
from tests.catalog.helpers import app_form, patch
from tests.said_once import assert_refused_alike, component_schemas

HX = {"HX-Request": "true"}
SETTINGS = "/apps/support-bot/settings/"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "n" * 201, "at most 200 characters"),
        ("version", "v" * 101, "at most 100 characters"),
        ("description", "d" * 10_001, "at most 10000 characters"),
        ("timeout_seconds", 601, "a whole number of seconds from 1 to 600"),
        ("timeout_seconds", 0, "a whole number of seconds from 1 to 600"),
    ],
)
def test_the_settings_page_and_the_api_refuse_a_broken_rule_in_the_same_words(
    as_user, app, manager, field, value, words
):
    client = as_user(manager)

    page = client.post(SETTINGS, app_form(**{field: value}), headers=HX)
    api = patch(client, {field: value})

    assert_refused_alike(page, api, field, words)
    # The form's fragment, swapped in all the same (base.html).
    assert page.content.decode().lstrip().startswith('<section id="app-form"')
    assert App.objects.get(pk=app.pk).name == "Support bot"


def test_too_many_reasons_are_refused_in_the_same_words_by_the_page_and_the_api(as_user, app, manager):
    client = as_user(manager)
    reasons = [f"reason {n}" for n in range(201)]

    page = client.post(SETTINGS, app_form(reasons="\n".join(reasons)), headers=HX)
    api = patch(client, {"reasons": reasons})

    assert_refused_alike(page, api, "reasons", "at most 30 reasons (201 given)")


def test_a_too_long_slug_is_refused_in_the_same_words_by_the_page_and_the_api(as_user, app, staff):
    client = as_user(staff)
    slug = "s" * 81

    page = client.post("/apps/new/", app_form(slug=slug))
    api = client.post(
        "/api/v1/apps", json.dumps({"name": "New", "slug": slug}), content_type="application/json"
    )

    assert_refused_alike(page, api, "slug", "at most 80 characters")


def test_the_schema_states_the_limits_the_rules_hold(client, db):
    schemas = component_schemas(client)
    create = schemas["AppCreateInputRequest"]["properties"]

    assert create["name"]["maxLength"] == rules.MAX_NAME_CHARS == App._meta.get_field("name").max_length
    assert create["slug"]["oneOf"][0]["maxLength"] == rules.MAX_SLUG_CHARS  # or blank
    assert create["version"]["maxLength"] == rules.MAX_VERSION_CHARS
    assert create["description"]["maxLength"] == rules.MAX_DESCRIPTION_CHARS
    assert (create["timeout_seconds"]["minimum"], create["timeout_seconds"]["maximum"]) == (1, 600)
    assert create["reasons"]["maxItems"] == rules.MAX_REASONS_GIVEN
    assert create["reasons"]["items"]["maxLength"] == rules.MAX_REASON_CHARS
    assert schemas["PermissionsInputRequest"]["properties"]["principals"]["maxItems"] == rules.MAX_PRINCIPALS
    markdown = schemas["InstructionsInputRequest"]["properties"]["markdown"]
    assert markdown["maxLength"] == rules.MAX_INSTRUCTIONS_CHARS
