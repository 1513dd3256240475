"""The installable app over HTTP: the manifest, the service worker's script
(its headers, its policy, what it keeps, its version) and the offline shell
(nothing personal in it). The browser side is test_browser_pwa.py."""

from __future__ import annotations

import json
import re

import pytest

from web import pwa
from web.middleware import POLICY

pytestmark = pytest.mark.django_db


def worker_config(body: str) -> dict:
    return json.loads(re.search(r"^const CONFIG = (\{.*?\n\});$", body, re.M | re.S).group(1))


def test_the_manifest_is_json_of_its_own_type_in_the_visitors_language(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    data = json.loads(response.content)
    assert (data["id"], data["start_url"], data["scope"], data["display"]) == ("/", "/", "/", "standalone")
    assert {i["sizes"] for i in data["icons"] if i["purpose"] == "maskable"} == {"192x192", "512x512"}
    zh = json.loads(client.get("/manifest.webmanifest", headers={"Accept-Language": "zh-CN"}).content)
    assert zh["lang"] == "zh-Hans" and zh["description"] != data["description"]


def test_every_page_links_the_manifest_and_the_policy_allows_the_worker(client):
    body = client.get("/login").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in body
    assert '<link rel="apple-touch-icon" href="/static/img/apple-touch-icon.png">' in body
    assert "worker-src 'self'" in POLICY and "manifest-src 'self'" in POLICY


def test_the_worker_is_served_for_the_root_scope_and_keeps_only_what_needs_no_session(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    assert response["Content-Security-Policy"] == pwa.WORKER_POLICY
    config = worker_config(response.content.decode())
    assert config["cache"] == f"wsc-shell-{pwa.static_version()}-en"
    assert "/offline" in config["precache"] and "/static/js/app.js" in config["precache"]
    assert all(u == "/offline" or u.startswith("/static/") for u in config["precache"])
    assert "/static/js/sw.js" not in config["precache"]
    assert {"/api/", "/ws/", "/admin/"} <= set(config["network_only"])
    # The language picks the offline shell's words: its own cache.
    zh = worker_config(client.get("/sw.js", headers={"Accept-Language": "zh-CN"}).content.decode())
    assert zh["cache"].endswith("-zh-hans") and zh["words"]["app"]


def test_the_version_follows_the_static_files(tmp_path, settings, monkeypatch):
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text("one")
    monkeypatch.setattr(pwa, "OWN_STATIC", tmp_path)
    monkeypatch.setattr(pwa.staticfiles_storage, "exists", lambda name: False)
    first = pwa._compute_version()
    assert pwa._compute_version() == first
    (tmp_path / "js" / "a.js").write_text("two")
    assert pwa._compute_version() != first


def test_the_offline_shell_holds_no_token_and_sets_no_cookie(client):
    response = client.get("/offline")
    assert response.status_code == 200
    body = response.content.decode()
    assert "csrf" not in body and "csrfmiddlewaretoken" not in body
    assert not response.cookies
    assert "/jsi18n/" not in body  # it loads only what the worker keeps
    assert response["Content-Security-Policy"] == POLICY
