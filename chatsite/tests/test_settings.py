"""Settings from the environment: bad values stop start-up naming the variable;
production settings pass `check --deploy`; createsuperuser makes an administrator."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every test here starts manage.py without the run's services (see manage()).
pytestmark = pytest.mark.one_config


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
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
        ({"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "nginx"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXY_COUNT": "1"}, "TRUSTED_PROXIES"),
        ({"HTTP_THREADS": "0"}, "HTTP_THREADS"),
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
    """Behind a TLS proxy: the documented production settings."""
    env = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        "ALLOWED_ORIGINS": "https://chat.example.com",
        "TRUSTED_PROXIES": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "1",
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


PROBE = (
    "import hashlib; from django.conf import settings as s; "
    "print('debug', s.DEBUG); print('hosts', ','.join(s.ALLOWED_HOSTS)); "
    "print('key', hashlib.sha256(s.SECRET_KEY.encode()).hexdigest()); "
    "print('jwt', hashlib.sha256(s.SIMPLE_JWT['SIGNING_KEY'].encode()).hexdigest())"
)


def probe(tmp_path, **env: str) -> dict[str, str]:
    result = manage("shell", "-c", PROBE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def test_the_defaults_are_safe_and_the_generated_secret_key_is_kept(tmp_path):
    """With nothing set (`make run`): DEBUG off, a secret key generated once
    into the data folder (readable by its owner only, never printed) and kept
    across restarts, host names from HOST."""
    first = probe(tmp_path)
    assert first["debug"] == "False"
    assert first["hosts"] == "127.0.0.1,localhost,[::1]"
    key_file = tmp_path / "secret_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = key_file.read_text().strip()
    assert len(key) >= 50

    assert first["key"] == first["jwt"] == hashlib.sha256(key.encode()).hexdigest()
    again = probe(tmp_path)
    assert again["key"] == first["key"], "a restart keeps the key (and everyone signed in)"
    other = probe(tmp_path / "elsewhere")
    assert other["key"] != first["key"], "each data folder has a key of its own"
    result = manage("check", env={}, tmp_path=tmp_path)
    assert key not in result.stdout + result.stderr
    assert probe(tmp_path, DJANGO_DEBUG="1")["debug"] == "True"
    assert probe(tmp_path, HOST="chat.lan")["hosts"] == "127.0.0.1,localhost,[::1],chat.lan"
    assert probe(tmp_path, HOST="::1")["hosts"] == "127.0.0.1,localhost,[::1]"
    everywhere = probe(tmp_path, HOST="0.0.0.0")["hosts"].split(",")
    assert everywhere[:3] == ["127.0.0.1", "localhost", "[::1]"] and len(everywhere) > 3
    assert probe(tmp_path, DJANGO_ALLOWED_HOSTS="chat.example.com")["hosts"] == "chat.example.com"


def test_processes_starting_together_agree_on_the_generated_key(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", PROBE],
            cwd=ROOT,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "VAR_DIR"))},
                "VAR_DIR": str(tmp_path),
            },
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    keys = {line for p in procs for line in p.communicate(timeout=120)[0].splitlines() if line.startswith("key ")}
    assert len(keys) == 1, keys


VAPID_PROBE = "from django.conf import settings; print('vapid', settings.VAPID_PUBLIC_KEY)"
CLUSTER = {
    "DATABASE_URL": "mysql://root@127.0.0.1:3306/wsc_never_used",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
}


def _vapid_run(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VAPID_", "DATABASE_", "REDIS_", "KAFKA_"))}
    clean.update(VAR_DIR=str(tmp_path), LOG_LEVEL="WARNING", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", VAPID_PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_push_key_is_made_once_embedded_and_required_with_several_nodes(tmp_path):
    from notifications.vapid import new_private_key, public_key

    # Embedded: generated into the data folder, owner-only, kept across restarts.
    first = _vapid_run(tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "vapid_private_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert first.stdout.split() == ["vapid", public_key(key_file.read_text())]
    assert _vapid_run(tmp_path).stdout == first.stdout
    assert key_file.read_text().strip() not in first.stdout + first.stderr

    # With Kafka (several nodes) and no key anywhere: refuse, naming the variable.
    refused = _vapid_run(tmp_path / "node2", **CLUSTER)
    assert refused.returncode != 0 and "VAPID_PRIVATE_KEY is not set" in refused.stderr
    # The same machine's shared folder (make run, make cluster), or the variable, serve.
    assert _vapid_run(tmp_path, **CLUSTER).stdout == first.stdout
    key = new_private_key()
    given = _vapid_run(tmp_path / "node3", VAPID_PRIVATE_KEY=key, **CLUSTER)
    assert given.stdout.split() == ["vapid", public_key(key)]
    # A malformed key or subject stops start-up naming the variable.
    bad = _vapid_run(tmp_path, VAPID_PRIVATE_KEY="not-a-key")
    assert bad.returncode != 0 and "VAPID_PRIVATE_KEY" in bad.stderr
    bad = _vapid_run(tmp_path, VAPID_SUBJECT="ops@example.com")
    assert bad.returncode != 0 and "VAPID_SUBJECT" in bad.stderr
