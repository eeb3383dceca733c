"""The Feedback API's input serializer builds its fields once per class and binds copies per call:
every body validates exactly as with DRF's per-call deep copies, alone and from many threads."""

import threading

import pytest
from rest_framework import serializers

from reviewapp.feedback.serializers import FeedbackIn

REQUEST_ID = "0b1e9a2c-5d7f-4c1e-9a3b-2f6d8e4c7a10"
TOO_MANY = [{"position": i, "rating": "relevant"} for i in range(10_001)]

BODIES = [
    {"request_id": REQUEST_ID, "rating": "positive"},
    {
        "request_id": REQUEST_ID,
        "rating": "negative",
        "reasons": ["inaccurate", "incomplete"],
        "comment": " kept ",
    },
    {"request_id": REQUEST_ID, "retrieval_assessments": [{"position": 2, "rating": "relevant"}]},
    {"request_id": REQUEST_ID, "retrieval_assessments": [{"position": 1, "rating": None, "comment": "gone"}]},
    {"request_id": REQUEST_ID, "corrected_response": "Better", "missing_sources": [{"doc_uri": "docs://x"}]},
    {"request_id": REQUEST_ID, "missing_sources": [{"content": "A passage it should have found"}]},
    # Refused, each for its own reason, some deep inside a nested list:
    {"request_id": "not-a-uuid", "rating": "positive"},
    {"request_id": REQUEST_ID, "rating": "meh"},
    {
        "request_id": REQUEST_ID,
        "retrieval_assessments": [{"position": -1, "rating": "relevant"}, {"rating": "x"}],
    },
    {"request_id": REQUEST_ID, "retrieval_assessments": {"position": 1}},
    {"request_id": REQUEST_ID, "retrieval_assessments": TOO_MANY},
    {"request_id": REQUEST_ID, "missing_sources": [{"doc_uri": 7}]},
    {"request_id": REQUEST_ID, "reasons": ["fine", 3]},
    {"request_id": REQUEST_ID, "comment": 12},
    {"request_id": REQUEST_ID, "rating": "positive", "ratting": "typo"},
    {"rating": "positive"},
    [],
]


class DeepCopiedPerCall(FeedbackIn):
    get_fields = serializers.Serializer.get_fields  # DRF's own: a deep copy of every field per instance


def outcome(serializer_class, body):
    serializer = serializer_class(data=body)
    valid = serializer.is_valid()
    return valid, serializer.validated_data if valid else serializer.errors


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_body_validates_as_with_drf_s_per_call_copies(body):
    assert outcome(FeedbackIn, body) == outcome(DeepCopiedPerCall, body)


def test_each_instance_binds_fields_of_its_own():
    first, second = FeedbackIn(data=BODIES[0]), FeedbackIn(data=BODIES[1])

    assert repr(first.fields) == repr(second.fields) == repr(DeepCopiedPerCall().fields)
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second


def test_threads_validating_at_once_each_get_their_own_answer():
    expected = [outcome(DeepCopiedPerCall, body) for body in BODIES if body is not BODIES[10]]
    bodies = [body for body in BODIES if body is not BODIES[10]]
    wrong = []
    start = threading.Barrier(8)

    def validate_all(offset):
        start.wait()
        for n in range(300):
            i = (n + offset) % len(bodies)
            got = outcome(FeedbackIn, bodies[i])
            if got != expected[i]:
                wrong.append((i, got))

    threads = [threading.Thread(target=validate_all, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
