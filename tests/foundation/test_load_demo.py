"""`manage.py load_demo`: the demo install, made once, whatever the number of runs."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db.models import Min
from django.test import override_settings
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, AppVersion, Grant, Level, PermissionAudit, ReviewInstructions
from reviewapp.feedback.models import Assessment, FeedbackReason, RequestFeedback
from reviewapp.feedback.services import record_feedback
from reviewapp.front import demo
from reviewapp.judges.models import Judge, JudgeResult, JudgeVersion
from reviewapp.requestlog.models import AppDocument, Request, RetrievedDocument

MODELS = [
    User,
    App,
    AppVersion,
    Grant,
    PermissionAudit,
    ReviewInstructions,
    Request,
    RetrievedDocument,
    AppDocument,
    Assessment,
    RequestFeedback,
    FeedbackReason,
    Judge,
    JudgeVersion,
    JudgeResult,
]
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
        "expert@example.com": Level.CAN_QUERY,
    }
    instructions = app.current_instructions()
    assert instructions.version == 1 and "# Reviewing the Docs assistant" in instructions.markdown
    assert app.example_questions == demo.EXAMPLE_QUESTIONS


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

    assert summary.created[0] == "2 historical turns"
    assert Request.objects.count() == sum(len(questions) for questions in demo.CONVERSATIONS)
    # Their feedback went with them (a cascade), and came back with them.
    assert {a.request.conversation_id for a in Assessment.objects.select_related("request")} >= {
        demo.history_ids(0, 0)[0]
    }


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


@pytest.mark.django_db
def test_the_history_covers_the_last_month_in_two_versions(var_dir):
    now = timezone.now()
    demo.load_demo(now=now)

    turns = list(Request.objects.order_by("created_at"))
    assert now - datetime.timedelta(days=30) < turns[0].created_at < now - datetime.timedelta(days=25)
    assert now - datetime.timedelta(days=3) < turns[-1].created_at < now
    versions = [t.app_version for t in turns]
    assert set(versions) == {"1", "2"}
    # Version 1 first, then version 2: two releases, one after the other.
    assert versions == sorted(versions)
    assert min(versions.count("1"), versions.count("2")) >= TURNS // 3
    # Each turn lists the documents it retrieved, for drift.
    assert RetrievedDocument.objects.values("request_id").distinct().count() >= TURNS - 2
    # And the app's list of them, each at its first turn, for the log's novelty filter.
    first_seen = RetrievedDocument.objects.values("app_id", "doc_uri").annotate(first=Min("created_at"))
    assert set(AppDocument.objects.values_list("app_id", "doc_uri", "first_seen")) == {
        (d["app_id"], d["doc_uri"], d["first"]) for d in first_seen
    }


@pytest.mark.django_db
def test_two_demo_reviewers_give_feedback_through_the_feedback_service(var_dir):
    demo.load_demo()

    reviewers = set(Assessment.objects.values_list("reviewer__email", flat=True))
    assert reviewers == {email for email, _share in demo.REVIEWERS}
    assert set(Assessment.objects.values_list("rating", flat=True)) == {"positive", "negative"}
    assert FeedbackReason.objects.exists()
    assert Assessment.objects.exclude(retrieval_assessments=[]).exists()
    assert Assessment.objects.filter(corrected_response__isnull=False).exists()
    # Summed as every assessment is, so the dashboard reads them: one summary per reviewed turn.
    assert RequestFeedback.objects.count() == Assessment.objects.values("request_id").distinct().count()
    assert RequestFeedback.objects.filter(passages_rated__gt=0).exists()
    # Version 2 is liked better, so the dashboard's A/B has something to say.
    share = {}
    for version in ("1", "2"):
        rated = RequestFeedback.objects.filter(app_version=version).exclude(verdict="")
        share[version] = rated.filter(verdict="positive").count() / rated.count()
    assert share["2"] > share["1"]
    # Out-of-scope questions are disliked by whoever reviewed them.
    weather = Request.objects.get(messages__0__content="What is the weather in Lisbon tomorrow?")
    assert set(Assessment.objects.filter(request=weather).values_list("rating", flat=True)) <= {"negative"}


@pytest.mark.django_db
def test_feedback_someone_changed_since_is_left_alone(var_dir, few_conversations):
    demo.load_demo()
    reviewer = User.objects.get(email="reviewer@example.com")
    first = Assessment.objects.filter(reviewer=reviewer).order_by("created_at").first()
    changed = record_feedback(
        request=first.request, reviewer=reviewer, changes={"comment": "On second thought."}
    )
    before = counts()

    summary = demo.load_demo()

    assert counts() == before
    assert not any("feedback" in item for item in summary.created)
    assert Assessment.objects.effective_for(first.request, reviewer).pk == changed.assessment.pk


@pytest.mark.django_db
def test_the_demo_judges_have_results_at_once_with_no_llm(var_dir, few_conversations):
    demo.load_demo()

    app = App.objects.get(slug="docs-assistant")
    judges = {j.name: j.kind for j in Judge.objects.filter(app=app)}
    # The suite has the embeddings extra (make test installs it): groundedness by meaning as well.
    assert judges == {
        "correction_token_f1": "reference",
        "grounded_sentences_lexical": "groundedness",
        "grounded_sentences_embedding": "groundedness",
        "rated_chunk_precision": "retrieval",
    }
    reviewed = RequestFeedback.objects.filter(app=app).count()
    by_judge = {name: JudgeResult.objects.filter(version__judge__name=name).count() for name in judges}
    # Every reviewed answer has sentences and passages; some have a correction or rated chunks.
    assert by_judge["grounded_sentences_lexical"] == by_judge["grounded_sentences_embedding"] == reviewed > 0
    assert 0 < by_judge["rated_chunk_precision"] <= reviewed
    assert all(r.source_type == "CODE" for r in JudgeResult.objects.all())
