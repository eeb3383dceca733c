"""A queue's rules have one home (queues.services): the page, the API and the schema agree."""

import json

import pytest

from reviewapp.catalog.rules import MAX_INSTRUCTIONS_CHARS
from reviewapp.queues.models import ReviewQueue
from reviewapp.queues.services import MAX_OVERLAP
from tests.said_once import assert_refused_alike, component_schemas

PAGE = "/apps/support-bot/queues/new/"
API = "/api/v1/apps/support-bot/review-queues"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "n" * 201, "at most 200 characters"),
        ("instructions", "i" * 100_001, "at most 100000 characters"),
        ("overlap", 101, "overlap must be a whole number from 1 to 100"),
        ("overlap", 0, "overlap must be a whole number from 1 to 100"),
    ],
)
def test_the_page_and_the_api_refuse_a_broken_rule_in_the_same_words(
    app, manager, as_user, field, value, words
):
    client = as_user(manager)
    fields = {"name": "Week 1", "overlap": 1, "assignment": "open"} | {field: value}

    page = client.post(PAGE, fields)
    api = client.post(API, json.dumps(fields), content_type="application/json")

    assert_refused_alike(page, api, field, words)
    assert not ReviewQueue.objects.exists()


def test_the_schema_states_the_limits_the_rules_hold(client, db):
    schemas = component_schemas(client)
    queue = schemas["QueueCreateInputRequest"]["properties"]

    assert queue["name"]["maxLength"] == ReviewQueue._meta.get_field("name").max_length
    assert queue["instructions"]["maxLength"] == MAX_INSTRUCTIONS_CHARS
    assert (queue["overlap"]["minimum"], queue["overlap"]["maximum"]) == (1, MAX_OVERLAP)
