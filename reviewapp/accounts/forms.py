from django import forms


class TokenForm(forms.Form):
    """The shape of a new token; ApiToken.issue holds the rules of its name."""

    name = forms.CharField(
        label="Token name",
        help_text="What the token is for, e.g. nightly export job.",
        widget=forms.TextInput(attrs={"placeholder": "nightly export job", "autocomplete": "off"}),
    )
