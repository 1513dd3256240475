from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register", api.RegisterView.as_view()),
    path("auth/login", api.LoginView.as_view()),
    path("auth/sms/send", api.SmsSendView.as_view()),
    path("auth/sms/login", api.SmsLoginView.as_view()),
    path("auth/password/reset", api.PasswordResetView.as_view()),
    path("auth/refresh", api.RefreshView.as_view()),
    path("auth/logout", api.LogoutView.as_view()),
    path("me", api.MeView.as_view()),
    path("me/password", api.PasswordChangeView.as_view()),
    path("me/sessions", api.SessionListView.as_view()),
    path("me/sessions/<str:session_id>", api.SessionDetailView.as_view()),
    path("users/<str:user_id>", api.UserDetailView.as_view()),
]
