from rest_framework import serializers

from reviewapp.lib.serializers import Flag, Text
from reviewapp.queues import services as queues
from reviewapp.queues.models import ReviewQueue
from reviewapp.queues.serializers import QueueOutput, RequestId

from . import services


class PairwiseCreateInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=[ReviewQueue.Mode.PAIRWISE])
    name = Text(validators=queues.NAME)
    instructions = Text(required=False, allow_blank=True, default="", validators=queues.INSTRUCTIONS)
    overlap = serializers.IntegerField(required=False, default=1, validators=queues.OVERLAP)
    assignment = serializers.ChoiceField(
        choices=ReviewQueue.Assignment.choices, required=False, default=ReviewQueue.Assignment.OPEN
    )
    blind = Flag(required=False, default=False)
    reviewers = serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, default=list, max_length=1000
    )
    version_a = Text(required=False, default="", max_length=100)
    version_b = Text(required=False, default="", max_length=100)
    request_ids = serializers.ListField(
        child=RequestId(max_length=100), required=False, default=list, validators=queues.REQUEST_IDS
    )
    # Raw JSON objects: the service checks each pair and names the one at fault.
    pairs = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        allow_null=True,
        default=None,
        validators=services.PAIRS,
    )


class VersionResultOutput(serializers.Serializer):
    version = Text()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField(help_text="Reported apart: not counted in the win rate")
    win_rate = serializers.FloatField(allow_null=True, help_text="wins / (wins + losses); null before any")
    low = serializers.FloatField(allow_null=True, help_text="Lower bound of the 95% Wilson score interval")
    high = serializers.FloatField(allow_null=True, help_text="Upper bound of the 95% Wilson score interval")


class FailedPairOutput(serializers.Serializer):
    request_id = serializers.UUIDField(source="request_a_id")
    error = Text()


class ComparisonOutput(serializers.Serializer):
    kind = Text()
    version_a = Text()
    version_b = Text()
    pairs = serializers.IntegerField()
    ready = serializers.IntegerField()
    pending = serializers.IntegerField()
    failed = serializers.IntegerField()
    judgements = serializers.IntegerField()
    versions = VersionResultOutput(many=True)
    failures = FailedPairOutput(many=True)


class PairwiseCreatedOutput(serializers.Serializer):
    queue = QueueOutput()
    comparison = ComparisonOutput()
    job_id = serializers.UUIDField(allow_null=True, help_text="The job replaying the requests on version B")
