from django import forms

from .models import App, Level
from .rules import (
    CONTEXT_SPAN_WORDS,
    ENDPOINT_KINDS,
    PRICE_FIELDS,
    PRICE_HELP,
    VERSION_FROM_REGISTRY,
    is_registry_uri,
)

# Form field ← key in App.adapter_config (services report errors as "adapter_config.<key>").
CONFIG_FIELDS = {
    "model_uri": "model_uri",
    "endpoint_url": "url",
    "endpoint_kind": "kind",
    "endpoint_model": "model",
    "secret_header": "secret_header",
    "secret_env": "secret_env",
}


class AppForm(forms.Form):
    """Create/edit an app: the shape of what was typed. The rules are the services' (catalog.rules);
    their errors come back through `service_errors` and `show_service_errors`."""

    name = forms.CharField()
    slug = forms.CharField(
        required=False,
        help_text="The app's address, e.g. docs-assistant. Left empty, it is made from the name.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    adapter = forms.ChoiceField(choices=App.Adapter.choices, label="Runs as")
    model_uri = forms.CharField(
        required=False,
        label="MLflow model URI",
        help_text="models:/name/version, models:/name@alias or runs:/run_id/path; checked in the "
        "MLflow tracking store when saved.",
    )
    endpoint_url = forms.CharField(
        required=False,
        label="Endpoint URL",
        help_text="Public addresses only, unless the operator lists the host in CHAIN_URL_ALLOW.",
    )
    endpoint_kind = forms.ChoiceField(
        choices=[(k, {"openai": "OpenAI-compatible chat completions", "mlflow": "MLflow scoring server"}[k])
                 for k in ENDPOINT_KINDS],
        required=False,
        label="Endpoint kind",
    )  # fmt: skip
    endpoint_model = forms.CharField(required=False, label="Model name (OpenAI-compatible servers)")
    secret_header = forms.CharField(
        required=False, label="Secret header name", help_text="e.g. Authorization; optional"
    )
    secret_env = forms.CharField(
        required=False,
        label="Environment variable holding the secret",
        help_text="Its NAME, starting with CHAIN_SECRET_ (e.g. CHAIN_SECRET_DOCS_BOT) or listed by the "
        "operator in CHAIN_SECRET_ENV; the secret itself is never stored here.",
    )
    # Not required: a models:/ URI sets it (the service says so when another chain lacks one).
    version = forms.CharField(
        initial="1", required=False, label="Version label", help_text=VERSION_FROM_REGISTRY
    )
    timeout_seconds = forms.IntegerField(initial=60)
    context_span = forms.CharField(required=False, label="Context span", help_text=CONTEXT_SPAN_WORDS)
    reasons = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label="Feedback reasons",
        help_text='One per line; reviewers can always pick "other" and type their own.',
    )
    example_questions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label="Example questions",
        help_text="One per line; offered to reviewers on an empty chat, to start from.",
    )
    # Any number here; the rule (catalog.rules.clean_price) says what a price may be.
    price_input_per_1k = forms.DecimalField(
        required=False, label="Price per 1,000 input tokens", help_text="The request's tokens"
    )
    price_output_per_1k = forms.DecimalField(
        required=False, label="Price per 1,000 output tokens", help_text="The response's tokens"
    )
    prices_help = PRICE_HELP

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.creating = creating
        if creating:
            # Prices and example questions are set on the app's settings once it exists.
            for name in (*PRICE_FIELDS, "example_questions"):
                del self.fields[name]
        else:
            del self.fields["slug"]
        # Read-only while the chain is a registry model: the URI sent, else the app's own.
        shown = self.data if self.is_bound else self.initial
        if shown.get("adapter") == App.Adapter.MLFLOW and is_registry_uri(
            (shown.get("model_uri") or "").strip()
        ):
            self.fields["version"].widget.attrs["readonly"] = True

    def add_error(self, field, error):
        super().add_error(field, error)
        if "version" in self.errors:  # a refused label must be editable to be put right
            self.fields["version"].widget.attrs.pop("readonly", None)

    @classmethod
    def initial_for(cls, app: App) -> dict:
        config = app.adapter_config or {}
        initial = {field: config.get(key, "") for field, key in CONFIG_FIELDS.items()}
        initial.update(
            name=app.name,
            description=app.description,
            adapter=app.adapter,
            version=app.version,
            timeout_seconds=app.timeout_seconds,
            reasons="\n".join(app.reasons or []),
            context_span=app.context_span,
            price_input_per_1k=app.price_input_per_1k,
            price_output_per_1k=app.price_output_per_1k,
            example_questions="\n".join(app.example_questions or []),
        )
        return initial

    def service_fields(self) -> dict:
        data = self.cleaned_data
        adapter = data["adapter"]
        config = {}
        if adapter == App.Adapter.MLFLOW:
            config = {"model_uri": data["model_uri"]}
        elif adapter == App.Adapter.HTTP:
            config = {key: data[field] for field, key in CONFIG_FIELDS.items() if field != "model_uri"}
        fields = {
            "name": data["name"],
            "description": data["description"],
            "adapter": adapter,
            "adapter_config": config,
            "version": data["version"],
            "timeout_seconds": data["timeout_seconds"],
            "reasons": data["reasons"].splitlines(),
            "context_span": data["context_span"],
        }
        if not self.creating:
            fields.update({name: data[name] for name in PRICE_FIELDS})
            fields["example_questions"] = data["example_questions"].splitlines()
        # The label as it was shown means "unchanged": for a models:/ URI, the registry's version.
        # Typed over, it is sent, and the service says whether the registry agrees.
        shown = str(self.get_initial_for_field(self.fields["version"], "version") or "").strip()
        typed = data["version"].strip()
        registry = adapter == App.Adapter.MLFLOW and is_registry_uri(data["model_uri"].strip())
        if typed == shown or (registry and not typed):
            del fields["version"]
        return fields

    # The services' error keys for the adapter settings, and the form fields that show them.
    service_errors = {f"adapter_config.{key}": field for field, key in CONFIG_FIELDS.items()}


class InstructionsForm(forms.Form):
    markdown = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14}),
        required=False,
        strip=False,
        label="Instructions (Markdown)",
    )


# The form sends the API's names (CAN_QUERY); people read the words.
LEVEL_CHOICES = [(level.label, level.words) for level in (Level.CAN_VIEW, Level.CAN_QUERY, Level.CAN_MANAGE)]


class GrantForm(forms.Form):
    """Add or change principals' level; `NONE` removes (the remove buttons send it)."""

    principals = forms.CharField(
        label="Users or groups",
        help_text="Email addresses, or group:NAME for a group; separate several with commas or new lines.",
        widget=forms.TextInput(attrs={"placeholder": "someone@example.com, group:support-team"}),
    )
    level = forms.ChoiceField(choices=[*LEVEL_CHOICES, ("NONE", "No access")], initial="CAN_QUERY")

    def principal_list(self) -> list[str]:
        raw = self.cleaned_data["principals"].replace("\n", ",")
        return [p.strip() for p in raw.split(",") if p.strip()]


class DeleteAppForm(forms.Form):
    confirm = forms.CharField(label="Type the app's slug to confirm")

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != self.app.slug:
            raise forms.ValidationError(f"Type {self.app.slug} exactly to delete this app.")
        return value
