from django.urls import path

from bots import api

urlpatterns = [
    path("bots", api.BotListView.as_view()),
    path("bots/<str:bot_id>", api.BotDetailView.as_view()),
    path("bots/<str:bot_id>/add", api.BotAddView.as_view()),
    path("bots/<str:bot_id>/allowed", api.BotAllowedView.as_view()),
    path("bots/<str:bot_id>/secret", api.BotSecretView.as_view()),
    path("bots/<str:bot_id>/commands", api.BotCommandsView.as_view()),
    path("bots/<str:bot_id>/keys", api.BotKeyListView.as_view()),
    path("bots/<str:bot_id>/keys/<str:key_id>", api.BotKeyDetailView.as_view()),
    path("bots/<str:bot_id>/webhooks", api.BotWebhookListView.as_view()),
    path("bots/<str:bot_id>/webhooks/<str:webhook_id>", api.BotWebhookDetailView.as_view()),
    path("hooks/<str:token>", api.IncomingWebhookView.as_view()),
    path("conversations/<str:conversation_id>/commands", api.ConversationCommandsView.as_view()),
]
