from django.urls import path

from assistant import api

urlpatterns = [
    path("me/assistant", api.AssistantSettingsView.as_view()),
]
