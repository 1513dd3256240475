from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConversationKind(models.TextChoices):
    DIRECT = "direct", "direct"
    GROUP = "group", "group"


class Conversation(models.Model):
    """A direct conversation (one per pair of users, for good) or a group's.

    `last_seq` is the seq of the newest stored message; the store step bumps it
    with an UPDATE inside the insert transaction, which holds the row lock and
    makes seq gapless per conversation whatever the number of workers."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=8, choices=ConversationKind.choices)
    # "<smaller user pk>:<larger user pk>" for direct conversations, NULL for groups.
    direct_key = models.CharField(max_length=48, null=True, blank=True, unique=True)
    group = models.OneToOneField(
        "groups.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="conversation"
    )
    last_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["last_message_at"])]

    def __str__(self) -> str:
        return f"{self.kind} conversation {self.uuid}"


class ConversationMember(models.Model):
    """A user's state in a conversation: read cursor, hidden, pinned, muted and,
    for groups, the range of seqs the user may read."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation_states")
    read_seq = models.BigIntegerField(default=0)
    # The member may read messages with seq > visible_from_seq ...
    visible_from_seq = models.BigIntegerField(default=0)
    # ... and, after leaving a group, up to left_seq (NULL while a member).
    left_seq = models.BigIntegerField(null=True, blank=True)
    hidden = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False)
    muted = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="conversation_member_unique")]
        indexes = [models.Index(fields=["user", "left_seq", "hidden"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"


class MessageKind(models.TextChoices):
    TEXT = "text", "text"
    FILE = "file", "file"
    CALL = "call", "call"
    SYSTEM = "system", "system"


class Message(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    # The text of a text message or the caption of a file message.
    text = models.TextField(null=True, blank=True)
    # The content object of call and system messages.
    data = models.JSONField(null=True, blank=True)
    file = models.ForeignKey("files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    recalled = models.BooleanField(default=False)
    # The bus record that stored it (one per accepted frame): when the same
    # record comes again (its worker died after the commit, before the
    # fan-out), the fan-out is repeated; a client's resend is a new record.
    send_id = models.CharField(max_length=32, null=True, blank=True, editable=False)
    recalled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(fields=["sender", "client_msg_id"], name="message_client_id_unique"),
        ]

    def __str__(self) -> str:
        return f"message {self.conversation_id}#{self.seq}"
