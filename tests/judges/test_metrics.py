"""The judges that need no LLM, against values worked out by hand."""

import pytest

from reviewapp.judges import metrics


def test_words_are_unicode_words_case_folded():
    assert metrics.words("Rotate the KEY, then café; 鍵を回す!") == [
        "rotate",
        "the",
        "key",
        "then",
        "café",
        "鍵を回す",
    ]


def test_token_f1_counts_each_shared_word_as_often_as_both_say_it():
    # got: a a b c (4), want: a b b d (4); shared: a once, b once → 2; P = 2/4, R = 2/4.
    assert metrics.token_f1("a a b c", "a b b d") == pytest.approx(0.5)
    assert metrics.token_f1("open settings", "Open Settings.") == 1.0
    assert metrics.token_f1("nothing alike", "totally different") == 0.0
    assert metrics.token_f1("", "") == 1.0 and metrics.token_f1("", "x") == 0.0


def test_rouge_l_is_the_longest_common_subsequence_f_measure():
    # reference: the cat sat on the mat (6); response: the cat is on the mat (6); LCS: the cat on the mat (5).
    assert metrics.rouge_l("the cat is on the mat", "the cat sat on the mat") == pytest.approx(5 / 6)
    # Words rouge-score's own tokenizer would drop still count.
    assert metrics.rouge_l("鍵 を 回す", "鍵 を 回す") == 1.0


def test_exact_match_ignores_case_and_punctuation_only():
    assert metrics.exact_match("Open Settings!", "open settings") == 1.0
    assert metrics.exact_match("Open the Settings", "open settings") == 0.0


def test_a_sentence_is_grounded_when_most_of_its_words_are_in_the_passages():
    passages = ["Tokens can be rotated in Settings.", "Revoked tokens stop working at once."]
    answer = "Tokens can be rotated in Settings. Revoked tokens stop working. The moon is made of cheese."

    grounding = metrics.lexical_groundedness(answer, passages)

    assert (grounding.sentences, grounding.ungrounded) == (3, ["The moon is made of cheese."])
    assert grounding.score == pytest.approx(2 / 3)
    assert metrics.lexical_groundedness(answer, []) is None
    assert metrics.lexical_groundedness("...", passages) is None


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("precision", 1 / 3), ("hit_rate", 1.0), ("mrr", 1 / 2)],
)
def test_retrieval_scores_read_the_passages_rank_not_their_position(metric, expected):
    # Positions 4, 7, 9 are the 1st, 2nd, 3rd passages the model saw; only the 2nd is relevant.
    rank_of = {4: 1, 7: 2, 9: 3}
    relevant = {4: False, 7: True, 9: False}

    assert metrics.retrieval_score(metric, relevant, rank_of) == pytest.approx(expected)


def test_no_rated_passage_gives_no_retrieval_score():
    assert metrics.retrieval_score("mrr", {}, {0: 1}) is None
    assert metrics.retrieval_score("mrr", {0: False}, {0: 1}) == 0.0
