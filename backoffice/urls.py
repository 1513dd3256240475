from django.urls import path

from backoffice import api

urlpatterns = [
    path("admin/users", api.UserListView.as_view()),
    path("admin/users/<str:user_id>", api.UserDetailView.as_view()),
    path("admin/users/<str:user_id>/disable", api.UserDisableView.as_view()),
    path("admin/users/<str:user_id>/enable", api.UserEnableView.as_view()),
    path("admin/users/<str:user_id>/set-admin", api.UserSetAdminView.as_view()),
    path("admin/users/<str:user_id>/unset-admin", api.UserUnsetAdminView.as_view()),
    path("admin/groups", api.GroupListView.as_view()),
    path("admin/groups/<str:group_id>", api.GroupDetailView.as_view()),
    path("admin/groups/<str:group_id>/disable", api.GroupDisableView.as_view()),
    path("admin/groups/<str:group_id>/enable", api.GroupEnableView.as_view()),
    path("admin/audit", api.AuditListView.as_view()),
]
