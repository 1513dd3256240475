"""Wire shapes for contacts, requests and blocks (docs/protocol/objects.md)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import UserOut, user_to_wire
from chatsite.drf import id_field, text_field
from chatsite.wire import iso
from contacts.models import REMARK_MAX, REQUEST_MESSAGE_MAX, Contact, ContactRequest, RequestStatus


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


class ContactPatchIn(serializers.Serializer):
    remark = text_field(max_len=REMARK_MAX, allow_empty=True)


class ContactRequestIn(serializers.Serializer):
    to = id_field(help_text="a user id")
    message = text_field(max_len=REQUEST_MESSAGE_MAX, allow_empty=True, multiline=True, required=False)


class BlockIn(serializers.Serializer):
    user = id_field(help_text="a user id")


class ContactRequestOut(serializers.Serializer):
    """A Request object of kind `contact` (group join requests are groups')."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=[("contact", "contact")])
    to = UserOut()
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    group = serializers.CharField(allow_null=True, help_text="always null for a contact request")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = UserOut()  # `from` is a Python keyword
        return fields
