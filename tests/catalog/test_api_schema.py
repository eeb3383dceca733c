def test_the_openapi_schema_documents_the_apps_routes_and_bearer_tokens(client, db):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    paths = schema["paths"]
    assert set(paths["/api/v1/apps"]) >= {"get", "post"}
    assert set(paths["/api/v1/apps/{slug}"]) >= {"get", "patch", "delete"}
    assert set(paths["/api/v1/apps/{slug}/permissions"]) >= {"get", "put"}
    assert set(paths["/api/v1/apps/{slug}/instructions"]) >= {"get", "put"}
    put_body = paths["/api/v1/apps/{slug}/permissions"]["put"]["requestBody"]["content"]["application/json"]
    assert put_body["schema"]["$ref"].endswith("/PermissionsInputRequest")  # COMPONENT_SPLIT_REQUEST
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token (Settings → API tokens)",
    }
