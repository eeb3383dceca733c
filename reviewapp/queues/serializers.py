from rest_framework import serializers

from .models import ReviewQueue


class QueueCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    overlap = serializers.IntegerField(required=False, default=1, min_value=1)
    assignment = serializers.ChoiceField(
        choices=ReviewQueue.Assignment.choices, required=False, default=ReviewQueue.Assignment.OPEN
    )
    blind = serializers.BooleanField(required=False, default=False)
    reviewers = serializers.ListField(child=serializers.EmailField(), required=False, default=list)
    request_ids = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class QueueItemsInput(serializers.Serializer):
    request_ids = serializers.ListField(child=serializers.CharField(), allow_empty=False)


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
    metric = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    units = serializers.IntegerField()
    raters = serializers.IntegerField()
    note = serializers.CharField()


class DisagreementOutput(serializers.Serializer):
    request_id = serializers.UUIDField(source="item.request_id")
    score = serializers.FloatField()
    rating = serializers.DictField(child=serializers.CharField())
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
        from .services import queue_progress

        return ProgressOutput(queue_progress(queue=queue)).data


class QueueDetailOutput(QueueOutput):
    agreement = serializers.SerializerMethodField()

    class Meta(QueueOutput.Meta):
        fields = [*QueueOutput.Meta.fields, "agreement"]

    def get_agreement(self, queue) -> QueueAgreementOutput:
        from .services import queue_agreement

        return QueueAgreementOutput(queue_agreement(queue=queue)).data
