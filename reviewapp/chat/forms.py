from django import forms

from reviewapp.chains.messages import MAX_MESSAGE_BYTES

from .services import CONVERSATION_ID


class ChatForm(forms.Form):
    """The question's shape; what a turn may carry is checked by services.check_turn."""

    message = forms.CharField(
        strip=True,
        max_length=MAX_MESSAGE_BYTES,
        error_messages={"required": "Type a question first."},
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    conversation_id = forms.RegexField(
        regex=CONVERSATION_ID,
        max_length=100,
        error_messages={"invalid": "This conversation id is not valid; start a new conversation."},
        widget=forms.HiddenInput,
    )
