"""Settings from the environment: bad values stop start-up naming the variable;
production settings pass `check --deploy`; createsuperuser makes an administrator."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "KAFKA_", "DJANGO_", "FAST_PASSWORD"))
    }
    base.update(VAR_DIR=str(tmp_path), LOG_LEVEL="WARNING", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "env, named",
    [
        ({"DATABASE_URL": "postgres://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://host-only"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://127.0.0.1"}, "REDIS_URL"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}, "REDIS_URL"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "no-port"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD"),
        ({"LIMIT_MESSAGES_PER_S": "ten"}, "LIMIT_MESSAGES_PER_S"),
        ({"MAX_TEXT": "0"}, "MAX_TEXT"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"ALLOWED_ORIGINS": "chat.example.com"}, "ALLOWED_ORIGINS"),
        ({"KAFKA_SESSION_TIMEOUT_MS": "2000", "KAFKA_HEARTBEAT_INTERVAL_MS": "3000"}, "KAFKA_HEARTBEAT_INTERVAL_MS"),
        ({"SMS_BACKEND": "no.such.Backend"}, "SMS_BACKEND"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(env, named, tmp_path):
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert named in result.stderr + result.stdout


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        "ALLOWED_ORIGINS": "https://chat.example.com",
    }
    result = manage("check", "--deploy", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_createsuperuser_noinput_makes_an_administrator(tmp_path):
    env = {"DJANGO_SUPERUSER_USERNAME": "Boss", "DJANGO_SUPERUSER_PASSWORD": "very-secret-1"}
    assert manage("migrate", "-v0", env=env, tmp_path=tmp_path).returncode == 0
    result = manage("createsuperuser", "--noinput", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    probe = manage(
        "shell",
        "-c",
        "from accounts.models import User; u = User.objects.get(username='boss'); "
        "print(u.is_admin, u.check_password('very-secret-1'), u.password.split('$')[0])",
        env=env,
        tmp_path=tmp_path,
    )
    assert probe.stdout.split()[-3:] == ["True", "True", "bcrypt_sha256"], probe.stdout + probe.stderr
