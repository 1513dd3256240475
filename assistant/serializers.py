"""Wire shapes of smart replies (docs/protocol/rest.md "Smart replies")."""

from __future__ import annotations

from rest_framework import serializers

from chatsite.drf import StrictBooleanField


class AssistantSettingsOut(serializers.Serializer):
    smart_replies = serializers.BooleanField(
        help_text="whether the caller gets reply suggestions (false whenever `available` is false)"
    )
    available = serializers.BooleanField(help_text="whether this server offers smart replies (ASSISTANT on)")


class AssistantSettingsPatchIn(serializers.Serializer):
    smart_replies = StrictBooleanField(help_text="true to get reply suggestions, false to stop them")


def settings_to_wire(*, smart_replies: bool, available: bool) -> dict:
    return {"smart_replies": smart_replies, "available": available}
