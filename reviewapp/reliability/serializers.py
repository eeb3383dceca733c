from rest_framework import serializers

from reviewapp.lib.serializers import StrictSerializer
from reviewapp.queues.serializers import RequestId

from .services import MAX_REQUEST_IDS


class GoldInput(StrictSerializer):
    request_ids = serializers.ListField(
        child=RequestId(max_length=100), allow_empty=False, min_length=1, max_length=MAX_REQUEST_IDS
    )


class GoldItemOutput(serializers.Serializer):
    request_id = serializers.UUIDField()
    rating = serializers.CharField(help_text="positive | negative | empty when the thumbs have no key")
    relevant = serializers.DictField(
        child=serializers.BooleanField(), help_text="passage position (as text) → relevant, where settled"
    )
    source = serializers.CharField(help_text="adjudicated | majority: where the answer key came from")
    unsettled = serializers.ListField(child=serializers.CharField(), help_text="what has no key, and why")
    marked_by = serializers.EmailField(source="marked_by.email", allow_null=True, default=None)
    marked_at = serializers.DateTimeField()


class ScoreOutput(serializers.Serializer):
    correct = serializers.IntegerField()
    total = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="correct / total; null when total is 0")


class DawidSkeneOutput(serializers.Serializer):
    accuracy = serializers.FloatField(help_text="chance of giving the true thumbs label")
    reliability = serializers.FloatField(
        help_text="0 = chance, 1 = always right (sensitivity + specificity - 1)"
    )
    labels = serializers.IntegerField(help_text="thumbs labels on overlapping items the estimate used")
    confusion = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField()),
        help_text="confusion[true][said]: the chance of saying `said` when the answer is `true`",
    )


class ReviewerReliabilityOutput(serializers.Serializer):
    email = serializers.EmailField()
    done = serializers.IntegerField()
    reserved = serializers.IntegerField()
    gold_thumbs = ScoreOutput()
    gold_passages = ScoreOutput()
    consensus = ScoreOutput(help_text="overlapping items with a majority where they gave the majority label")
    dawid_skene = DawidSkeneOutput(allow_null=True)
    flagged = serializers.BooleanField(help_text="gold accuracy below the queue's threshold")


class QueueReliabilityOutput(serializers.Serializer):
    queue = serializers.IntegerField(source="queue.pk")
    gold_rate = serializers.FloatField(source="queue.gold_rate")
    gold_accuracy_threshold = serializers.FloatField(source="queue.gold_accuracy_threshold", allow_null=True)
    gold_items = serializers.IntegerField(help_text="gold items handed in this queue")
    overlapping_items = serializers.IntegerField(help_text="items two or more reviewers rated (thumbs)")
    reviewers = ReviewerReliabilityOutput(many=True)
