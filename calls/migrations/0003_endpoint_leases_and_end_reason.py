# Each media endpoint's lease (and the login session of its socket), so a call
# ends when the device in it is gone although the party has other sockets; and
# the reason a call ended with, so a repeated `call.ended` carries it. Live
# calls from before keep no endpoint lease (NULL: judged by the user's lease).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_conversation_in_conversations"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="callee_seen_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="call",
            name="callee_session",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="call",
            name="caller_seen_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="call",
            name="caller_session",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="call",
            name="end_reason",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
