from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries are filled once every app is ready (models load after apps).
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from assistant import bot
        from bots.internal import register_internal_bot

        register_internal_bot(bot.NAME, bot.answer, enabled=bot.enabled)
        # After the bots app's tables are migrated (this app may have no models).
        post_migrate.connect(bot.ensure_assistant_bot, sender=apps.get_app_config("bots"))
