"""The pages as HTTP: sign-in and sign-up on the cookie session (with the
API's own rules and limits), sign-out, the app shell, the CSP, i18n."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from accounts.middleware import SESSION_KEY
from accounts.models import LoginSession
from accounts.sms import MemoryBackend
from conftest import PASSWORD
from web.middleware import NOTHING, POLICY

pytestmark = pytest.mark.django_db

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"


@pytest.fixture
def browser_client() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf(client: Client, path: str = "/login") -> str:
    response = client.get(path)
    return response.cookies["csrftoken"].value if "csrftoken" in response.cookies else client.cookies["csrftoken"].value


def sign_in(client: Client, login: str, password: str = PASSWORD, next_url: str = "") -> object:
    token = csrf(client)
    return client.post(
        "/login",
        {"method": "password", "login": login, "password": password, "next": next_url, "csrfmiddlewaretoken": token},
    )


def app_config(response) -> dict:
    match = re.search(rb'<script id="app-config" type="application/json">(.*?)</script>', response.content, re.S)
    assert match, "the page carries its config as JSON"
    return json.loads(match.group(1))


# --------------------------------------------------------------------------- pages and the CSP


def test_the_home_page_asks_who_you_are(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/"
    assert client.get("/contacts").headers["Location"] == "/login?next=/contacts"


def test_sign_in_page_has_the_strict_csp_and_a_csrf_cookie(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == POLICY
    assert "script-src 'self';" in POLICY and "unsafe-inline" not in POLICY
    assert "frame-ancestors 'none'" in POLICY
    assert "csrftoken" in response.cookies
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.content.decode()
    # No inline script and no inline style anywhere on the page.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", body)
    assert " style=" not in body and "<style" not in body


def test_csp_is_on_the_admin_and_api_answers_allow_nothing_but_swagger_ui_keeps_its_own(client, admin_user):
    assert client.get("/admin/login/")["Content-Security-Policy"] == POLICY
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert docs.get("Content-Security-Policy") != POLICY
    # A JSON answer opened in a browser may run, load or frame nothing.
    assert client.get("/healthz")["Content-Security-Policy"] == NOTHING
    assert client.get("/api/v1/me")["Content-Security-Policy"] == NOTHING


# --------------------------------------------------------------------------- password sign-in


def test_password_sign_in_starts_a_web_login_session(browser_client, alice):
    response = sign_in(browser_client, "alice", next_url="/contacts")
    assert response.status_code == 302 and response["Location"] == "/contacts"
    session = LoginSession.objects.get(uuid=browser_client.session[SESSION_KEY])
    assert session.user == alice and session.kind == "web" and session.is_live
    page = browser_client.get("/")
    assert page.status_code == 200
    assert page["Content-Security-Policy"] == POLICY
    config = app_config(page)
    assert config["user"]["id"] == str(alice.uuid) and config["user"]["phone"] == alice.phone
    assert config["section"] == "chats"
    # The signed-in browser uses the API with its cookie and CSRF token.
    assert browser_client.get("/api/v1/me").json()["id"] == str(alice.uuid)
    refused = browser_client.patch("/api/v1/me", {"nickname": "A"}, content_type="application/json")
    assert refused.status_code == 403
    ok = browser_client.patch(
        "/api/v1/me",
        {"nickname": "A"},
        content_type="application/json",
        headers={"X-CSRFToken": browser_client.cookies["csrftoken"].value},
    )
    assert ok.status_code == 200 and ok.json()["nickname"] == "A"


def test_a_bot_of_mine_has_an_address_of_its_own_under_my_bots(browser_client, alice):
    sign_in(browser_client, "alice")
    bot_id = "4f6f1f6e-8b1a-4c53-9d0e-2f4f0c1a7b11"
    config = app_config(browser_client.get(f"/profile/bots/{bot_id}"))
    assert (config["section"], config["item"]) == ("profile", f"bots/{bot_id}")
    assert app_config(browser_client.get("/profile/bots"))["item"] == "bots"


@pytest.mark.parametrize(
    ("path", "section", "item"),
    [
        ("/chats/c1", "chats", "c1"),
        ("/contacts/u1", "contacts", "u1"),
        ("/groups/g1", "groups", "g1"),
        ("/calls/k1", "calls", "k1"),
        ("/profile/notifications", "profile", "notifications"),
    ],
)
def test_every_item_of_every_section_has_an_address_that_opens_the_app_there(
    browser_client, alice, path, section, item
):
    """A page reloaded, or a link opened in a new tab, lands on the item it
    showed (a call of the log too), not on a 404."""
    sign_in(browser_client, "alice")
    config = app_config(browser_client.get(path))
    assert (config["section"], config["item"]) == (section, item)


def test_sign_in_page_refuses_a_post_without_csrf(browser_client, alice):
    response = browser_client.post("/login", {"method": "password", "login": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert not LoginSession.objects.filter(user=alice).exists()


def test_sign_in_never_redirects_off_site(browser_client, alice):
    response = sign_in(browser_client, "alice", next_url="https://evil.example/phish")
    assert response.status_code == 302 and response["Location"] == "/"


def test_wrong_password_is_said_plainly_and_limited(browser_client, alice, settings):
    settings.LIMIT_LOGIN_FAILURES_PER_ACCOUNT = 2
    first = sign_in(browser_client, "alice", password="wrong-password")
    assert first.status_code == 401
    assert "Wrong login or password" in first.content.decode()
    assert 'value="alice"' in first.content.decode()  # the login is kept, the password is not
    sign_in(browser_client, "alice", password="wrong-password")
    limited = sign_in(browser_client, "alice")  # even the right password, once limited
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    assert SESSION_KEY not in browser_client.session


def test_a_disabled_account_is_told_so(browser_client, alice):
    alice.status = "disabled"
    alice.save()
    response = sign_in(browser_client, "alice")
    assert response.status_code == 403
    assert "disabled by an administrator" in response.content.decode()


def test_a_signed_in_visitor_skips_the_sign_in_page(browser_client, alice):
    sign_in(browser_client, "alice")
    response = browser_client.get("/login")
    assert response.status_code == 302 and response["Location"] == "/"


# --------------------------------------------------------------------------- SMS sign-in


def test_sms_code_sign_in(browser_client, alice):
    token = csrf(browser_client)
    sent = browser_client.post(
        "/api/v1/auth/sms/send", {"phone": alice.phone, "purpose": "login"}, content_type="application/json"
    )
    assert sent.status_code == 202
    code = re.search(r"\b(\d{6})\b", MemoryBackend.outbox[-1]["text"]).group(1)
    wrong = browser_client.post(
        "/login", {"method": "sms", "phone": alice.phone, "code": "000000", "csrfmiddlewaretoken": token}
    )
    assert wrong.status_code == 401
    assert 'id="panel-sms"' in wrong.content.decode() and 'aria-selected="true" class="tab" data-tab="sms"' in (
        wrong.content.decode()
    )
    ok = browser_client.post(
        "/login", {"method": "sms", "phone": alice.phone, "code": code, "csrfmiddlewaretoken": token}
    )
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert LoginSession.objects.get(uuid=browser_client.session[SESSION_KEY]).kind == "web"


# --------------------------------------------------------------------------- sign-up


def test_sign_up_creates_the_account_and_signs_in(browser_client):
    from accounts.models import User

    token = csrf(browser_client, "/register")
    response = browser_client.post(
        "/register",
        {
            "username": "Newbie_1",
            "nickname": "  New  ",
            "password": "a-good-password",
            "password2": "a-good-password",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="newbie_1")
    assert user.nickname == "New"
    assert LoginSession.objects.get(uuid=browser_client.session[SESSION_KEY]).kind == "web"
    assert LoginSession.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("form", "status", "text"),
    [
        ({"username": "ab", "password": "a-good-password", "password2": "a-good-password"}, 400, "3 to 32 letters"),
        ({"username": "okname", "password": "12345678", "password2": "12345678"}, 400, "Must not be all digits"),
        ({"username": "okname", "password": "a-good-password", "password2": "other-password"}, 400, "differ"),
        (
            {"username": "alice", "password": "a-good-password", "password2": "a-good-password"},
            400,
            "This username is taken",
        ),
        (
            {
                "username": "okname",
                "password": "a-good-password",
                "password2": "a-good-password",
                "phone": "13800000000",
            },
            400,
            "Required when a phone number is given",
        ),
    ],
)
def test_sign_up_refusals_are_shown_on_the_form(browser_client, alice, form, status, text):
    token = csrf(browser_client, "/register")
    response = browser_client.post("/register", {**form, "csrfmiddlewaretoken": token})
    assert response.status_code == status
    assert text in response.content.decode()
    assert SESSION_KEY not in browser_client.session


def test_sign_up_reports_every_problem_at_once_and_keeps_what_it_can(browser_client, alice):
    token = csrf(browser_client, "/register")
    response = browser_client.post(
        "/register",
        {
            "username": "x",
            "nickname": "Ok",
            "password": "1234",
            "password2": "4321",
            "phone": "+8613700137001",
            "csrfmiddlewaretoken": token,
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    for text in ("3 to 32 letters", "At least 8 characters", "The two passwords differ", "Required when a phone"):
        assert text in html, text
    assert 'value="+8613700137001"' in html and 'value="Ok"' in html
    assert 'value="1234"' not in html  # passwords that were wrong are typed again
    # Only the username is wrong (taken): the passwords stay filled in.
    again = browser_client.post(
        "/register",
        {
            "username": "alice",
            "password": "a-good-password",
            "password2": "a-good-password",
            "csrfmiddlewaretoken": token,
        },
    )
    html = again.content.decode()
    assert again.status_code == 400 and "This username is taken" in html
    assert html.count('value="a-good-password"') == 2
    assert SESSION_KEY not in browser_client.session


def test_asking_for_a_sign_in_code_does_not_hold_up_the_code_to_register(browser_client):
    """An unknown number gets no sign-in code (the answer does not say so); it
    may still be registered at once."""
    phone = "+8613700137002"
    first = browser_client.post(
        "/api/v1/auth/sms/send", {"phone": phone, "purpose": "login"}, content_type="application/json"
    )
    assert first.status_code == 202 and not [m for m in MemoryBackend.outbox if m["phone"] == phone]
    register = browser_client.post(
        "/api/v1/auth/sms/send", {"phone": phone, "purpose": "register"}, content_type="application/json"
    )
    assert register.status_code == 202
    assert [m["purpose"] for m in MemoryBackend.outbox if m["phone"] == phone] == ["register"]
    # The same purpose again within the cooldown is refused, whatever the number.
    again = browser_client.post(
        "/api/v1/auth/sms/send", {"phone": phone, "purpose": "login"}, content_type="application/json"
    )
    assert again.status_code == 429


def test_after_a_wrong_code_send_code_waits_for_the_cooldown(browser_client, alice):
    token = csrf(browser_client)
    browser_client.post(
        "/api/v1/auth/sms/send", {"phone": alice.phone, "purpose": "login"}, content_type="application/json"
    )
    wrong = browser_client.post(
        "/login", {"method": "sms", "phone": alice.phone, "code": "000000", "csrfmiddlewaretoken": token}
    )
    left = int(re.search(r'data-cooldown="(\d+)"', wrong.content.decode()).group(1))
    assert 50 <= left <= 60
    assert 'data-cooldown="0"' in browser_client.get("/login?tab=sms").content.decode()


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("disabled", "an administrator has disabled this account"),
        ("signed_out", "this device's session ended"),
        ("<script>", None),
    ],
)
def test_the_sign_in_page_says_why_the_app_signed_someone_out(client, reason, text):
    html = client.get("/login", {"reason": reason}).content.decode()
    if text is None:
        assert "You were signed out" not in html and "<script>" not in html.split("<body", 1)[1].split("</main>")[0]
    else:
        assert text in html


def test_sign_up_with_a_phone_needs_its_code(browser_client):
    from accounts.models import User

    token = csrf(browser_client, "/register")
    browser_client.post(
        "/api/v1/auth/sms/send", {"phone": "+8613700137000", "purpose": "register"}, content_type="application/json"
    )
    code = re.search(r"\b(\d{6})\b", MemoryBackend.outbox[-1]["text"]).group(1)
    form = {
        "username": "phoneuser",
        "password": "a-good-password",
        "password2": "a-good-password",
        "phone": "13700137000",
        "sms_code": "000000" if code != "000000" else "111111",
        "csrfmiddlewaretoken": token,
    }
    # A wrong code is said by its field, not as a wrong login or password.
    wrong = browser_client.post("/register", form)
    html = wrong.content.decode()
    assert wrong.status_code == 401
    assert 'id="reg-code-error"' in html and "Wrong or expired code." in html
    assert "Wrong login or password" not in html
    response = browser_client.post(
        "/register",
        {
            "username": "phoneuser",
            "password": "a-good-password",
            "password2": "a-good-password",
            "phone": "13700137000",
            "sms_code": code,
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert User.objects.get(username="phoneuser").phone == "+8613700137000"


# --------------------------------------------------------------------------- a forgotten password


def _reset_code(client: Client, phone: str) -> str:
    sent = client.post("/api/v1/auth/sms/send", {"phone": phone, "purpose": "reset"}, content_type="application/json")
    assert sent.status_code == 202
    return re.search(r"\b(\d{6})\b", MemoryBackend.outbox[-1]["text"]).group(1)


def test_the_sign_in_page_leads_to_the_reset_page(client):
    page = client.get("/login").content.decode()
    assert 'href="/reset"' in page
    reset = client.get("/reset")
    assert reset.status_code == 200
    assert 'data-purpose="reset"' in reset.content.decode() and "csrftoken" in reset.cookies


def test_reset_with_an_sms_code_sets_the_password_and_ends_every_session(browser_client, alice, api):
    assert api.get("/api/v1/me").status_code == 200  # a session elsewhere
    token = csrf(browser_client, "/reset")
    code = _reset_code(browser_client, alice.phone)
    form = {"phone": alice.phone, "code": code, "csrfmiddlewaretoken": token}
    differ = browser_client.post("/reset", {**form, "password": "a-new-password-9", "password2": "another-one-9"})
    assert differ.status_code == 400 and "The two passwords differ." in differ.content.decode()
    weak = browser_client.post("/reset", {**form, "password": "12345678", "password2": "12345678"})
    assert weak.status_code == 400 and 'id="reset-password-error"' in weak.content.decode()
    done = browser_client.post("/reset", {**form, "password": "a-new-password-9", "password2": "a-new-password-9"})
    assert done.status_code == 302 and done["Location"] == "/login"
    assert "Your password was changed." in browser_client.get(done["Location"]).content.decode()
    assert "Your password was changed." not in browser_client.get("/login").content.decode()  # said once
    assert api.get("/api/v1/me").status_code == 401  # every session ended
    assert sign_in(browser_client, "alice").status_code == 401  # the old password no longer works
    assert sign_in(browser_client, "alice", "a-new-password-9").status_code == 302
    # The code was used up: it cannot reset the password again.
    fresh = csrf(browser_client, "/reset")  # signing in rotated the CSRF token
    again = browser_client.post(
        "/reset",
        {**form, "csrfmiddlewaretoken": fresh, "password": "a-third-password-9", "password2": "a-third-password-9"},
    )
    assert again.status_code == 401 and "Wrong or expired code." in again.content.decode()


def test_nobody_can_link_to_the_password_changed_notice(client):
    assert "Your password was changed." not in client.get("/login?reset=1").content.decode()


def test_reset_with_a_wrong_code_changes_nothing(browser_client, alice):
    token = csrf(browser_client, "/reset")
    _reset_code(browser_client, alice.phone)
    response = browser_client.post(
        "/reset",
        {
            "phone": alice.phone,
            "code": "000000",
            "password": "a-new-password-9",
            "password2": "a-new-password-9",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 401 and "Wrong or expired code." in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


# --------------------------------------------------------------------------- sign-out and ended sessions


def test_sign_out_revokes_the_login_session(browser_client, alice):
    sign_in(browser_client, "alice")
    session = LoginSession.objects.get(uuid=browser_client.session[SESSION_KEY])
    token = browser_client.cookies["csrftoken"].value
    assert browser_client.get("/logout").status_code == 405
    response = browser_client.post("/logout", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/login"
    session.refresh_from_db()
    assert session.revoked_at is not None and session.revoked_reason == "logout"
    assert browser_client.get("/").status_code == 302
    assert browser_client.get("/api/v1/me").status_code == 401


def test_a_session_ended_elsewhere_signs_the_page_out(browser_client, alice, api):
    sign_in(browser_client, "alice")
    sid = browser_client.session[SESSION_KEY]
    assert api.delete(f"/api/v1/me/sessions/{sid}").status_code == 204
    response = browser_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_user_strings_in_the_page_config_cannot_close_the_script(browser_client, user_factory):
    user_factory("tricky", nickname="</script><script>alert(1)</script>")
    sign_in(browser_client, "tricky")
    body = browser_client.get("/").content.decode()
    assert "</script><script>alert(1)" not in body
    assert app_config(browser_client.get("/"))["user"]["nickname"] == "</script><script>alert(1)</script>"


# --------------------------------------------------------------------------- languages


def test_the_browser_language_picks_chinese_and_the_switch_overrides_it(client):
    zh = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh["Content-Language"] == "zh-hans"
    assert "<h1>登录</h1>" in zh.content.decode()
    assert 'lang="zh-Hans"' in zh.content.decode()
    token = zh.cookies["csrftoken"].value
    switched = client.post("/i18n/setlang", {"language": "en", "next": "/login", "csrfmiddlewaretoken": token})
    assert switched.status_code == 302 and switched["Location"] == "/login"
    en = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "<h1>Sign in</h1>" in en.content.decode()


def test_the_script_catalogue_is_served_per_language(client):
    zh = client.get("/jsi18n/", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200 and zh["Content-Type"].startswith("text/javascript")
    reconnecting = json.dumps("正在重新连接…")[1:-1]  # the catalogue is JSON with \\u escapes
    assert reconnecting in zh.content.decode()
    assert reconnecting not in client.get("/jsi18n/", headers={"Accept-Language": "en"}).content.decode()


def po_unescape(quoted: str) -> str:
    """A PO string's text: its escapes are \\" and \\\\ (a shrug's arm), \\n and \\t."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), quoted)


def po_entries(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    entries = {}
    for msgid, msgstr in re.findall(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', text, re.M):
        key = po_unescape("".join(re.findall(r'"(.*)"', msgid)))
        value = po_unescape("".join(re.findall(r'"(.*)"', msgstr)))
        if key:
            entries[key] = value
    return entries


def test_every_string_is_translated_and_the_compiled_catalogues_are_current(client):
    pages = po_entries(LOCALE / "django.po")
    scripts = po_entries(LOCALE / "djangojs.po")
    assert pages and scripts
    assert [k for k, v in {**pages, **scripts}.items() if not v] == []
    with translation.override("zh-hans"):
        stale = [k for k, v in pages.items() if translation.gettext(k) != v]
    assert stale == [], "run manage.py compilemessages -l zh_Hans -i .venv (django.mo is older than django.po)"
    catalogue = client.get("/jsi18n/", headers={"Accept-Language": "zh-CN"}).content.decode()
    missing = [k for k, v in scripts.items() if json.dumps(v)[1:-1] not in catalogue and v not in catalogue]
    assert missing == [], "run manage.py compilemessages -l zh_Hans -i .venv (djangojs.mo is older than djangojs.po)"


def test_the_language_is_kept_on_the_account_and_every_device_follows_it(browser_client, client, alice):
    from django.test import Client as PageClient

    sign_in(browser_client, "alice")
    token = browser_client.cookies["csrftoken"].value
    switched = browser_client.post("/i18n/setlang", {"language": "zh-hans", "next": "/", "csrfmiddlewaretoken": token})
    assert switched.status_code == 302
    alice.refresh_from_db()
    assert alice.language == "zh-hans"
    # Another device, whose browser asks for English, opens the app in Chinese.
    other = PageClient()
    sign_in(other, "alice")
    page = other.get("/", headers={"Accept-Language": "en"})
    assert 'lang="zh-Hans"' in page.content.decode() and page.cookies["django_language"].value == "zh-hans"
    # Over the API: /me says it and takes it.
    from rest_framework.test import APIClient

    from conftest import login_tokens

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(alice)['access']}")
    assert api.get("/api/v1/me").json()["language"] == "zh-hans"
    assert api.patch("/api/v1/me", {"language": "en"}, format="json").json()["language"] == "en"
    assert api.patch("/api/v1/me", {"language": "fr"}, format="json").status_code == 400
    assert api.patch("/api/v1/me", {"language": None}, format="json").json()["language"] is None
    # Nobody else sees it.
    assert "language" not in api.get(f"/api/v1/users/{alice.uuid}").json()


# --------------------------------------------------------------------------- wrong addresses


def test_a_wrong_address_gets_the_apps_own_page_and_sections_take_a_slash(browser_client, alice, admin_user):
    missing = browser_client.get("/no/such/page")
    assert missing.status_code == 404
    html = missing.content.decode()
    assert "Page not found" in html and "favicon.svg" in html and "Go to your chats" in html
    assert "URLconf" not in html
    sign_in(browser_client, "alice")
    assert browser_client.get("/chats").status_code == 200
    for section in ("contacts", "groups", "calls", "profile"):
        answer = browser_client.get(f"/{section}/")
        assert answer.status_code == 302 and answer["Location"] == f"/{section}"
    assert browser_client.get("/chats/")["Location"] == "/"
    icon = browser_client.get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"].endswith("favicon.svg")
    assert "favicon.svg" in Client().get("/admin/login/").content.decode()
