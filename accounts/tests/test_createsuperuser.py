"""`manage.py createsuperuser` (docs/operations.md: how the first
administrator is made) follows the product's rules: a name that could never
sign in, a name taken in another case, or a weak password is refused with a
plain message; a good one can sign in at once."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def create(monkeypatch, username: str, password: str) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", username)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    call_command("createsuperuser", interactive=False, verbosity=0)


@pytest.mark.parametrize(
    ("username", "password", "said"),
    [
        ("ops.admin", "a-good-password-1", "3 to 32 letters"),
        ("ops admin", "a-good-password-1", "3 to 32 letters"),
        ("ops_admin", "short", "At least 8 characters."),
        ("ops_admin", "12345678", "Must not be all digits."),
        ("ops_admin", "Ops_Admin", "Must not be the username."),
    ],
)
def test_a_name_or_password_the_product_refuses_is_refused(monkeypatch, username, password, said):
    with pytest.raises(CommandError, match=said):
        create(monkeypatch, username, password)
    assert not User.objects.filter(is_superuser=True).exists()


def test_a_name_taken_in_another_case_is_said_taken(monkeypatch, alice):
    with pytest.raises(CommandError, match="already taken"):
        create(monkeypatch, "ALICE", "a-good-password-1")
    assert User.objects.filter(username="alice").count() == 1


def test_a_good_administrator_signs_in(monkeypatch, anon):
    create(monkeypatch, "Ops_Admin", "a-good-password-1")
    admin = User.objects.get(username="ops_admin")
    assert admin.is_superuser and admin.is_staff
    signed_in = anon.post("/api/v1/auth/login", {"login": "ops_admin", "password": "a-good-password-1"}, format="json")
    assert signed_in.status_code == 200, signed_in.content
