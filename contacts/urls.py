from django.urls import path

from contacts import api

urlpatterns = [
    path("users/search", api.UserSearchView.as_view()),
    path("contacts", api.ContactListView.as_view()),
    path("contacts/<str:user_id>", api.ContactDetailView.as_view()),
    path("contact-requests", api.ContactRequestListView.as_view()),
    path("contact-requests/<str:request_id>", api.ContactRequestDetailView.as_view()),
    path("contact-requests/<str:request_id>/accept", api.ContactRequestAcceptView.as_view()),
    path("contact-requests/<str:request_id>/reject", api.ContactRequestRejectView.as_view()),
    path("blocks", api.BlockListView.as_view()),
    path("blocks/<str:user_id>", api.BlockDetailView.as_view()),
]
