from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.lib.serializers import Flag, Text

from . import services
from .models import ReviewQueue

# Sizes are checked here, before any work.
MAX_REVIEWERS = 1000


@extend_schema_field({"type": "string", "format": "uuid"})
class RequestId(Text):
    """A request's UUID, as text; the service parses it and says which ones are not."""


class QueueCreateInput(serializers.Serializer):
    # Text: a number is refused, not turned into a name. Limits: the service's own validators.
    name = Text(validators=services.NAME)
    instructions = Text(required=False, allow_blank=True, default="", validators=services.INSTRUCTIONS)
    overlap = serializers.IntegerField(required=False, default=1, validators=services.OVERLAP)
    assignment = serializers.ChoiceField(
        choices=ReviewQueue.Assignment.choices, required=False, default=ReviewQueue.Assignment.OPEN
    )
    blind = Flag(required=False, default=False)
    reviewers = serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, default=list, max_length=MAX_REVIEWERS
    )
    request_ids = serializers.ListField(
        child=RequestId(max_length=100), required=False, default=list, validators=services.REQUEST_IDS
    )


class QueueItemsInput(serializers.Serializer):
    request_ids = serializers.ListField(
        child=RequestId(max_length=100), allow_empty=False, min_length=1, validators=services.REQUEST_IDS
    )


class AddResultOutput(serializers.Serializer):
    added = serializers.IntegerField(help_text="How many requests were added")
    already_in_queue = serializers.ListField(
        child=serializers.UUIDField(), help_text="Requests that were in the queue already (left as they were)"
    )
    items = serializers.IntegerField(help_text="Items in the queue now")


class ReviewerProgressOutput(serializers.Serializer):
    email = serializers.EmailField()
    done = serializers.IntegerField()
    reserved = serializers.IntegerField()


class ProgressOutput(serializers.Serializer):
    items = serializers.IntegerField()
    reviews_needed = serializers.IntegerField()
    reviews_done = serializers.IntegerField()
    items_complete = serializers.IntegerField()
    reviewers = ReviewerProgressOutput(many=True)


class AgreementOutput(serializers.Serializer):
    metric = Text()
    value = serializers.FloatField(allow_null=True)
    units = serializers.IntegerField()
    raters = serializers.IntegerField()
    note = Text()


class DisagreementOutput(serializers.Serializer):
    request_id = serializers.UUIDField(source="item.request_id")
    score = serializers.FloatField()
    rating = serializers.DictField(child=Text())
    chunks = serializers.DictField()


class QueueAgreementOutput(serializers.Serializer):
    rating = AgreementOutput()
    chunks = AgreementOutput()
    disagreements = DisagreementOutput(many=True)


class QueueOutput(serializers.ModelSerializer):
    app = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    reviewers = serializers.SlugRelatedField(slug_field="email", many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ReviewQueue
        fields = [
            "id",
            "app",
            "name",
            "instructions",
            "overlap",
            "assignment",
            "blind",
            "reviewers",
            "created_by",
            "created_at",
            "progress",
        ]

    def get_progress(self, queue) -> ProgressOutput:
        from .progress import queue_progress

        return ProgressOutput(queue_progress(queue=queue)).data


class QueueDetailOutput(QueueOutput):
    agreement = serializers.SerializerMethodField()

    class Meta(QueueOutput.Meta):
        fields = [*QueueOutput.Meta.fields, "agreement"]

    def get_agreement(self, queue) -> QueueAgreementOutput:
        from .progress import queue_agreement

        return QueueAgreementOutput(queue_agreement(queue=queue)).data
