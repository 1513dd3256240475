from django.templatetags.static import static
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import last_modified
from django.views.generic.base import RedirectView
from django.views.i18n import JavaScriptCatalog

from web import pwa, views

app_name = "web"

_started = timezone.now()

urlpatterns = [
    path("", views.app_page, name="home"),
    path("chats", views.app_page, {"section": "chats"}, name="chats"),
    path("chats/<str:item>", views.app_page, {"section": "chats"}, name="chat"),
    path("contacts", views.app_page, {"section": "contacts"}, name="contacts"),
    path("contacts/<str:item>", views.app_page, {"section": "contacts"}, name="contact"),
    path("groups", views.app_page, {"section": "groups"}, name="groups"),
    path("groups/<str:item>", views.app_page, {"section": "groups"}, name="group"),
    path("calls", views.app_page, {"section": "calls"}, name="calls"),
    path("calls/<str:item>", views.app_page, {"section": "calls"}, name="call"),
    path("profile", views.app_page, {"section": "profile"}, name="profile"),
    path("profile/<str:item>", views.app_page, {"section": "profile"}, name="profile_item"),
    # One of my bots (Me › My bots): its settings, keys, commands and webhooks.
    path("profile/bots/<str:bot>", views.app_page, {"section": "profile"}, name="profile_bot"),
    path("login", views.login_page, name="login"),
    path("register", views.register_page, name="register"),
    path("reset", views.reset_page, name="reset"),
    path("logout", views.logout_view, name="logout"),
    # A section's address typed with a trailing slash is the section.
    *(path(f"{section}/", views.section_with_slash, {"section": section}) for section in views.SECTIONS),
    # The installable app: its manifest, its service worker (scope "/") and
    # the offline shell the worker falls back to (web/pwa.py).
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("offline", pwa.offline_page, name="offline"),
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("i18n/setlang", views.set_language_view, name="set_language"),
    # The translations the scripts use, per language (LocaleMiddleware picks it).
    path(
        "jsi18n/",
        last_modified(lambda request: _started)(JavaScriptCatalog.as_view()),
        name="jsi18n",
    ),
]
