from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_message_silent")]

    operations = [
        migrations.AddField(model_name="member", name="draft_text", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="member", name="draft_reply_to", field=models.UUIDField(blank=True, null=True)),
        migrations.AddField(
            model_name="member", name="draft_updated_at", field=models.DateTimeField(blank=True, null=True)
        ),
    ]
