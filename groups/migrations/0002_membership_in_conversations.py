# One membership truth. A group points at its conversation (it was the
# conversation that pointed at its group), and each member's role moves to
# their row in that conversation (conversations.Member.role). groups/0003
# drops the old Membership table once conversations/0004 dropped the old key.

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def forward(apps, schema_editor):
    Group = apps.get_model("groups", "Group")
    Membership = apps.get_model("groups", "Membership")
    Conversation = apps.get_model("conversations", "Conversation")
    Member = apps.get_model("conversations", "Member")
    for group in Group.objects.all().iterator():
        conversation = Conversation.objects.filter(group_id=group.pk).first()
        if conversation is None:  # a group whose conversation was never made
            conversation = Conversation.objects.create(kind="group", group_id=group.pk)
        group.conversation_id = conversation.pk
        group.save(update_fields=["conversation"])
        for membership in Membership.objects.filter(group_id=group.pk):
            member, _ = Member.objects.get_or_create(
                conversation_id=conversation.pk,
                user_id=membership.user_id,
                defaults={
                    "visible_from_seq": conversation.last_seq,
                    "read_seq": conversation.last_seq,
                    "joined_at": membership.joined_at,
                },
            )
            member.role = membership.role
            member.left_seq = None
            member.save(update_fields=["role", "left_seq"])


def backward(apps, schema_editor):
    Group = apps.get_model("groups", "Group")
    Membership = apps.get_model("groups", "Membership")
    Conversation = apps.get_model("conversations", "Conversation")
    Member = apps.get_model("conversations", "Member")
    for group in Group.objects.exclude(conversation=None).iterator():
        Conversation.objects.filter(pk=group.conversation_id).update(group_id=group.pk)
        for member in Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True):
            Membership.objects.get_or_create(
                group_id=group.pk,
                user_id=member.user_id,
                defaults={"role": member.role or "member", "joined_at": member.joined_at or timezone.now()},
            )


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0001_initial"),
        ("conversations", "0003_member_role"),
    ]

    operations = [
        migrations.AddField(
            model_name="group",
            name="conversation",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="conversations.conversation",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
