"""The curation and export pages in people's words: no JSON or Python dicts where a reader looks."""

from reviewapp.exports.models import EvaluationSet, EvaluationSetVersion
from reviewapp.jobs.models import Job
from tests.exports.helpers import reviewed


def test_a_version_page_describes_its_manifest_in_words(app, manager, as_user):
    job = Job.objects.create(kind="export_evaluation_set", app=app, params={})
    evaluation_set = EvaluationSet.objects.create(app=app, name="golden")
    EvaluationSetVersion.objects.create(
        evaluation_set=evaluation_set,
        number=1,
        job=job,
        row_count=1234,
        relative_dir="x",
        manifest={
            "selected": 1300,
            "left_out": 66,
            "rule": "leave_out",
            "rule_means": "requests reviewers disagree on are left out",
            "filters": {"rating": "negative", "has_correction": True, "reasons": ["rude", "wrong"]},
            "app_versions": {"1": 2, "2": 1232},
            "instructions_versions": {"3": 1234},
        },
    )

    html = as_user(manager).get(f"/apps/{app.slug}/exports/sets/golden/v1/").content.decode()

    assert "1,234 (of 1,300 selected; 66 left out)" in html
    assert "leave out: requests reviewers disagree on are left out" in html
    assert "Rating: negative · Reasons: rude, wrong · Has a correction: yes" in html
    assert "version 2: 1,232 rows · version 1: 2 rows" in html
    assert "{&#x27;" not in html and "{'" not in html and "True" not in html


def test_the_curation_preview_reads_as_cards_with_the_raw_lines_behind_a_disclosure(app, manager, as_user):
    reviewed(app, manager, "positive", question="Is the sky blue?")

    html = as_user(manager).get(f"/apps/{app.slug}/curate/").content.decode()

    cards = html[html.index('data-testid="preview"') : html.index("Show raw JSONL")]
    assert "Is the sky blue?" in cards and "Expected answer" in cards and "&quot;" not in cards
    raw = html[html.index("<details", html.index("Show raw JSONL") - 200) :]
    assert "&quot;request&quot;: &quot;Is the sky blue?&quot;" in raw
