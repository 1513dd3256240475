from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from chatsite.fields import ExactCharField


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
    last_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["last_message_at"])]

    def __str__(self) -> str:
        return f"{self.kind} conversation {self.uuid}"


class Role(models.TextChoices):
    OWNER = "owner", "owner"
    ADMIN = "admin", "admin"
    MEMBER = "member", "member"


class Member(models.Model):
    """A user's place in a conversation: read cursor, hidden, pinned, muted and,
    for groups, the range of seqs the user may read and their role.

    The one truth about membership (conversations.members): in a group
    conversation, a row with `left_seq` NULL is a current member with a
    `role`; one with `left_seq` set left or was removed (role NULL)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation_states")
    read_seq = models.BigIntegerField(default=0)
    # The member may read messages with seq > visible_from_seq ...
    visible_from_seq = models.BigIntegerField(default=0)
    # ... and, after leaving a group, up to left_seq (NULL while a member).
    left_seq = models.BigIntegerField(null=True, blank=True)
    role = models.CharField(max_length=8, choices=Role.choices, null=True, blank=True)
    hidden = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False)
    muted = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # The member's draft (private to them; never a message): its text, the
    # message it replies to, and when it was saved (NULL: no draft).
    draft_text = models.TextField(default="", blank=True)
    draft_reply_to = models.UUIDField(null=True, blank=True)
    draft_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="conversation_member_unique")]
        indexes = [models.Index(fields=["user", "left_seq", "hidden"]), models.Index(fields=["conversation", "role"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"


class MessageKind(models.TextChoices):
    TEXT = "text", "text"
    FILE = "file", "file"
    CALL = "call", "call"
    SYSTEM = "system", "system"
    BUNDLE = "bundle", "bundle"


# The kinds that count as unread: what people send (not `system` events).
UNREAD_KINDS = (MessageKind.TEXT, MessageKind.FILE, MessageKind.CALL, MessageKind.BUNDLE)
# System events that are silent (Message.silent).
SILENT_EVENTS = frozenset({"recall", "edit", "reaction"})
# Silent events whose change reaches the members in a frame of its own
# (message.edited, message.reactions, carrying the event's seq) instead of a
# `message.new` of the event: sync and history still carry the event.
TOLD_BY_FRAME = frozenset({"edit", "reaction"})
# System events about one message (Message.target_seq).
TARGETED_EVENTS = frozenset({"recall", "edit", "reaction", "pin", "unpin"})


SEQ_INDEX = "message_seq_unique"


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
    # A silent event (a `system` message recording a recall, an edit or a
    # reaction): never unread, never the conversation's last message, never
    # moves it up or un-hides it; clients apply it to its target.
    silent = models.BooleanField(default=False)
    # The message it replies to (same conversation); the quote is rendered
    # from the original's current state (conversations.render).
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The user ids it mentions, as sent (a list of UUID strings; NULL: none),
    # and whether it mentions everyone. Who is counted is in Mention.
    mentions = models.JSONField(null=True, blank=True)
    mention_all = models.BooleanField(default=False)
    # A forwarded copy: {"sender": the first original's sender pk or null,
    # "created_at": when the first original was sent}.
    forwarded_from = models.JSONField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # The seq of the newest `edit` and `reaction` event about it (the frames
    # answering a change that changed nothing carry it).
    edit_seq = models.BigIntegerField(null=True, blank=True)
    # For an event about a message (recall, edit, reaction, pin, unpin): that
    # message's seq. A reader whose window does not hold the target does not
    # get the event either (history, sync, fan-out, the chat list).
    target_seq = models.BigIntegerField(null=True, blank=True)
    reaction_seq = models.BigIntegerField(null=True, blank=True)
    pinned_at = models.DateTimeField(null=True, blank=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["conversation", "pinned_at"])]
        constraints = [
            # Its name is the history page's index hint (conversations.selectors._BY_SEQ).
            models.UniqueConstraint(fields=["conversation", "seq"], name=SEQ_INDEX),
            models.UniqueConstraint(fields=["sender", "client_msg_id"], name="message_client_id_unique"),
        ]

    def __str__(self) -> str:
        return f"message {self.conversation_id}#{self.seq}"


class MessageFile(models.Model):
    """A file a bundle (merged forward) carries in one of its items: readable by
    the members who may read the bundle, and kept while a bundle holds it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.ForeignKey("files.File", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "file"], name="message_file_unique")]
        indexes = [models.Index(fields=["file", "message"])]

    def __str__(self) -> str:
        return f"file {self.file_id} in message {self.message_id}"


class Mention(models.Model):
    """A member a message mentions (by name or by @all), for that member's
    `unread_mentions`: written with the message, never for its sender nor
    for a member who blocks the sender then, deleted when it is recalled."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mention_rows")
    seq = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="mention_unique")]
        indexes = [models.Index(fields=["user", "conversation", "seq"])]

    def __str__(self) -> str:
        return f"{self.user_id} in message {self.message_id}"


class Reaction(models.Model):
    """One user's emoji on a message (stored fully-qualified)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reaction_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = ExactCharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_unique")]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on message {self.message_id}"


class MessageVersion(models.Model):
    """An earlier text of an edited message, for administrators only (the
    back office); members only ever see the current text."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="versions")
    text = models.TextField()
    # When this text was written (the message's created_at or its previous edit) ...
    written_at = models.DateTimeField()
    # ... and when an edit replaced it.
    replaced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "replaced_at", "id"]

    def __str__(self) -> str:
        return f"version of message {self.message_id} replaced at {self.replaced_at}"
