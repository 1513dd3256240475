from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries are filled once every app is ready (models load after apps).
        from conversations.wire import register_field
        from files import access
        from groups.selectors import group_avatars_holding, group_fields, may_read_group_avatar

        # A group conversation's Conversation object carries its Group.
        register_field("group", group_fields)
        access.register(reader=may_read_group_avatar, holder=group_avatars_holding)
