from rest_framework import serializers

from reviewapp.lib.serializers import Text

from .models import TOKEN_NAME, ApiToken, User


class MeOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["email", "name", "is_staff"]


class TokenInput(serializers.Serializer):
    name = Text(validators=TOKEN_NAME)


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "hint", "created_at", "last_used_at", "expires_at", "revoked_at"]


class NewTokenOutput(TokenOutput):
    token = serializers.CharField(help_text="The token itself; shown only in this answer")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "token"]
