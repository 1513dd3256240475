"""Webhooks get a public id (`uuid`): the API named them by their primary
key, which the wire contract keeps inside the server. Existing rows get
one each, then the column is made unique and required."""

import uuid

from django.db import migrations, models


def give_each_a_uuid(apps, schema_editor):
    Webhook = apps.get_model("bots", "Webhook")
    for webhook in Webhook.objects.filter(uuid__isnull=True).only("pk"):
        Webhook.objects.filter(pk=webhook.pk).update(uuid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("bots", "0002_allowed")]

    operations = [
        migrations.AddField(model_name="webhook", name="uuid", field=models.UUIDField(null=True, editable=False)),
        migrations.RunPython(give_each_a_uuid, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhook",
            name="uuid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
