from django.urls import path

from groups import api

urlpatterns = [
    path("groups", api.GroupListView.as_view()),
    path("groups/<str:group_id>", api.GroupDetailView.as_view()),
    path("groups/<str:group_id>/members", api.MemberListView.as_view()),
    path("groups/<str:group_id>/members/<str:user_id>", api.MemberDetailView.as_view()),
    path("groups/<str:group_id>/leave", api.LeaveView.as_view()),
    path("groups/<str:group_id>/transfer", api.TransferView.as_view()),
    path("groups/<str:group_id>/join", api.JoinView.as_view()),
    path("groups/<str:group_id>/join-requests", api.JoinRequestListView.as_view()),
    path("groups/<str:group_id>/join-requests/<str:request_id>/accept", api.JoinRequestAcceptView.as_view()),
    path("groups/<str:group_id>/join-requests/<str:request_id>/reject", api.JoinRequestRejectView.as_view()),
]
