# Conversation, ConversationMember and Message now belong to the
# `conversations` app (conversations/migrations/0001). State only: no table
# is dropped. The foreign keys of contacts and calls point there first.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_message_send_id"),
        ("conversations", "0001_initial"),
        ("contacts", "0002_conversation_in_conversations"),
        ("calls", "0002_conversation_in_conversations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Message"),
                migrations.DeleteModel(name="ConversationMember"),
                migrations.DeleteModel(name="Conversation"),
            ]
        )
    ]
