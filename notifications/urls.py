from django.urls import path

from notifications import api

urlpatterns = [
    path("push/key", api.PushKeyView.as_view()),
    path("push/subscriptions", api.SubscriptionListView.as_view()),
    path("push/subscriptions/<str:subscription_id>", api.SubscriptionDetailView.as_view()),
    path("me/notifications", api.NotificationSettingsView.as_view()),
]
