from django import forms

from .services import CONVERSATION_ID, MAX_MESSAGE_BYTES


class ChatForm(forms.Form):
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

    def clean_message(self):
        message = self.cleaned_data["message"]
        if len(message.encode()) > MAX_MESSAGE_BYTES:
            raise forms.ValidationError(f"Keep the question under {MAX_MESSAGE_BYTES // 1000} kB.")
        return message
