"""A new API token is copied with one click; without the clipboard API it is selected instead."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def create_token(page) -> str:
    page.goto("/settings/tokens/")
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    value = page.get_by_test_id("new-token-value")
    expect(value).to_have_text(re.compile(r"^rvw_"))
    return value.inner_text().strip()


def test_the_copy_button_puts_the_new_token_on_the_clipboard_and_says_so(
    page_for, live_server, querier, transactional_db
):
    page = page_for(querier)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    token = create_token(page)

    page.get_by_role("button", name="Copy token").click()
    expect(page.get_by_test_id("copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token


def test_the_copy_button_is_reachable_by_keyboard(page_for, live_server, querier, transactional_db):
    page = page_for(querier)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    token = create_token(page)

    page.get_by_role("button", name="Copy token").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token


def test_without_the_clipboard_api_the_token_is_selected_for_the_user_to_copy(
    page_for, querier, transactional_db
):
    page = page_for(querier)
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
    token = create_token(page)

    page.get_by_role("button", name="Copy token").click()
    expect(page.get_by_test_id("copy-status")).not_to_be_empty()
    assert page.evaluate("window.getSelection().toString()").strip() == token


def test_without_javascript_there_is_no_copy_button_that_does_nothing(querier, as_user):
    response = as_user(querier).post(reverse("token-list"), {"name": "laptop"})
    body = response.content.decode()
    assert 'data-copy="new-token-value"' in body
    assert re.search(r"<button[^>]*data-copy=\"new-token-value\"[^>]*hidden", body)
