from django.urls import path

from calls import api

urlpatterns = [
    path("calls", api.CallListView.as_view()),
    path("calls/ice-servers", api.IceServersView.as_view()),
]
