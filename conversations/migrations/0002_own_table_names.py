# The tables and indexes take this app's names (renames: the rows and keys stay).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0001_initial"),
        ("messaging", "0003_models_moved_to_conversations"),
    ]

    operations = [
        migrations.AlterModelTable(name="conversation", table=None),
        migrations.AlterModelTable(name="member", table=None),
        migrations.AlterModelTable(name="message", table=None),
        migrations.RenameIndex(
            model_name="conversation",
            new_name="conversatio_last_me_94938f_idx",
            old_name="messaging_c_last_me_87f299_idx",
        ),
        migrations.RenameIndex(
            model_name="member",
            new_name="conversatio_user_id_e66c71_idx",
            old_name="messaging_c_user_id_eb37b3_idx",
        ),
    ]
