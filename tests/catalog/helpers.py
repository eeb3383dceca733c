"""The support-bot app's settings form and API, as the catalog tests post them."""

import json


def app_form(**changes) -> dict:
    """The settings form's fields for the demo adapter, with `changes`."""
    return {
        "form": "app",
        "name": "Support bot",
        "adapter": "demo",
        "version": "1",
        "timeout_seconds": "60",
    } | changes


def patch(client, body):
    return client.patch("/api/v1/apps/support-bot", json.dumps(body), content_type="application/json")
