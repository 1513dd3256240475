from django.urls import path

from messaging import api

urlpatterns = [
    path("conversations", api.ConversationListView.as_view()),
    path("conversations/<str:conversation_id>", api.ConversationDetailView.as_view()),
    path("conversations/<str:conversation_id>/messages", api.MessagesView.as_view()),
    path("conversations/<str:conversation_id>/reads", api.ReadsView.as_view()),
    path("conversations/<str:conversation_id>/read", api.ReadView.as_view()),
    path("messages/search", api.SearchView.as_view()),
]
