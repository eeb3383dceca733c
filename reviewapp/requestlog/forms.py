from django import forms
from django.utils.html import format_html, format_html_join


class JsonlImportForm(forms.Form):
    file = forms.FileField(
        label="JSONL file", help_text="One JSON object per line (request, response, request_id, …)"
    )


class DatalistInput(forms.TextInput):
    """A text input that suggests values (an HTML datalist); any text may still be typed."""

    def __init__(self, attrs=None, suggestions=()):
        super().__init__(attrs)
        self.suggestions = list(suggestions)

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}-suggestions"
        field = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}"></option>', ((s,) for s in self.suggestions))
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class MlflowImportForm(forms.Form):
    """With `app`, the field suggests the experiments that app may import from."""

    experiment = forms.CharField(max_length=500, label="Experiment (id or name)", widget=DatalistInput)
    filter_string = forms.CharField(
        max_length=1000,
        required=False,
        label="Search filter",
        help_text="An mlflow.search_traces filter, e.g. attributes.status = 'OK'",
    )
    max_results = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000, label="At most this many traces"
    )

    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        if app is None:
            return
        own, *linked = app.importable_experiment_refs()
        field = self.fields["experiment"]
        field.widget.suggestions = [own, *linked]
        hint = f"This app may import from its own experiment {own}"
        if linked:
            hint += " and from those an administrator linked to it: " + ", ".join(linked)
        field.help_text = hint + ". Ask an administrator to link another experiment."


class AddToQueueForm(forms.Form):
    """What the request log carries to the queue form: the selected requests, or all that match the
    filters, and whether they go into a new queue (set up by the queue form) or an existing one."""

    scope = forms.ChoiceField(choices=[("selected", "Selected"), ("matching", "All matching")])
    request_ids = forms.TypedMultipleChoiceField(required=False, coerce=str)
    target = forms.ChoiceField(
        choices=[("new", "A new queue, set up below"), ("existing", "An existing queue")],
        required=False,
        initial="new",
        widget=forms.RadioSelect,
        label="Add them to",
    )
    queue = forms.ChoiceField(required=False, label="Existing queue")

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queues = {str(queue.pk): queue for queue in queues}
        self.fields["queue"].choices = [("", "—"), *((str(q.pk), q.name) for q in queues)]
        # The ids are checked by the queue service (unknown or other app's ids are rejected).
        self.fields["request_ids"].valid_value = lambda value: True

    def clean(self):
        data = super().clean()
        if data.get("scope") == "selected" and not data.get("request_ids"):
            self.add_error("request_ids", "Select at least one request.")
        if data.get("target") == "existing" and not data.get("queue"):
            self.add_error("queue", "Pick the queue to add them to.")
        return data

    def new_queue(self) -> bool:
        return self.cleaned_data.get("target") != "existing"

    def chosen_queue(self):
        return self.queues.get(self.cleaned_data.get("queue") or "")
