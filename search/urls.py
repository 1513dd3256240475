from django.urls import path

from search import api

urlpatterns = [
    path("messages/search", api.SearchView.as_view()),
]
