"""`manage.py load_demo`: the demo install, made once, whatever the number of runs."""

import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, AppVersion, Grant, Level, PermissionAudit, ReviewInstructions
from reviewapp.front import demo
from reviewapp.requestlog.models import Request

MODELS = [User, App, AppVersion, Grant, PermissionAudit, ReviewInstructions, Request]
TURNS = sum(len(questions) for questions in demo.CONVERSATIONS)


@pytest.fixture
def var_dir(tmp_path, demo_model_uri):
    with override_settings(VAR_DIR=tmp_path, DEMO_PASSWORD=""):
        yield tmp_path


@pytest.fixture
def few_conversations(monkeypatch):
    """The first four conversations only, where the whole history is beside the point (speed)."""
    monkeypatch.setattr(demo, "CONVERSATIONS", demo.CONVERSATIONS[:4])


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in MODELS}


def run_command() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_loading_the_demo_twice_leaves_the_same_row_counts(var_dir):
    first = run_command()
    after_first = counts()
    second = run_command()

    assert counts() == after_first
    assert after_first["Request"] == TURNS >= 30
    assert "Demo loaded" in first and "docs-assistant" in first
    assert "Demo already loaded: nothing to add." in second


@pytest.mark.django_db
def test_the_demo_app_is_served_by_the_registered_chain_with_three_levels_of_access(
    var_dir, few_conversations
):
    demo.load_demo()

    app = App.objects.get(slug="docs-assistant")
    assert app.name == "Docs assistant"
    assert app.adapter == "mlflow"
    assert app.adapter_config == {"model_uri": "models:/reviewapp-demo@champion"}
    levels = {email: app.level_for(User.objects.get(email=email)) for email, _ in demo.USERS}
    assert levels == {
        "manager@example.com": Level.CAN_MANAGE,
        "reviewer@example.com": Level.CAN_QUERY,
        "viewer@example.com": Level.CAN_VIEW,
    }
    instructions = app.current_instructions()
    assert instructions.version == 1 and "# Reviewing the Docs assistant" in instructions.markdown


@pytest.mark.django_db
def test_the_historical_turns_are_real_chain_answers_in_conversations_over_past_days(var_dir):
    demo.load_demo()

    turns = list(Request.objects.order_by("created_at"))
    assert {t.source for t in turns} == {"review_app", "rest_api"}
    assert (turns[-1].created_at - turns[0].created_at).days >= 7
    follow_ups = [t for t in turns if len(t.messages) > 1]
    assert follow_ups and all(t.messages[-2]["role"] == "assistant" for t in follow_ups)
    answered = [t for t in turns if t.chunks]
    assert len(answered) >= TURNS - 2
    for turn in answered:
        assert turn.mlflow_trace_id.startswith("tr-")
        assert turn.chunks[0]["doc_uri"] in turn.response
        assert turn.total_tokens == turn.request_tokens + turn.response_tokens


@pytest.mark.django_db
def test_a_partly_loaded_history_is_completed_without_duplicates(var_dir, few_conversations):
    demo.load_demo()
    Request.objects.filter(conversation_id=demo.history_ids(0, 0)[0]).delete()

    summary = demo.load_demo()

    assert summary.created == ["2 historical turns"]
    assert Request.objects.count() == sum(len(questions) for questions in demo.CONVERSATIONS)


@pytest.mark.django_db
def test_the_generated_password_is_kept_so_every_run_prints_the_same(var_dir, few_conversations, client):
    first = demo.load_demo().password
    second = demo.load_demo().password

    assert first == second == (var_dir / "demo_password").read_text()
    assert client.login(email="reviewer@example.com", password=first)


@pytest.mark.django_db
def test_demo_password_sets_every_demo_users_password(var_dir, few_conversations, client):
    demo.load_demo()
    with override_settings(DEMO_PASSWORD="chosen-by-the-admin"):
        summary = demo.load_demo()

    assert summary.password_from_env
    for email, _level in demo.USERS:
        assert User.objects.get(email=email).check_password("chosen-by-the-admin")


@pytest.mark.django_db
def test_a_level_changed_after_loading_is_left_alone(var_dir, few_conversations):
    demo.load_demo()
    Grant.objects.filter(user__email="viewer@example.com").update(level=Level.CAN_QUERY)

    demo.load_demo()

    assert Grant.objects.get(user__email="viewer@example.com").level == Level.CAN_QUERY
