"""Smart replies' tables: a vector per received direct message, and each
person's switch.

Vectors are the recipient's data: a row exists only for a text message of a
direct conversation, names the member who received it (`recipient`), and is
only ever read to suggest replies to that member (assistant/selectors.py
`history_pairs`). It carries the model it was computed with: vectors of
another model are not comparable and are computed again. And it names the
recipient's answer, found when the answer is handled: a person's history is
then one indexed read of their own rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class MessageVector(models.Model):
    """The embedding of a text message someone received in a direct chat."""

    message = models.OneToOneField(
        "conversations.Message", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    # Copied from the message (never change): the history query finds the
    # message that followed it without a join, by the (conversation, seq) index.
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    # The other member of the direct conversation: whose history this is.
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=64)  # assistant.embedding.MODEL_ID
    vector = models.BinaryField()  # assistant.embedding.to_bytes
    # What the recipient answered: their next message in the conversation
    # (events aside), a text, sent soon after (assistant.smart_replies
    # `_pair_answers`, when that answer is handled). NULL: not answered.
    reply = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["recipient", "message"], name="assistant_vector_recipient")]

    def __str__(self) -> str:
        return f"vector of message {self.message_id}"


class AssistantPreference(models.Model):
    """A person's smart-reply switch (a row only once they changed it: the default is on)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="assistant_preference"
    )
    smart_replies = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"assistant preference of {self.user_id}"
