from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import checks, schema  # noqa: F401  (registers system checks and schema extensions)

        # Registries are filled once every app is ready (models load after apps).
        from accounts.selectors import avatars_holding, may_read_avatar
        from files import access

        access.register(reader=may_read_avatar, holder=avatars_holding)
