"""The index's own bookkeeping. The index itself (search_doc, see
search.backends) is a table outside Django's models: its form depends on the
database and it is rebuilt, not migrated."""

from __future__ import annotations

from django.db import models

from conversations.models import Conversation


class IndexedLog(models.Model):
    """How far the index has read one conversation's log: every message with
    a seq up to `indexed_seq` is in the index as it was then (later edits and
    recalls are events further on in the log)."""

    conversation = models.OneToOneField(Conversation, primary_key=True, on_delete=models.CASCADE, related_name="+")
    indexed_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} indexed to {self.indexed_seq}"
