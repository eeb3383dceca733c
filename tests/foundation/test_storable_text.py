"""What a chain says is stored as nearly as the databases allow, and the change is told."""

import json

from reviewapp.lib.text import storable, storable_json


def test_nul_is_removed_and_an_unpaired_surrogate_becomes_the_replacement_character():
    assert storable("a\x00b\ud800c\udfff") == ("ab\ufffdc\ufffd", True)


def test_text_that_stores_as_it_is_comes_back_unchanged_and_unflagged():
    text = "plain, accented é, emoji 😀, control \x07 and tab \t"
    assert storable(text) == (text, False)


def test_a_surrogate_pair_from_json_escapes_is_joined_into_its_character():
    decoded = "\ud83d\ude00"  # a pair held as two code points, as some decoders leave it
    assert storable(decoded)[0] == "😀"


def test_every_string_and_key_of_a_trace_is_made_storable_and_non_numbers_become_null():
    trace = {
        "spans": [{"name": "re\x00trieve", "k\ud800": ["ok", "bad\udc00"], "score": float("nan")}],
        "n": 1,
    }
    clean, altered = storable_json(trace)
    assert altered
    assert clean == {"spans": [{"name": "retrieve", "k\ufffd": ["ok", "bad\ufffd"], "score": None}], "n": 1}
    json.dumps(clean, allow_nan=False).encode("utf-8")  # what both databases accept


def test_an_unaltered_value_is_returned_as_the_same_object():
    trace = {"spans": [{"name": "retrieve", "score": 0.5}]}
    clean, altered = storable_json(trace)
    assert clean is trace and not altered


def test_a_very_deep_trace_does_not_exhaust_the_stack():
    deep = inner = {}
    for _ in range(50_000):
        inner["child"] = {}
        inner = inner["child"]
    inner["text"] = "\x00"
    clean, altered = storable_json(deep)
    assert altered
    for _ in range(50_000):
        clean = clean["child"]
    assert clean == {"text": ""}
