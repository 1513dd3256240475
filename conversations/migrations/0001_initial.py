# The models that were messaging's (Conversation, ConversationMember, Message)
# become this app's. State only: the tables stay as they are and keep their
# data; 0002 gives them this app's names.

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("messaging", "0002_message_send_id"),
        ("files", "0001_initial"),
        ("groups", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name="Conversation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("kind", models.CharField(choices=[("direct", "direct"), ("group", "group")], max_length=8)),
                ("direct_key", models.CharField(blank=True, max_length=48, null=True, unique=True)),
                ("last_seq", models.BigIntegerField(default=0)),
                ("last_message_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "group",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversation",
                        to="groups.group",
                    ),
                ),
            ],
            options={
                "db_table": "messaging_conversation",
                "indexes": [models.Index(fields=["last_message_at"], name="messaging_c_last_me_87f299_idx")],
            },
        ),
        migrations.CreateModel(
            name="Member",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("read_seq", models.BigIntegerField(default=0)),
                ("visible_from_seq", models.BigIntegerField(default=0)),
                ("left_seq", models.BigIntegerField(blank=True, null=True)),
                ("hidden", models.BooleanField(default=False)),
                ("pinned", models.BooleanField(default=False)),
                ("muted", models.BooleanField(default=False)),
                ("joined_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="members",
                        to="conversations.conversation",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversation_states",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "messaging_conversationmember",
                "indexes": [models.Index(fields=["user", "left_seq", "hidden"], name="messaging_c_user_id_eb37b3_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=("conversation", "user"), name="conversation_member_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="Message",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("seq", models.BigIntegerField()),
                (
                    "kind",
                    models.CharField(
                        choices=[("text", "text"), ("file", "file"), ("call", "call"), ("system", "system")],
                        max_length=8,
                    ),
                ),
                ("text", models.TextField(blank=True, null=True)),
                ("data", models.JSONField(blank=True, null=True)),
                ("client_msg_id", models.CharField(blank=True, max_length=64, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("recalled", models.BooleanField(default=False)),
                ("send_id", models.CharField(blank=True, editable=False, max_length=32, null=True)),
                ("recalled_at", models.DateTimeField(blank=True, null=True)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="conversations.conversation",
                    ),
                ),
                (
                    "file",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="messages",
                        to="files.file",
                    ),
                ),
                (
                    "sender",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "messaging_message",
                "constraints": [
                    models.UniqueConstraint(fields=("conversation", "seq"), name="message_seq_unique"),
                    models.UniqueConstraint(fields=("sender", "client_msg_id"), name="message_client_id_unique"),
                ],
            },
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
