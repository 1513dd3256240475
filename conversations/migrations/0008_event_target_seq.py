from django.db import migrations, models


def fill_target_seq(apps, schema_editor):
    """Recall events stored before: their target is `changes.seq`."""
    Message = apps.get_model("conversations", "Message")
    batch = []
    for message in Message.objects.filter(kind="system", silent=True).only("id", "data").iterator(chunk_size=2000):
        changes = (message.data or {}).get("changes") or {}
        if (message.data or {}).get("event") == "recall" and isinstance(changes.get("seq"), int):
            message.target_seq = changes["seq"]
            batch.append(message)
        if len(batch) >= 1000:
            Message.objects.bulk_update(batch, ["target_seq"])
            batch = []
    if batch:
        Message.objects.bulk_update(batch, ["target_seq"])


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0007_message_v3"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="target_seq",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(fill_target_seq, migrations.RunPython.noop),
    ]
