from rest_framework import serializers

from .models import ApiToken, User


class MeOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["email", "name", "is_staff"]


class TokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "hint", "created_at", "last_used_at", "expires_at", "revoked_at"]


class NewTokenOutput(TokenOutput):
    token = serializers.CharField(help_text="The token itself; shown only in this answer")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "token"]
