"""Managers set what the chain's model costs per 1,000 input and output tokens on the app's settings
(page, API and client alike), for the dashboard's estimated cost; blank clears a price."""

import json
from decimal import Decimal

import pytest
from django.utils.html import escape

from reviewapp.catalog import rules
from reviewapp.catalog.models import App
from tests.catalog.helpers import app_form, patch
from tests.said_once import assert_refused_alike, component_schemas

HX = {"HX-Request": "true"}
SETTINGS = "/apps/support-bot/settings/"
WORDS = (
    "a price per 1,000 tokens: a number from 0 to 999,999.999999, with at most 6 decimals (blank: no price)"
)


def prices(app) -> tuple:
    app = App.objects.get(pk=app.pk)
    return app.price_input_per_1k, app.price_output_per_1k


def test_the_settings_page_sets_shows_and_clears_the_prices(as_user, app, manager):
    client = as_user(manager)

    saved = client.post(
        SETTINGS, app_form(price_input_per_1k="0.0025", price_output_per_1k="0.01"), headers=HX
    )

    assert saved.status_code == 200
    assert prices(app) == (Decimal("0.0025"), Decimal("0.01"))
    page = client.get(SETTINGS).content.decode()
    assert 'name="price_input_per_1k" value="0.002500"' in page
    assert 'name="price_output_per_1k" value="0.010000"' in page
    assert escape(rules.PRICE_HELP) in page

    client.post(SETTINGS, app_form(price_input_per_1k="", price_output_per_1k="0.01"), headers=HX)
    assert prices(app) == (None, Decimal("0.01"))


def test_the_create_page_asks_for_no_prices(as_user, staff, db):
    page = as_user(staff).get("/apps/new/").content.decode()

    assert "price_input_per_1k" not in page


def test_the_api_sets_prices_as_decimal_text_and_null_or_blank_clears_them(as_user, app, manager):
    client = as_user(manager)

    body = patch(client, {"price_input_per_1k": "0.0025", "price_output_per_1k": "999999.999999"}).json()
    assert (body["price_input_per_1k"], body["price_output_per_1k"]) == ("0.002500", "999999.999999")
    assert prices(app) == (Decimal("0.0025"), Decimal("999999.999999"))

    # What the API gives back, it takes back unchanged.
    again = patch(client, {"price_input_per_1k": body["price_input_per_1k"]})
    assert again.status_code == 200 and again.json()["price_input_per_1k"] == "0.002500"

    body = patch(client, {"price_input_per_1k": None, "price_output_per_1k": ""}).json()
    assert (body["price_input_per_1k"], body["price_output_per_1k"]) == (None, None)
    assert prices(app) == (None, None)


def test_a_price_of_zero_is_a_price(as_user, app, manager):
    body = patch(as_user(manager), {"price_input_per_1k": "0"}).json()

    assert body["price_input_per_1k"] == "0.000000"
    assert prices(app) == (Decimal("0"), None)


@pytest.mark.parametrize("zero", ["-0", "-0.000", "-0e3", " -0.0 "])
def test_a_price_of_minus_zero_on_the_settings_page_is_zero(as_user, app, manager, zero):
    client = as_user(manager)

    saved = client.post(SETTINGS, app_form(price_input_per_1k=zero, price_output_per_1k=zero), headers=HX)

    assert saved.status_code == 200 and "-0.0" not in saved.content.decode()
    assert [str(price) for price in prices(app)] == ["0.000000", "0.000000"]
    answer = client.get("/api/v1/apps/support-bot").json()
    assert (answer["price_input_per_1k"], answer["price_output_per_1k"]) == ("0.000000", "0.000000")
    assert 'value="0.000000"' in client.get(SETTINGS).content.decode()


def test_a_price_of_minus_zero_from_python_is_zero():
    assert str(rules.clean_price(-0.0)) == "0.000000"
    assert str(rules.clean_price(Decimal("-0E-9"))) == "0.000000"


def test_only_managers_see_the_prices(as_user, app, manager, viewer, querier):
    App.objects.filter(pk=app.pk).update(
        price_input_per_1k=Decimal("0.5"), price_output_per_1k=Decimal("1.5")
    )

    for user, shown in ((manager, ("0.500000", "1.500000")), (querier, (None, None)), (viewer, (None, None))):
        detail = as_user(user).get("/api/v1/apps/support-bot").json()
        listed = as_user(user).get("/api/v1/apps").json()[0]
        for body in (detail, listed):
            assert (body["price_input_per_1k"], body["price_output_per_1k"]) == shown


@pytest.mark.parametrize(
    "price",
    ["-1", "1000000", "0.0000001", "1234567.5"],
)
def test_a_price_out_of_bounds_is_refused_in_the_same_words_by_the_page_and_the_api(
    as_user, app, manager, price
):
    client = as_user(manager)

    page = client.post(SETTINGS, app_form(price_output_per_1k=price), headers=HX)
    api = patch(client, {"price_output_per_1k": price})

    assert_refused_alike(page, api, "price_output_per_1k", WORDS)
    assert prices(app) == (None, None)


@pytest.mark.parametrize(
    "price",
    [0.5, 1, True, "abc", " 1", "1e3", "1.", "1\n", "\u0663", "NaN", "Infinity", ["1"], {"value": "1"}],
)
def test_the_api_takes_a_price_only_as_plain_decimal_text(as_user, app, manager, price):
    response = patch(as_user(manager), {"price_input_per_1k": price})

    assert response.status_code == 400
    assert list(response.json()) == ["price_input_per_1k"]
    assert prices(app) == (None, None)


@pytest.mark.parametrize("price", ["abc", "NaN", "Infinity", "1,5"])
def test_the_settings_page_refuses_what_is_not_a_number(as_user, app, manager, price):
    page = as_user(manager).post(SETTINGS, app_form(price_input_per_1k=price), headers=HX)

    assert page.status_code == 400
    assert "Enter a number." in page.content.decode()
    assert prices(app) == (None, None)


def test_the_settings_page_takes_a_number_written_another_way(as_user, app, manager):
    as_user(manager).post(
        SETTINGS, app_form(price_input_per_1k="1e3", price_output_per_1k="0.50000000"), headers=HX
    )

    assert prices(app) == (Decimal("1000"), Decimal("0.5"))


def test_prices_cannot_be_set_when_creating_an_app(as_user, staff):
    response = as_user(staff).post(
        "/api/v1/apps",
        json.dumps({"name": "New bot", "price_input_per_1k": "1"}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["price_input_per_1k"]
    assert not App.objects.filter(name="New bot").exists()


def test_someone_below_manage_cannot_set_prices(as_user, app, querier, outsider):
    assert patch(as_user(querier), {"price_input_per_1k": "1"}).status_code == 403
    assert patch(as_user(outsider), {"price_input_per_1k": "1"}).status_code == 404
    assert prices(app) == (None, None)


def test_the_schema_states_the_price_rule(client, db):
    schemas = component_schemas(client)
    update = schemas["PatchedAppUpdateInputRequest"]["properties"]

    for name in rules.PRICE_FIELDS:
        text, blank = update[name]["oneOf"]
        assert text == {"type": "string", "pattern": rules.PRICE_PATTERN}
        assert blank == {"type": "string", "maxLength": 0}
        assert update[name]["nullable"] is True
        assert name not in schemas["AppCreateInputRequest"]["properties"]
        assert schemas["AppDetailOutput"]["properties"][name]["nullable"] is True


def test_the_client_sets_prices_from_numbers_or_text(client_as, app, manager):
    client = client_as(manager)

    body = client.update_app("support-bot", price_input_per_1k=Decimal("0.0025"), price_output_per_1k=0.1)
    assert (body["price_input_per_1k"], body["price_output_per_1k"]) == ("0.002500", "0.100000")

    body = client.update_app("support-bot", price_input_per_1k="3", price_output_per_1k=None)
    assert (body["price_input_per_1k"], body["price_output_per_1k"]) == ("3.000000", None)
    assert prices(app) == (Decimal("3"), None)
