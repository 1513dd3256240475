"""`manage.py seed_history`: many messages for benchmarks (history pages, sync).

Creates `--users` users (bench_h<n>), pairs them up as contacts with a direct
conversation each, and spreads `--messages` text messages over those
conversations with gapless seqs, in bulk (plain multi-row INSERTs in one
transaction per chunk, which also moves the conversation's `last_seq`).
Not for production databases.
"""

from __future__ import annotations

import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from contacts.services import do_connect
from conversations.models import Conversation, Message

CHUNK = 5000


class Command(BaseCommand):
    help = "Seed many messages into direct conversations, for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--users", type=int, default=200, help="even; each consecutive pair shares a conversation")
        parser.add_argument("--prefix", default="bench_h")

    def handle(self, *args, **options):
        total, users = options["messages"], options["users"]
        if users < 2 or users % 2:
            raise CommandError("--users must be an even number >= 2")
        if total < users // 2:
            raise CommandError(f"--messages must be at least one per conversation ({users // 2} with --users {users})")
        prefix = options["prefix"]
        if User.objects.filter(username__startswith=prefix).exists():
            raise CommandError(f"users named {prefix}* exist already: use another --prefix")
        started = time.monotonic()
        people = [User.objects.create_user(f"{prefix}{n}", "bench-password") for n in range(users)]
        conversations = []
        for n in range(0, users, 2):
            contact = do_connect(user=people[n], other=people[n + 1])
            conversations.append((contact.conversation_id, people[n].pk, people[n + 1].pk))
        per = total // len(conversations)
        table = connection.ops.quote_name(Message._meta.db_table)
        now = timezone.now()
        # Every column, each from a template message's own default, so a column
        # added to Message later is filled as the ORM would fill it; the rows
        # below change only the varying ones.
        fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
        template = Message(kind="text", created_at=now, recalled=False)
        base = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields]
        at = {f.attname: n for n, f in enumerate(fields)}
        varying = [at[name] for name in ("uuid", "conversation_id", "seq", "sender_id", "text", "client_msg_id")]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        inserted = 0
        for conv_id, a, b in conversations:
            seq = 0
            while seq < per:
                rows = []
                for _ in range(min(CHUNK, per - seq)):
                    seq += 1
                    sender = a if seq % 2 else b
                    row = list(base)
                    for n, value in zip(
                        varying,
                        (uuid.uuid4().hex, conv_id, seq, sender, f"seeded message {seq} 历史消息", uuid.uuid4().hex),
                        strict=True,
                    ):
                        row[n] = value
                    rows.append(row)
                # The conversation's last_seq with its rows: a run stopped
                # midway leaves every conversation consistent.
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.executemany(sql, rows)
                    Conversation.objects.filter(pk=conv_id).update(last_seq=seq, last_message_at=now)
                inserted += len(rows)
            self.stdout.write(f"\r{inserted}/{per * len(conversations)} messages", ending="")
        self.stdout.write(
            f"\nseeded {inserted} messages in {len(conversations)} conversations in {time.monotonic() - started:.0f} s"
        )
