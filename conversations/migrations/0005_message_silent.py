from django.db import migrations, models

SILENT_EVENTS = ("recall", "edit", "reaction")


def mark_silent(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    ids = [
        pk
        for pk, data in Message.objects.filter(kind="system").values_list("pk", "data").iterator()
        if isinstance(data, dict) and data.get("event") in SILENT_EVENTS
    ]
    for start in range(0, len(ids), 1000):
        Message.objects.filter(pk__in=ids[start : start + 1000]).update(silent=True)


class Migration(migrations.Migration):
    dependencies = [("conversations", "0004_remove_conversation_group")]

    operations = [
        migrations.AddField(model_name="message", name="silent", field=models.BooleanField(default=False)),
        migrations.RunPython(mark_silent, migrations.RunPython.noop),
    ]
