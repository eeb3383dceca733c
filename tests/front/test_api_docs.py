"""/api/docs/ works without internet: Swagger UI, its styles and its start-up script all come
from this site (drf-spectacular-sidecar), under a policy with no inline script."""

import pytest
from playwright.sync_api import expect


def test_the_docs_page_names_only_our_own_files(manager, as_user):
    response = as_user(manager).get("/api/docs/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in body
    assert "cdn" not in body.lower() and "https://" not in body
    assert "'unsafe-inline'" not in response["Content-Security-Policy"].split("script-src")[1].split(";")[0]


@pytest.mark.browser
def test_the_docs_render_the_operations_asking_nothing_of_another_host(page_for, live_server, manager):
    page = page_for(manager)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("reviewapp API", timeout=20_000)
    operation = page.locator(".opblock-summary-description", has_text="Import historical traces")
    expect(operation.first).to_be_visible()
    operation.first.click()  # the operation opens: its request body schema is drawn from the schema
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.wait_for_load_state("networkidle")

    own = [url for url in requested if url.startswith(live_server.url + "/")]
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in own), requested
    assert any(url.startswith(live_server.url + "/api/schema") for url in own), requested
    others = [url for url in requested if url not in own and not url.startswith(("data:", "blob:"))]
    assert others == []
