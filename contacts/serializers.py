"""Wire shapes for contacts, requests and blocks (shared/spec/rest.md)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import UserOut, user_to_wire
from chatsite.wire import iso
from contacts.models import Contact, ContactRequest


def contact_to_wire(contact: Contact, *, blocked: bool) -> dict:
    """The Contact object from its owner's side. `blocked`: the owner blocks this contact."""
    return {
        "user": user_to_wire(contact.other),
        "remark": contact.remark,
        "since": iso(contact.since),
        "conversation": str(contact.conversation.uuid) if contact.conversation_id else None,
        "blocked": blocked,
    }


def contact_request_to_wire(request: ContactRequest) -> dict:
    """A contact request as a Request object (`kind: "contact"`)."""
    return {
        "id": str(request.uuid),
        "kind": "contact",
        "from": user_to_wire(request.from_user),
        "to": user_to_wire(request.to_user),
        "group": None,
        "message": request.message,
        "status": request.status,
        "created_at": iso(request.created_at),
    }


# --------------------------------------------------------------------------- schema shapes


class ContactOut(serializers.Serializer):
    user = UserOut()
    remark = serializers.CharField()
    since = serializers.DateTimeField()
    conversation = serializers.UUIDField(allow_null=True)
    blocked = serializers.BooleanField(help_text="you block this contact")


class ContactSectionOut(serializers.Serializer):
    letter = serializers.CharField(help_text="A–Z, or # (last)")
    contacts = ContactOut(many=True)


class ContactSectionsOut(serializers.Serializer):
    sections = ContactSectionOut(many=True)


# --------------------------------------------------------------------------- input shapes


class StrictCharField(serializers.CharField):
    """A JSON string, and only a string (DRF's CharField turns 5 and true into text)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ContactPatchIn(serializers.Serializer):
    remark = StrictCharField(allow_blank=True, trim_whitespace=False)


class ContactRequestIn(serializers.Serializer):
    to = StrictCharField(help_text="a user id")
    message = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)


class BlockIn(serializers.Serializer):
    user = StrictCharField(help_text="a user id")
