"""The Feedback API's output serializer works its fields out from the model once per process and
gives every instance copies of its own."""

from rest_framework import serializers

from reviewapp.feedback.serializers import AssessmentOut


def test_each_instance_gets_the_fields_the_model_gives_bound_to_itself():
    first, second = AssessmentOut(), AssessmentOut()
    fresh = serializers.ModelSerializer.get_fields(AssessmentOut())  # DRF's own walk of the model

    assert repr(first.fields) == repr(second.fields) == repr(fresh)
    for name in fresh:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
