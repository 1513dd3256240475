# A group now points at its conversation (groups/0002 copied the key across).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_member_role"),
        ("groups", "0002_membership_in_conversations"),
    ]

    operations = [migrations.RemoveField(model_name="conversation", name="group")]
