"""Checks shared by the tests that each rule is said once: the page, the API and the schema agree."""


def assert_refused_alike(page, api, field: str, words: str) -> None:
    """The page's form and the API both refuse `field` with a 400 in the same `words`."""
    assert page.status_code == 400 and words in page.content.decode()
    assert api.status_code == 400 and api.json() == {field: [words]}


def component_schemas(client) -> dict:
    """The OpenAPI document's component schemas, by name."""
    return client.get("/api/schema/", headers={"Accept": "application/json"}).json()["components"]["schemas"]
