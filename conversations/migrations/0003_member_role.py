# Members get the role they hold in a group conversation (it was a second
# table, groups.Membership; groups/0002 copies it here).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_own_table_names")]

    operations = [
        migrations.AddField(
            model_name="member",
            name="role",
            field=models.CharField(
                blank=True,
                choices=[("owner", "owner"), ("admin", "admin"), ("member", "member")],
                max_length=8,
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(fields=["conversation", "role"], name="conversatio_convers_5bfae2_idx"),
        ),
    ]
