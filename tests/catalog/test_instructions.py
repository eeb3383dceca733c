from reviewapp.catalog.models import ReviewInstructions

HX = {"HX-Request": "true"}


def put(client, markdown, slug="support-bot"):
    return client.put(
        f"/api/v1/apps/{slug}/instructions", {"markdown": markdown}, content_type="application/json"
    )


def test_each_change_is_a_new_version_and_the_newest_is_in_force(as_user, app, manager, viewer):
    client = as_user(manager)
    assert put(client, "Check the **sources**.").json()["version"] == 1
    assert put(client, "Check the **sources**.").json()["version"] == 1
    second = put(client, "Check the sources and the tone.").json()
    assert second["version"] == 2
    assert list(ReviewInstructions.objects.filter(app=app).values_list("version", flat=True)) == [2, 1]

    current = as_user(viewer).get("/api/v1/apps/support-bot/instructions").json()
    assert current["version"] == 2
    assert current["markdown"] == "Check the sources and the tone."
    assert current["created_by"] == "manager@example.com"
    assert current["html"] == "<p>Check the sources and the tone.</p>\n"


def test_an_app_without_instructions_answers_version_null(as_user, app, viewer):
    body = as_user(viewer).get("/api/v1/apps/support-bot/instructions").json()
    assert body["version"] is None and body["markdown"] == ""


def test_html_in_instructions_is_inert_on_the_app_page(as_user, app, manager, querier):
    put(as_user(manager), "# Guide\n\n<script>alert('x')</script>\n\n[help](javascript:alert(1))")
    page = as_user(querier).get("/apps/support-bot/").content.decode()
    assert "<h1>Guide</h1>" in page
    assert "<script>alert" not in page
    assert 'href="javascript' not in page
    assert "Version 1" in page


def test_bad_instructions_are_400_and_store_nothing(as_user, app, manager):
    client = as_user(manager)
    too_long = put(client, "x" * 100_001)
    assert too_long.status_code == 400 and "markdown" in too_long.json()
    assert put(client, 42).status_code == 400
    empty_body = client.put("/api/v1/apps/support-bot/instructions", {}, content_type="application/json")
    assert empty_body.status_code == 400 and "markdown" in empty_body.json()
    assert not ReviewInstructions.objects.exists()


def test_managers_edit_instructions_on_the_settings_page(as_user, app, manager):
    response = as_user(manager).post(
        "/apps/support-bot/settings/", {"form": "instructions", "markdown": "Be *precise*."}, headers=HX
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="instructions"')
    assert "Saved" in body and "<em>precise</em>" in body
    assert app.current_instructions().markdown == "Be *precise*."


def test_too_long_instructions_in_the_form_are_an_error_that_keeps_the_text(as_user, app, manager):
    text = "y" * 100_001
    response = as_user(manager).post(
        "/apps/support-bot/settings/", {"form": "instructions", "markdown": text}
    )
    assert "at most 100000 characters" in response.content.decode()
    assert text in response.content.decode()
    assert not ReviewInstructions.objects.exists()
