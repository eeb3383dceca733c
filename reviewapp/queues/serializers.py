import dataclasses

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.lib.serializers import Flag, StrictSerializer, Text

from . import sampling, services
from .models import ReviewQueue

# Sizes are checked here, before any work.
MAX_REVIEWERS = 1000
# The latest audit rows shown with a queue.
HISTORY = 50


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
    due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    gold_rate = serializers.FloatField(required=False, default=0.0, validators=services.GOLD_RATE)
    gold_accuracy_threshold = serializers.FloatField(
        required=False, allow_null=True, default=None, validators=services.GOLD_ACCURACY_THRESHOLD
    )
    adjudicators = serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, default=list, max_length=MAX_REVIEWERS
    )


def _emails(**kwargs):
    return serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, max_length=MAX_REVIEWERS, **kwargs
    )


class QueueUpdateInput(StrictSerializer):
    """Any of a queue's settings; what is left out stays as it is. Rules: services.update_queue."""

    name = Text(required=False, validators=services.NAME)
    instructions = Text(required=False, allow_blank=True, validators=services.INSTRUCTIONS)
    overlap = serializers.IntegerField(required=False, validators=services.OVERLAP)
    assignment = serializers.ChoiceField(choices=ReviewQueue.Assignment.choices, required=False)
    blind = Flag(required=False)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    closed = Flag(
        required=False, help_text="true closes the queue now (it hands out nothing); false reopens it"
    )
    gold_rate = serializers.FloatField(required=False, validators=services.GOLD_RATE)
    gold_accuracy_threshold = serializers.FloatField(
        required=False, allow_null=True, validators=services.GOLD_ACCURACY_THRESHOLD
    )
    reviewers = _emails(help_text="The whole list of named reviewers (emails)")
    add_reviewers = _emails(help_text="Reviewers to add (emails)")
    remove_reviewers = _emails(
        help_text="Reviewers to remove (emails): their submitted reviews stay, what they hold is released"
    )
    adjudicators = _emails(help_text="The whole list of adjudicators (emails)")


class QueueItemsInput(serializers.Serializer):
    request_ids = serializers.ListField(
        child=RequestId(max_length=100), allow_empty=False, min_length=1, validators=services.REQUEST_IDS
    )


class RemoveResultOutput(serializers.Serializer):
    removed = serializers.IntegerField(help_text="How many requests were taken out of the queue")
    reviews = serializers.IntegerField(
        help_text="Submitted reviews of those items (the feedback stays in the assessment log)"
    )
    not_in_queue = serializers.ListField(child=serializers.UUIDField(), help_text="Requests not in the queue")
    items = serializers.IntegerField(help_text="Items in the queue now")


class ItemFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["waiting", "in_progress", "done"], required=False)
    reviewer = serializers.EmailField(
        required=False, max_length=254, help_text="Items this reviewer did or holds"
    )
    disagreement = serializers.BooleanField(required=False, help_text="Only items the reviewers disagree on")
    page = serializers.IntegerField(required=False, min_value=1)

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            repeated = sorted(name for name in data if len(data.getlist(name)) > 1)
            if repeated:
                raise serializers.ValidationError({name: ["give this parameter once"] for name in repeated})
        return super().to_internal_value(data)


class ItemReviewOutput(serializers.Serializer):
    reviewer = serializers.EmailField(source="reviewer.email")
    slot = serializers.IntegerField()
    done_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()


class QueueItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    request_id = serializers.UUIDField()
    position = serializers.IntegerField()
    added_at = serializers.DateTimeField()
    request = Text(source="request.request_text")
    status = serializers.ChoiceField(choices=["waiting", "in_progress", "done"])
    done = serializers.IntegerField(help_text="Submitted reviews")
    gold = serializers.BooleanField(help_text="A known-answer item (managers only see this)")
    reviews = ItemReviewOutput(many=True, source="reservations.all")


class QueueItemsPageOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="Items matching the filters")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = QueueItemOutput(many=True)


class RequeueInput(StrictSerializer):
    version = serializers.IntegerField(min_value=1, help_text="An earlier instructions version")


class RequeueOutput(serializers.Serializer):
    requeued = serializers.IntegerField(help_text="Labels whose slots were opened again")


class VersionCountOutput(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True, help_text="None: before the app had instructions")
    labels = serializers.IntegerField()
    current = serializers.BooleanField()


class QueueEventOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.EmailField(source="actor.email", allow_null=True, default=None)
    action = Text()
    changes = serializers.DictField()


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
    adjudicators = serializers.SlugRelatedField(slug_field="email", many=True, read_only=True)
    # Plain text: the create body's "mode" already names an enum of its own.
    mode = serializers.CharField(read_only=True, help_text="review or pairwise")
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
            "mode",
            "due_at",
            "closed_at",
            "gold_rate",
            "gold_accuracy_threshold",
            "adjudicators",
            "created_by",
            "created_at",
            "progress",
        ]

    def get_progress(self, queue) -> ProgressOutput:
        from .progress import queue_progress

        return ProgressOutput(queue_progress(queue=queue)).data


class QueueDetailOutput(QueueOutput):
    agreement = serializers.SerializerMethodField()
    instructions_versions = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(QueueOutput.Meta):
        fields = [*QueueOutput.Meta.fields, "agreement", "instructions_versions", "history"]

    @extend_schema_field(VersionCountOutput(many=True))
    def get_instructions_versions(self, queue):
        return VersionCountOutput(services.labels_by_instructions(queue=queue), many=True).data

    @extend_schema_field(QueueEventOutput(many=True))
    def get_history(self, queue):
        events = queue.events.select_related("actor")[:HISTORY]
        return QueueEventOutput(events, many=True).data

    def get_agreement(self, queue) -> QueueAgreementOutput:
        from .progress import queue_agreement

        return QueueAgreementOutput(queue_agreement(queue=queue)).data


# --- filling a queue by rules


@extend_schema_field({"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1})
class Share(serializers.FloatField):
    """A share above 0 and at most 1."""

    def __init__(self, **kwargs):
        super().__init__(max_value=1, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if value <= 0:
            raise serializers.ValidationError("must be above 0")
        return value


class FillRulesInput(StrictSerializer):
    """The rules of sampling.Rules; they combine (AND)."""

    target = serializers.IntegerField(
        min_value=1, max_value=sampling.MAX_TARGET, default=100, help_text="At most this many requests"
    )
    since = serializers.DateTimeField(required=False, default=None, help_text="Logged at or after")
    until = serializers.DateTimeField(required=False, default=None, help_text="Logged before")
    thumbs_down = Flag(default=False, help_text="Some reviewer's effective rating is a thumbs down")
    chunk_precision_below = Share(
        required=False,
        default=None,
        help_text="The share of the request's rated passages judged relevant is below this",
    )
    reason = Text(
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        max_length=sampling.MAX_REASON_CHARS,
        help_text="A thumbs down in force gives this reason",
    )
    app_versions = serializers.ListField(
        child=Text(allow_blank=True, trim_whitespace=False, max_length=sampling.MAX_VERSION_CHARS),
        required=False,
        default=list,
        max_length=sampling.MAX_VERSIONS,
        help_text="Logged with one of these versions; with several, the target is split evenly over them",
    )
    judge = Text(
        required=False,
        default="",
        allow_blank=True,
        max_length=sampling.MAX_JUDGE_CHARS,
        help_text="A judge of the app (its current version), read by judge_disagrees and judge_score_below",
    )
    judge_disagrees = Flag(
        default=False,
        help_text="The judge failed what every reviewer thumbed up, or passed what every one thumbed down",
    )
    judge_score_below = Share(required=False, default=None, help_text="The judge scored it below this")
    unreviewed = Flag(default=False, help_text="No feedback yet")
    include_queued = Flag(
        default=False, help_text="Take requests still waiting for reviews in another open queue too"
    )
    seed = serializers.IntegerField(
        required=False,
        default=None,
        min_value=0,
        max_value=sampling.MAX_SEED,
        help_text="The same seed selects the same requests (a preview's seed, to fill what it showed)",
    )
    preview = Flag(default=False, help_text="Only count what would be selected; nothing is written")

    RULES = [f.name for f in dataclasses.fields(sampling.Rules)]

    def rules(self) -> sampling.Rules:
        data = {name: self.validated_data[name] for name in self.RULES}
        data["app_versions"] = tuple(data["app_versions"])
        return sampling.Rules(**data)


class QueueFillCreateInput(FillRulesInput, QueueCreateInput):
    """A new queue's fields (as for creating one, without request ids) and the rules that fill it."""

    request_ids = None


class FillOutput(serializers.Serializer):
    preview = serializers.BooleanField(help_text="Only counted: nothing was written")
    seed = serializers.IntegerField(help_text="Give it again to select the same requests")
    matching = serializers.IntegerField(
        help_text="Requests the rules match (those already in the queue left out)"
    )
    skipped_queued = serializers.IntegerField(
        help_text="Of those, left out as still waiting for reviews in another open queue"
    )
    selected = serializers.IntegerField(help_text="Requests selected (at most the target)")
    by_version = serializers.DictField(
        child=serializers.IntegerField(), help_text="Selected per chosen version"
    )
    added = serializers.IntegerField(allow_null=True, help_text="Added to the queue (null in a preview)")
    items = serializers.IntegerField(allow_null=True, help_text="Items in the queue now (null in a preview)")
