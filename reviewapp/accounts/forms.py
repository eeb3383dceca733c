from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        help_text="What the token is for, e.g. nightly export job.",
        widget=forms.TextInput(attrs={"placeholder": "nightly export job", "autocomplete": "off"}),
    )
