from django.urls import path

from files import api

urlpatterns = [
    path("files", api.UploadView.as_view()),
    path("files/<str:file_id>/content", api.FileContentView.as_view()),
    path("files/<str:file_id>/thumbnail", api.FileThumbnailView.as_view()),
]
