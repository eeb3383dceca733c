"""Oversized lists are refused by their size first, before any work per item."""

import json

import pytest
from django.core.exceptions import ValidationError

from reviewapp.catalog import rules, services
from reviewapp.catalog.models import App

MANY = 60_000


def test_sixty_thousand_reasons_are_refused_by_their_count_before_anything_else():
    # The first item is too long and the last is not a string: the count is reported first.
    reasons = ["x" * 101] + [f"reason {n}" for n in range(MANY - 2)] + [7]

    with pytest.raises(ValidationError) as exc:
        rules.clean_reasons(reasons)

    assert exc.value.message_dict == {"reasons": ["at most 30 reasons (60,000 given)"]}


def test_padding_beyond_any_sensible_length_is_refused_before_stripping():
    with pytest.raises(ValidationError, match="at most 100 characters"):
        rules.clean_reasons([" " * 50_000 + "slow"])


def test_reasons_are_deduplicated_keeping_their_order():
    given = ["wrong", "slow", " wrong ", "", "Other", "slow", "rude"]
    assert rules.clean_reasons(given) == ["wrong", "slow", "rude"]


def test_the_api_answers_sixty_thousand_reasons_with_a_400_and_changes_nothing(as_user, app, manager):
    body = json.dumps({"reasons": [f"reason {n}" for n in range(MANY)]})

    response = as_user(manager).patch(f"/api/v1/apps/{app.slug}", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["reasons"]  # the serializer or the service names the limit
    assert App.objects.get(pk=app.pk).reasons == app.reasons


def test_too_many_principals_are_refused_before_any_is_parsed_or_created(app, manager):
    principals = [f"user{n}@example.com" for n in range(MANY)]

    with pytest.raises(ValidationError) as exc:
        services.set_permissions(actor=manager, app=app, principals=principals, level="CAN_VIEW")

    assert exc.value.message_dict == {"principals": ["at most 200 principals at once (60,000 given)"]}
    assert app.grants.count() == 1


def test_adapter_settings_are_refused_by_their_count_before_each_key_is_read():
    config = {f"key{n}": "x" for n in range(MANY)}

    with pytest.raises(ValidationError) as exc:
        rules.clean_adapter_config(App.Adapter.HTTP, config)

    assert exc.value.message_dict == {"adapter_config": ["at most 10 settings"]}


def test_an_adapter_setting_longer_than_the_limit_is_refused_with_its_name():
    config = {"url": "https://chains.example.com/" + "a" * 5000}

    with pytest.raises(ValidationError) as exc:
        rules.clean_adapter_config(App.Adapter.HTTP, config)

    assert exc.value.message_dict["adapter_config.url"] == ["at most 2000 characters"]


def test_the_app_form_refuses_an_oversized_endpoint_url_and_keeps_what_was_typed(client, app, manager):
    client.force_login(manager)
    url = "https://chains.example.com/" + "a" * 5000

    response = client.post(
        f"/apps/{app.slug}/settings/",
        {
            "form": "app",
            "name": "Renamed",
            "adapter": "http",
            "endpoint_url": url,
            "version": "1",
            "timeout_seconds": 60,
        },
    )

    assert response.status_code in (200, 400)
    assert "at most 2000 characters" in response.content.decode()
    assert "Renamed" in response.content.decode()
    assert App.objects.get(pk=app.pk).name == app.name
