from django.urls import path

from messaging import api

urlpatterns = [
    path("conversations", api.ConversationListView.as_view()),
    path("conversations/<str:conversation_id>", api.ConversationDetailView.as_view()),
    path("conversations/<str:conversation_id>/messages", api.MessagesView.as_view()),
    path("conversations/<str:conversation_id>/reads", api.ReadsView.as_view()),
    path("conversations/<str:conversation_id>/read", api.ReadView.as_view()),
    path("conversations/<str:conversation_id>/draft", api.DraftView.as_view()),
    path("conversations/<str:conversation_id>/pins", api.PinsView.as_view()),
    path("conversations/<str:conversation_id>/pins/<str:message_id>", api.PinDetailView.as_view()),
    path("messages/<str:message_id>/reactions", api.ReactorsView.as_view()),
]
