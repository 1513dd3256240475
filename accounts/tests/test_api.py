"""The accounts API (docs/protocol/rest.md "Accounts"): status and whole JSON, errors included."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from accounts.models import LoginSession, User
from accounts.sms import MemoryBackend
from chatsite.testing import assert_error
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def last_code(phone: str) -> str:
    for sms in reversed(MemoryBackend.outbox):
        if sms["phone"] == phone:
            return re.search(r"\b(\d{6})\b", sms["text"]).group(1)
    raise AssertionError(f"no SMS to {phone}")


def assert_user_shape(data: dict, *, phone: bool, own: bool = False) -> None:
    """A User object; `own`: the caller's own (with phone and language)."""
    keys = {"id", "username", "nickname", "avatar", "signature", "is_admin", "is_bot", "created_at"}
    assert set(data) == keys | ({"phone"} if phone or own else set()) | ({"language"} if own else set())
    assert ISO.match(data["created_at"])


# ----------------------------------------------------------------- register


def test_register_returns_user_and_tokens(anon):
    r = anon.post(
        "/api/v1/auth/register", {"username": "Dave_1", "password": "s3cret-pass", "nickname": "戴夫"}, format="json"
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"user", "access", "refresh", "expires_in"}
    assert_user_shape(body["user"], phone=True, own=True)
    assert body["user"]["language"] is None
    assert body["user"]["username"] == "dave_1"
    assert body["user"]["nickname"] == "戴夫"
    assert body["user"]["phone"] is None
    assert body["user"]["is_admin"] is False
    assert body["expires_in"] > 0
    me = anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert me.json() == body["user"]
    assert User.objects.get(username="dave_1").password.startswith("md5$")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"username": "ab", "password": "s3cret-pass"}, "username"),
        ({"username": "bad name", "password": "s3cret-pass"}, "username"),
        ({"username": "имя_юзера", "password": "s3cret-pass"}, "username"),
        ({"username": "x" * 33, "password": "s3cret-pass"}, "username"),
        ({"username": "dave", "password": "short1"}, "password"),
        ({"username": "dave", "password": "12345678901"}, "password"),
        ({"username": "davedave", "password": "DaveDave"}, "password"),
        ({"username": "dave", "password": "s3cret-pass", "nickname": "x" * 65}, "nickname"),
        ({"username": "dave", "password": "s3cret-pass", "nickname": "a\u202eb"}, "nickname"),
        ({"username": "dave", "password": "s3cret-pass", "phone": "+8613800138009"}, "sms_code"),
        ({"username": "dave", "password": "s3cret-pass", "phone": "not a phone", "sms_code": "123456"}, "phone"),
        ({"password": "s3cret-pass"}, "username"),
        ({"username": "dave", "password": "pass\x00word1"}, "password"),
    ],
)
def test_register_invalid_fields(anon, payload, field):
    r = anon.post("/api/v1/auth/register", payload, format="json")
    err = assert_error(r, 400, "invalid")
    assert field in err["fields"]
    assert not User.objects.filter(username__startswith="dave").exists()


@pytest.mark.parametrize(
    "username", ["dave\n", "dave\r\n", " dave", "dave ", "da ve", "dаve", "dave\u200b", "ďave", "dave!", "dv", "d" * 33]
)
def test_register_refuses_usernames_that_are_not_exactly_the_rule(anon, username):
    """3 to 32 of a-z, A-Z, 0-9 and `_`, matched in full: a trailing newline,
    spaces, a Cyrillic а, a zero-width space or an accented letter is refused."""
    r = anon.post("/api/v1/auth/register", {"username": username, "password": "s3cret-pass"}, format="json")
    err = assert_error(r, 400, "invalid")
    assert set(err["fields"]) == {"username"}
    assert User.objects.count() == 0


def test_usernames_are_unique_without_case_and_full_width_forms_are_the_same_name(anon):
    r = anon.post("/api/v1/auth/register", {"username": "Dave_1", "password": "s3cret-pass"}, format="json")
    assert r.status_code == 201 and r.json()["user"]["username"] == "dave_1"
    for same in ("DAVE_1", "dave_1", "ｄａｖｅ＿１"):
        r = anon.post("/api/v1/auth/register", {"username": same, "password": "s3cret-pass"}, format="json")
        assert_error(r, 409, "conflict")
    r = anon.post("/api/v1/auth/login", {"login": "ＤＡＶＥ＿１", "password": "s3cret-pass"}, format="json")
    assert r.status_code == 200 and r.json()["user"]["username"] == "dave_1"
    assert list(User.objects.values_list("username", flat=True)) == ["dave_1"]


def test_register_conflicts(anon, alice):
    r = anon.post("/api/v1/auth/register", {"username": "ALICE", "password": "s3cret-pass"}, format="json")
    assert_error(r, 409, "conflict")
    anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "register"}, format="json")
    assert MemoryBackend.outbox == [], "no register code for a taken number"
    r = anon.post(
        "/api/v1/auth/register",
        {"username": "dave", "password": "s3cret-pass", "phone": "13800138000", "sms_code": "123456"},
        format="json",
    )
    assert_error(r, 409, "conflict")


def test_register_with_phone_and_sms_code(anon):
    r = anon.post("/api/v1/auth/sms/send", {"phone": "13900139000", "purpose": "register"}, format="json")
    assert r.status_code == 202
    assert r.json() == {"expires_in": 300}
    code = last_code("+8613900139000")
    wrong = "000000" if code != "000000" else "111111"
    r = anon.post(
        "/api/v1/auth/register",
        {"username": "erin", "password": "s3cret-pass", "phone": "+8613900139000", "sms_code": wrong},
        format="json",
    )
    assert_error(r, 401, "invalid_credentials")
    r = anon.post(
        "/api/v1/auth/register",
        {"username": "erin", "password": "s3cret-pass", "phone": "+8613900139000", "sms_code": code},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["user"]["phone"] == "+8613900139000"


def test_body_must_be_strict_json_object(anon):
    for body in ('{"username": NaN}', "[1, 2]", "not json", '{"username": "\\ud800"}'):
        r = anon.generic("POST", "/api/v1/auth/register", body, content_type="application/json")
        assert_error(r, 400, "invalid")


# ----------------------------------------------------------------- login


def test_password_login_by_username_and_phone(anon, alice):
    for login in ("alice", "ALICE", "+8613800138000", "13800138000"):
        r = anon.post("/api/v1/auth/login", {"login": login, "password": "correct-horse-42"}, format="json")
        assert r.status_code == 200, (login, r.content)
        body = r.json()
        assert set(body) == {"user", "access", "refresh", "expires_in"}
        assert body["user"]["id"] == str(alice.uuid)
        assert body["user"]["phone"] == "+8613800138000"
    assert LoginSession.objects.filter(user=alice).count() == 4


def test_wrong_password_and_unknown_user_answer_the_same(anon, alice):
    a = anon.post("/api/v1/auth/login", {"login": "alice", "password": "wrong-password"}, format="json")
    b = anon.post("/api/v1/auth/login", {"login": "nobody", "password": "wrong-password"}, format="json")
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert a.json()["error"]["code"] == "invalid_credentials"


@override_settings(LIMIT_LOGIN_FAILURES_PER_ACCOUNT=5)
def test_login_failures_are_throttled_per_account(anon, alice):
    for _ in range(5):
        r = anon.post("/api/v1/auth/login", {"login": "alice", "password": "nope-nope"}, format="json")
        assert r.status_code == 401
    r = anon.post("/api/v1/auth/login", {"login": "alice", "password": "correct-horse-42"}, format="json")
    assert_error(r, 429, "rate_limited")
    assert int(r["Retry-After"]) > 0
    # The same for an account that does not exist: no enumeration through the limit.
    for _ in range(5):
        anon.post("/api/v1/auth/login", {"login": "ghost", "password": "nope-nope"}, format="json")
    assert_error(
        anon.post("/api/v1/auth/login", {"login": "ghost", "password": "x-nope-nope"}, format="json"),
        429,
        "rate_limited",
    )


# One phone number, spelt eleven ways (alice's is +86 138 0013 8000).
ALICE_PHONE_SPELLINGS = [
    "+8613800138000",
    "13800138000",
    "138 0013 8000",
    "138-0013-8000",
    "+86 138 0013 8000",
    "+86-138-0013-8000",
    "0086 138 0013 8000",
    "008613800138000",
    "86 13800138000",
    "(+86) 138 0013 8000",
    "+86 (138) 0013-8000",
]


@override_settings(LIMIT_LOGIN_FAILURES_PER_ACCOUNT=5, LIMIT_LOGIN_FAILURES_PER_IP=1000)
def test_login_failures_count_per_account_however_the_login_is_spelt(anon, alice):
    for spelling in ALICE_PHONE_SPELLINGS:  # each spelling finds the account
        r = anon.post("/api/v1/auth/login", {"login": spelling, "password": PASSWORD}, format="json")
        assert r.status_code == 200, (spelling, r.content)
    answers = []
    for i in range(20):
        login = (ALICE_PHONE_SPELLINGS + ["alice", "ALICE", "ａｌｉｃｅ"])[i % 14]
        answers.append(anon.post("/api/v1/auth/login", {"login": login, "password": "nope-nope"}, format="json"))
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 15
    for login in (*ALICE_PHONE_SPELLINGS, "alice"):
        r = anon.post("/api/v1/auth/login", {"login": login, "password": PASSWORD}, format="json")
        assert_error(r, 429, "rate_limited")
    # Names of no account are counted per normalised name too.
    for login in ("+86 139 0000 0000", "13900000000", "139-0000-0000", "0086 139 0000 0000", "+8613900000000"):
        anon.post("/api/v1/auth/login", {"login": login, "password": "nope-nope"}, format="json")
    r = anon.post("/api/v1/auth/login", {"login": "(+86) 13900000000", "password": "nope-nope"}, format="json")
    assert_error(r, 429, "rate_limited")


@override_settings(LIMIT_LOGIN_FAILURES_PER_IP=3, LIMIT_LOGIN_FAILURES_PER_ACCOUNT=100)
def test_login_failures_are_throttled_per_ip(anon, alice):
    for name in ("u1", "u2", "u3"):
        anon.post("/api/v1/auth/login", {"login": name, "password": "nope-nope"}, format="json")
    r = anon.post("/api/v1/auth/login", {"login": "alice", "password": "correct-horse-42"}, format="json")
    assert_error(r, 429, "rate_limited")


def test_disabled_account_cannot_log_in(anon, alice):
    alice.status = "disabled"
    alice.save()
    r = anon.post("/api/v1/auth/login", {"login": "alice", "password": "correct-horse-42"}, format="json")
    assert_error(r, 403, "account_disabled")


# ----------------------------------------------------------------- SMS


def test_sms_login(anon, alice):
    r = anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "login"}, format="json")
    assert r.status_code == 202 and r.json() == {"expires_in": 300}
    assert "code" not in r.content.decode().lower().replace("expires_in", "")
    code = last_code("+8613800138000")
    r = anon.post("/api/v1/auth/sms/login", {"phone": "13800138000", "code": code}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["user"]["id"] == str(alice.uuid)
    # Single use.
    r = anon.post("/api/v1/auth/sms/login", {"phone": "+8613800138000", "code": code}, format="json")
    assert_error(r, 401, "invalid_credentials")


def test_sms_code_burns_after_five_wrong_tries(anon, alice, settings):
    settings.LIMIT_SMS_COOLDOWN_S = 0
    anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "login"}, format="json")
    code = last_code("+8613800138000")
    wrong = [c for c in ("000001", "000002", "000003", "000004", "000005", "000006") if c != code][:5]
    for guess in wrong:
        assert_error(
            anon.post("/api/v1/auth/sms/login", {"phone": "+8613800138000", "code": guess}, format="json"),
            401,
            "invalid_credentials",
        )
    r = anon.post("/api/v1/auth/sms/login", {"phone": "+8613800138000", "code": code}, format="json")
    assert_error(r, 401, "invalid_credentials")


def test_sms_code_is_bound_to_phone_and_purpose(anon, alice, bob):
    anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "reset"}, format="json")
    code = last_code("+8613800138000")
    assert_error(
        anon.post("/api/v1/auth/sms/login", {"phone": "+8613800138000", "code": code}, format="json"),
        401,
        "invalid_credentials",
    )
    assert_error(
        anon.post("/api/v1/auth/sms/login", {"phone": "+8613800138001", "code": code}, format="json"),
        401,
        "invalid_credentials",
    )


def test_sms_send_limits(anon, alice, settings):
    r1 = anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "login"}, format="json")
    assert r1.status_code == 202
    r2 = anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "login"}, format="json")
    assert_error(r2, 429, "rate_limited")
    assert 0 < int(r2["Retry-After"]) <= 60
    settings.LIMIT_SMS_COOLDOWN_S = 0
    settings.LIMIT_SMS_PER_PHONE = 3
    for _ in range(2):
        assert (
            anon.post(
                "/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "login"}, format="json"
            ).status_code
            == 202
        )
    assert_error(
        anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "login"}, format="json"),
        429,
        "rate_limited",
    )


def test_an_sms_the_provider_failed_to_send_can_be_asked_for_again_at_once(anon, alice, monkeypatch):
    """The provider is down: 503, and nothing half-done. When it is back the
    next ask sends a code (it was told 'a code was sent a moment ago')."""
    from accounts.sms import MemoryBackend

    def down(self, **kwargs):
        raise ConnectionError("provider down")

    body = {"phone": "+8613800138000", "purpose": "login"}
    with monkeypatch.context() as patch:
        patch.setattr(MemoryBackend, "send", down)
        assert_error(anon.post("/api/v1/auth/sms/send", body, format="json"), 503, "unavailable")
    assert anon.post("/api/v1/auth/sms/send", body, format="json").status_code == 202
    code = last_code("+8613800138000")
    signed_in = anon.post("/api/v1/auth/sms/login", {"phone": "+8613800138000", "code": code}, format="json")
    assert signed_in.status_code == 200, signed_in.content


def test_an_sms_the_provider_failed_to_send_does_not_spend_the_numbers_codes_for_the_day(
    anon, alice, monkeypatch, settings
):
    from accounts.sms import MemoryBackend

    def down(self, **kwargs):
        raise ConnectionError("provider down")

    settings.LIMIT_SMS_PER_PHONE = 2
    body = {"phone": "+8613800138000", "purpose": "login"}
    with monkeypatch.context() as patch:
        patch.setattr(MemoryBackend, "send", down)
        for _ in range(3):
            assert_error(anon.post("/api/v1/auth/sms/send", body, format="json"), 503, "unavailable")
    # The two codes of the day are still there to be sent.
    assert anon.post("/api/v1/auth/sms/send", body, format="json").status_code == 202
    assert anon.post("/api/v1/auth/sms/send", {**body, "purpose": "reset"}, format="json").status_code == 202
    assert_error(
        anon.post("/api/v1/auth/sms/send", {**body, "purpose": "register"}, format="json"), 429, "rate_limited"
    )


def test_sms_send_per_ip_limit(anon, settings):
    settings.LIMIT_SMS_PER_IP = 2
    for n in range(2):
        assert (
            anon.post(
                "/api/v1/auth/sms/send", {"phone": f"+861390013900{n}", "purpose": "register"}, format="json"
            ).status_code
            == 202
        )
    assert_error(
        anon.post("/api/v1/auth/sms/send", {"phone": "+8613900139009", "purpose": "register"}, format="json"),
        429,
        "rate_limited",
    )


def test_sms_send_rejects_bad_input(anon):
    assert_error(anon.post("/api/v1/auth/sms/send", {"phone": "12", "purpose": "login"}, format="json"), 400, "invalid")
    assert_error(
        anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "hack"}, format="json"),
        400,
        "invalid",
    )


def test_sms_send_is_silent_about_unknown_numbers(anon):
    r = anon.post("/api/v1/auth/sms/send", {"phone": "+8613700137000", "purpose": "login"}, format="json")
    assert r.status_code == 202 and r.json() == {"expires_in": 300}
    assert MemoryBackend.outbox == []


def test_password_reset_revokes_sessions(anon, alice, api):
    anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "reset"}, format="json")
    code = last_code("+8613800138000")
    r = anon.post(
        "/api/v1/auth/password/reset",
        {"phone": "+8613800138000", "code": code, "new_password": "brand-new-pass"},
        format="json",
    )
    assert r.status_code == 204, r.content
    assert_error(api.get("/api/v1/me"), 401, "not_authenticated")
    ok = anon.post("/api/v1/auth/login", {"login": "alice", "password": "brand-new-pass"}, format="json")
    assert ok.status_code == 200


def test_password_reset_never_tells_a_phone_s_username_without_the_code(anon, user_factory):
    """The "not the username" rule comes only after the code: before it, a
    guessed username as the new password is answered like any other password."""
    user = user_factory("longname_user", phone="+8613800138009")
    phone = "+8613800138009"
    for password in ("longname_user", "another-pass"):
        r = anon.post(
            "/api/v1/auth/password/reset", {"phone": phone, "code": "000000", "new_password": password}, format="json"
        )
        assert_error(r, 401, "invalid_credentials")
    # With the right code the rule holds, and the code is kept for the next try.
    anon.post("/api/v1/auth/sms/send", {"phone": phone, "purpose": "reset"}, format="json")
    body = {"phone": phone, "code": last_code(phone), "new_password": "LongName_User"}
    assert_error(anon.post("/api/v1/auth/password/reset", body, format="json"), 400, "invalid")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    body["new_password"] = "a-better-pass-9"
    assert anon.post("/api/v1/auth/password/reset", body, format="json").status_code == 204
    # Used now: not twice.
    assert_error(anon.post("/api/v1/auth/password/reset", body, format="json"), 401, "invalid_credentials")


def test_a_password_reset_lifts_the_lockout_of_wrong_passwords(anon, alice, settings):
    """Locked out by wrong passwords, Alice resets hers by SMS: the new one
    signs her in at once (those locked out are the people who reset)."""
    for _ in range(settings.LIMIT_LOGIN_FAILURES_PER_ACCOUNT + 1):
        anon.post("/api/v1/auth/login", {"login": "alice", "password": "wrong-guess-1"}, format="json")
    locked = anon.post("/api/v1/auth/login", {"login": "alice", "password": "correct-horse-42"}, format="json")
    assert_error(locked, 429, "rate_limited")
    anon.post("/api/v1/auth/sms/send", {"phone": "+8613800138000", "purpose": "reset"}, format="json")
    body = {"phone": "+8613800138000", "code": last_code("+8613800138000"), "new_password": "brand-new-pass"}
    assert anon.post("/api/v1/auth/password/reset", body, format="json").status_code == 204
    ok = anon.post("/api/v1/auth/login", {"login": "alice", "password": "brand-new-pass"}, format="json")
    assert ok.status_code == 200, ok.content


# ----------------------------------------------------------------- tokens


def _login(anon, login="alice", password="correct-horse-42"):
    r = anon.post("/api/v1/auth/login", {"login": login, "password": password}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def test_refresh_rotates_and_reuse_revokes_the_session(anon, alice):
    first = _login(anon)
    r = anon.post("/api/v1/auth/refresh", {"refresh": first["refresh"]}, format="json")
    assert r.status_code == 200
    second = r.json()
    assert set(second) == {"access", "refresh", "expires_in"}
    assert anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {second['access']}").status_code == 200
    # The rotated token is now "stolen": presenting it ends the whole session.
    assert_error(
        anon.post("/api/v1/auth/refresh", {"refresh": first["refresh"]}, format="json"), 401, "not_authenticated"
    )
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {second['access']}"), 401, "not_authenticated")
    assert_error(
        anon.post("/api/v1/auth/refresh", {"refresh": second["refresh"]}, format="json"), 401, "not_authenticated"
    )


def test_logout_ends_only_that_session(anon, alice):
    one, two = _login(anon), _login(anon)
    assert anon.post("/api/v1/auth/logout", {"refresh": one["refresh"]}, format="json").status_code == 204
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {one['access']}"), 401, "not_authenticated")
    assert anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {two['access']}").status_code == 200


def test_access_token_cannot_refresh_and_refresh_cannot_authenticate(anon, alice):
    tokens = _login(anon)
    assert_error(
        anon.post("/api/v1/auth/refresh", {"refresh": tokens["access"]}, format="json"), 401, "not_authenticated"
    )
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tokens['refresh']}"), 401, "not_authenticated")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer garbage",
        "Token abc",
        # alg: none
        "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidWlkIjoieCIsInNpZCI6InkiLCJqdGkiOiJ6IiwiZXhwIjo0MTAyNDQ0ODAwfQ.",
    ],
)
def test_bad_tokens_are_not_authenticated(anon, alice, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    r = anon.get("/api/v1/me", **kwargs)
    assert_error(r, 401, "not_authenticated")


def test_forged_signature_and_expired_token(anon, alice, settings):
    import jwt

    tokens = _login(anon)
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-key-that-is-long-enough-0123456789", algorithm="HS256")
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {forged}"), 401, "not_authenticated")
    claims["exp"] = 1_000_000
    expired = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {expired}"), 401, "not_authenticated")


def test_a_verified_token_is_not_verified_again_until_its_expiry(anon, alice, monkeypatch):
    """Each request re-checks the session (logout above, disabling below), but
    the token's signature and claims only until its `exp`, then again."""
    import jwt

    from accounts import tokens

    access = _login(anon)["access"]
    assert anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    verified = []
    real = tokens.AccessToken
    monkeypatch.setattr(tokens, "AccessToken", lambda raw: verified.append(raw) or real(raw))
    assert anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    assert verified == []
    exp = jwt.decode(access, options={"verify_signature": False})["exp"]
    monkeypatch.setattr(tokens, "_now", lambda: exp)
    assert anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    assert verified == [access]
    # A token that differs in any byte is verified on its own (and refused).
    tampered = access[:-2] + ("AA" if not access.endswith("AA") else "BB")
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tampered}"), 401, "not_authenticated")
    assert verified == [access, tampered]


def test_the_verified_tokens_are_bounded(anon, alice, monkeypatch):
    from accounts import tokens

    monkeypatch.setattr(tokens, "VERIFIED_MAX", 4)
    monkeypatch.setattr(tokens, "_VERIFIED", {})
    for _ in range(9):
        access = _login(anon)["access"]
        assert anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
        assert len(tokens._VERIFIED) <= 4
    assert access in tokens._VERIFIED


def test_disabling_a_user_stops_their_tokens(api, alice):
    assert api.get("/api/v1/me").status_code == 200
    alice.status = "disabled"
    alice.save()
    assert_error(api.get("/api/v1/me"), 403, "account_disabled")


# ----------------------------------------------------------------- profile


def test_me_patch_changes_only_writable_fields(api, alice):
    r = api.patch(
        "/api/v1/me",
        {
            "nickname": "  Alicia 🌸 ",
            "signature": "hi",
            "is_admin": True,
            "username": "root",
            "phone": "+10000000000",
            "is_staff": True,
        },
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["nickname"] == "Alicia 🌸"
    assert body["signature"] == "hi"
    assert body["is_admin"] is False
    assert body["username"] == "alice"
    assert body["phone"] == "+8613800138000"
    alice.refresh_from_db()
    assert alice.is_staff is False and alice.nickname == "Alicia 🌸"


def test_me_patch_rejects_bad_values(api):
    assert_error(api.patch("/api/v1/me", {"nickname": "x" * 65}, format="json"), 400, "invalid")
    assert_error(api.patch("/api/v1/me", {"signature": "a\x07b"}, format="json"), 400, "invalid")
    # What the schema refuses is refused even where trimming would hide it:
    # a leading control character, trailing blanks past the length limit.
    assert_error(api.patch("/api/v1/me", {"signature": "\r\u00beWN]"}, format="json"), 400, "invalid")
    assert_error(api.patch("/api/v1/me", {"nickname": "Alice\x1f"}, format="json"), 400, "invalid")
    assert_error(api.patch("/api/v1/me", {"nickname": "x" * 64 + " "}, format="json"), 400, "invalid")
    assert api.get("/api/v1/me").json()["signature"] == ""
    assert_error(api.patch("/api/v1/me", {"avatar": "not-a-uuid"}, format="json"), 400, "invalid")
    assert_error(
        api.patch("/api/v1/me", {"avatar": "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"}, format="json"), 400, "invalid"
    )
    # A refusal changes nothing, the language included (saved first, before).
    refused = {"language": "zh-hans", "nickname": "New Nick", "avatar": "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"}
    assert_error(api.patch("/api/v1/me", refused, format="json"), 400, "invalid")
    me = api.get("/api/v1/me").json()
    assert (me["language"], me["nickname"]) == (None, "Alice")


@override_settings(LIMIT_LOGIN_FAILURES_PER_ACCOUNT=3)
def test_wrong_current_passwords_count_against_the_login_limit(api, anon, alice):
    """A stolen token cannot guess the password at /me/password instead of /auth/login."""
    for _ in range(3):
        r = api.post(
            "/api/v1/me/password", {"old_password": "guess-guess", "new_password": "n3w-passw0rd"}, format="json"
        )
        assert_error(r, 401, "invalid_credentials")
    r = api.post("/api/v1/me/password", {"old_password": PASSWORD, "new_password": "n3w-passw0rd"}, format="json")
    assert_error(r, 429, "rate_limited")
    assert_error(
        anon.post("/api/v1/auth/login", {"login": "alice", "password": PASSWORD}, format="json"), 429, "rate_limited"
    )
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_password_change_keeps_this_session_and_ends_others(anon, alice):
    mine, other = _login(anon), _login(anon)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {mine['access']}"}
    r = anon.post(
        "/api/v1/me/password", {"old_password": "wrong-one-1", "new_password": "another-pass-1"}, format="json", **auth
    )
    assert_error(r, 401, "invalid_credentials")
    r = anon.post(
        "/api/v1/me/password", {"old_password": "correct-horse-42", "new_password": "1234"}, format="json", **auth
    )
    assert_error(r, 400, "invalid")
    r = anon.post(
        "/api/v1/me/password",
        {"old_password": "correct-horse-42", "new_password": "another-pass-1"},
        format="json",
        **auth,
    )
    assert r.status_code == 204
    assert anon.get("/api/v1/me", **auth).status_code == 200
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {other['access']}"), 401, "not_authenticated")


def test_sessions_list_and_revoke(anon, alice, carol):
    mine, other = _login(anon), _login(anon)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {mine['access']}"}
    r = anon.get("/api/v1/me/sessions", **auth)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"results", "next"} and body["next"] is None
    assert len(body["results"]) == 2
    assert sorted(s["current"] for s in body["results"]) == [False, True]
    other_id = next(s["id"] for s in body["results"] if not s["current"])
    carol_session = LoginSession.objects.create(
        user=carol, expires_at=LoginSession._meta.get_field("expires_at").to_python("2099-01-01T00:00:00Z")
    )
    assert_error(anon.delete(f"/api/v1/me/sessions/{carol_session.uuid}", **auth), 404, "not_found")
    assert anon.delete(f"/api/v1/me/sessions/{other_id}", **auth).status_code == 204
    assert_error(anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {other['access']}"), 401, "not_authenticated")


# ----------------------------------------------------------------- users


def test_user_search_exact_only(api, alice, bob, carol):
    r = api.get("/api/v1/users/search", {"q": "CAROL"})
    assert r.status_code == 200
    body = r.json()
    assert body["next"] is None
    assert [u["id"] for u in body["results"]] == [str(carol.uuid)]
    assert "phone" not in body["results"][0]
    assert api.get("/api/v1/users/search", {"q": "car"}).json()["results"] == []
    assert api.get("/api/v1/users/search", {"q": "%"}).json()["results"] == []
    by_phone = api.get("/api/v1/users/search", {"q": "13800138001"}).json()["results"]
    assert [u["id"] for u in by_phone] == [str(bob.uuid)]
    assert_error(api.get("/api/v1/users/search", {"q": ""}), 400, "invalid")


def test_user_search_hides_blocked_pairs(api, alice, carol):
    from contacts.models import Block

    Block.objects.create(blocker=carol, blocked=alice)
    assert api.get("/api/v1/users/search", {"q": "carol"}).json()["results"] == []


def test_user_search_is_rate_limited(api, settings):
    settings.LIMIT_SEARCH_PER_MIN = 3
    for _ in range(3):
        assert api.get("/api/v1/users/search", {"q": "nobody"}).status_code == 200
    assert_error(api.get("/api/v1/users/search", {"q": "nobody"}), 429, "rate_limited")


def test_user_detail(api, carol, admin_user, api_for):
    r = api.get(f"/api/v1/users/{carol.uuid}")
    assert r.status_code == 200
    assert_user_shape(r.json(), phone=False)
    assert_error(api.get("/api/v1/users/5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"), 404, "not_found")
    assert_error(api.get("/api/v1/users/1"), 404, "not_found")
    admin_view = api_for(admin_user).get(f"/api/v1/users/{carol.uuid}").json()
    assert "phone" in admin_view
    assert api_for(admin_user).get("/api/v1/me").json()["is_admin"] is True


def test_protected_endpoints_need_authentication(anon):
    for path in ("/api/v1/me", "/api/v1/users/search?q=a", "/api/v1/me/sessions"):
        assert_error(anon.get(path), 401, "not_authenticated")


def test_unknown_api_path_is_json_404(anon):
    assert_error(anon.get("/api/v1/nope"), 404, "not_found")
    assert_error(anon.get("/api/v1/me/"), 404, "not_found")


def test_unknown_api_path_is_json_404_for_every_method_and_caller(api):
    """Not Django's HTML CSRF page: an API client posting with a Bearer token
    to a path that does not exist learns that it does not exist."""
    from rest_framework.test import APIClient

    strict = APIClient(enforce_csrf_checks=True)
    strict.credentials(HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"])
    for client in (api, strict):
        for method in ("get", "post", "put", "patch", "delete"):
            r = getattr(client, method)("/api/v1/no/such/thing", {"a": 1}, format="json")
            assert_error(r, 404, "not_found")
            assert r["Content-Type"] == "application/json"
