# Every group has its conversation, reachable from it as `conversation.group`;
# the Membership table is gone (its rows are conversations.Member roles).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0002_membership_in_conversations"),
        ("conversations", "0004_remove_conversation_group"),
    ]

    operations = [
        migrations.AlterField(
            model_name="group",
            name="conversation",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="group",
                to="conversations.conversation",
            ),
        ),
        migrations.DeleteModel(name="Membership"),
    ]
