import re

from django import forms

from .services import MAX_REQUEST_IDS


class GoldForm(forms.Form):
    request_ids = forms.CharField(
        label="Request ids",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=MAX_REQUEST_IDS * 40,
        help_text="One or more request ids, separated by spaces, commas or new lines.",
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)

    def ids(self) -> list[str]:
        return [part for part in re.split(r"[\s,]+", self.cleaned_data["request_ids"]) if part]
