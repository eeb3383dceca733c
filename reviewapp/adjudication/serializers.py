from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.lib.serializers import StrictSerializer, Text

from . import services


class ReviewOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="The reviewer's number on the item; `pick` takes it")
    reviewer = serializers.CharField(
        source="label", help_text="Their email, or “Reviewer N” when the queue is blind"
    )
    rating = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField()
    corrected_response = serializers.CharField(allow_null=True)
    passages = serializers.SerializerMethodField()

    @extend_schema_field(
        serializers.ListField(
            child=serializers.DictField(),
            help_text="[{position, rating: relevant | not_relevant, comment}] for each passage they rated",
        )
    )
    def get_passages(self, review):
        return [
            {"position": position, "rating": chunk["rating"], "comment": chunk["comment"]}
            for position, chunk in sorted(review.chunks.items())
        ]


class AdjudicationOutput(serializers.Serializer):
    rating = serializers.CharField()
    relevant = serializers.DictField(
        child=serializers.BooleanField(), help_text="passage position → relevant"
    )
    corrected_response = serializers.CharField()
    chosen = serializers.CharField(allow_null=True, help_text="Whose feedback was taken, if one was")
    note = serializers.CharField()
    adjudicator = serializers.EmailField(allow_null=True, source="adjudicator.email", default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    revision = serializers.IntegerField()
    mlflow_status = serializers.CharField(
        help_text="Write-back to the trace: pending, done, failed, skipped, or blank"
    )


class CaseOutput(serializers.Serializer):
    request_id = serializers.UUIDField(source="item.request_id")
    request = serializers.CharField(source="request.request_text")
    response = serializers.CharField(source="request.response")
    status = serializers.SerializerMethodField()
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=["thumbs", "passages", "correction"]),
        help_text="What the reviewers disagree on now (empty once they agree)",
    )
    score = serializers.FloatField()
    reviews = ReviewOutput(many=True)
    adjudication = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=["open", "settled"]))
    def get_status(self, case):
        return "settled" if case.settled else "open"

    @extend_schema_field(AdjudicationOutput(allow_null=True))
    def get_adjudication(self, case):
        adjudication = case.adjudication
        if adjudication is None:
            return None
        chosen = next(
            (r.label for r in case.reviews if r.reviewer_id == adjudication.chosen_reviewer_id), None
        )
        adjudication.chosen = chosen
        return AdjudicationOutput(adjudication).data


class Number(serializers.IntegerField):
    """A JSON whole number: "1" and true are refused, not turned into 1."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class AdjudicationInput(StrictSerializer):
    pick = Number(
        required=False, allow_null=True, min_value=1, help_text="Take this reviewer's feedback as it is"
    )
    rating = serializers.ChoiceField(choices=list(services.RATINGS), required=False)
    relevant = serializers.DictField(
        child=serializers.ChoiceField(choices=list(services.CHUNK_RATINGS)),
        required=False,
        help_text="passage position → relevant | not_relevant",
    )
    corrected_response = Text(required=False, allow_blank=True, trim_whitespace=False)
    note = Text(required=False, allow_blank=True, default="")


class ListParams(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["open", "settled"], required=False, help_text="only the open, or only the settled items"
    )
    page = serializers.IntegerField(required=False, default=1, min_value=1)
    page_size = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)
