import re

import pytest
from playwright.sync_api import expect

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import Level

pytestmark = pytest.mark.browser


def test_a_manager_grants_changes_and_removes_access_without_a_page_reload(
    page_for, app, manager, transactional_db
):
    page = page_for(manager)
    page.goto("/apps/support-bot/permissions/")
    page.evaluate("window.notReloaded = true")

    page.get_by_label("Users or groups").fill("reviewer@example.com")
    page.locator("#id_level").select_option("CAN_QUERY")
    page.get_by_role("button", name="Grant").click()
    row = page.get_by_test_id("grant-reviewer@example.com")
    expect(row).to_contain_text("not signed in yet")
    assert app.level_for(app.grants.get(user__email="reviewer@example.com").user) == Level.CAN_QUERY

    row.get_by_label("Level for reviewer@example.com").select_option("CAN_MANAGE")
    row.get_by_role("button", name="Change").click()
    expect(page.locator("#permissions-section")).to_contain_text("Saved")
    expect(page.locator("#permissions-section table.compact")).to_contain_text("Can manage")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove reviewer@example.com").click()
    expect(page.get_by_test_id("grant-reviewer@example.com")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    assert list(app.audit.order_by("id").values_list("after", flat=True)) == [
        "CAN_QUERY",
        "CAN_MANAGE",
        "NONE",
    ]


def test_a_new_token_is_shown_once_and_revoked_in_place(page_for, querier, transactional_db):
    page = page_for(querier)
    page.goto("/settings/tokens/")
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    value = page.get_by_test_id("new-token-value")
    expect(value).to_have_text(re.compile(r"^rvw_"))
    token = ApiToken.objects.get(user=querier)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke laptop").click()
    expect(page.get_by_test_id(f"token-{token.pk}")).to_contain_text("revoked")
    token.refresh_from_db()
    assert token.revoked_at is not None
    page.reload()
    expect(page.get_by_test_id("new-token-value")).to_have_count(0)
