"""Reading the environment for settings.

Every variable the product reads goes through these helpers so that a malformed
or half-given configuration stops start-up with a message naming the variable,
instead of failing later somewhere deep in a request.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def raw(name: str) -> str | None:
    """The variable's value, or None when unset or blank."""
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def is_set(name: str) -> bool:
    return raw(name) is not None


def string(name: str, default: str | None = None) -> str | None:
    value = raw(name)
    return default if value is None else value


def boolean(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 0 or 1 (got {value!r})")


def integer(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer (got {value!r})") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {number})")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum} (got {number})")
    return number


def csv(name: str, default: list[str] | None = None) -> list[str]:
    value = raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def choice(name: str, default: str, choices: set[str]) -> str:
    value = raw(name)
    if value is None:
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(sorted(choices))} (got {value!r})")
    return value


def require_together(*names: str) -> None:
    """Either all of these variables are set, or none."""
    given = [n for n in names if is_set(n)]
    if given and len(given) != len(names):
        missing = [n for n in names if n not in given]
        raise ImproperlyConfigured(f"{', '.join(given)} is set but {', '.join(missing)} is not: set all or none")


def database(name: str, *, default_sqlite_path: str) -> dict:
    """A Django DATABASES entry from a URL: `sqlite:///path` or `mysql://user:pass@host:port/db`."""
    value = raw(name)
    if value is None:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": default_sqlite_path}
    parts = urlsplit(value)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path or path == "/":
            raise ImproperlyConfigured(
                f"{name}: a SQLite URL looks like sqlite:////absolute/path.sqlite3 (got {value!r})"
            )
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path[1:] if path.startswith("//") else path}
    if parts.scheme not in {"mysql", "mariadb"}:
        raise ImproperlyConfigured(f"{name} must start with mysql:// or sqlite:// (got scheme {parts.scheme!r})")
    db_name = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not db_name:
        raise ImproperlyConfigured(f"{name} must name a host and a database: mysql://user:password@host:3306/dbname")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port") from None
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": db_name,
        "USER": unquote(parts.username or "root"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname,
        "PORT": str(port or 3306),
        "OPTIONS": options,
    }


@dataclass(frozen=True)
class RedisLocation:
    url: str
    host: str
    port: int
    db: int
    password: str | None


def redis_url(name: str) -> RedisLocation | None:
    value = raw(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured(f"{name} must look like redis://host:6379/0 (got scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name} must name a host: redis://host:6379/0")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port") from None
    path = parts.path.lstrip("/") or "0"
    if not path.isdigit():
        raise ImproperlyConfigured(f"{name}: the database after the host must be a number (got {path!r})")
    return RedisLocation(url=value, host=parts.hostname, port=port, db=int(path), password=parts.password)


def host_ports(name: str) -> str | None:
    """A comma-separated list of host:port pairs (Kafka bootstrap servers)."""
    value = raw(name)
    if value is None:
        return None
    for item in value.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ImproperlyConfigured(f"{name} must be host:port[,host:port...] (got {item.strip()!r})")
    return value


def networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of addresses or CIDR networks (`10.0.0.0/8,127.0.0.1`)."""
    out = []
    for item in csv(name):
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks like 127.0.0.1,10.0.0.0/8 (got {item!r})"
            ) from None
    return out


def persistent_secret(path: Path, *, nbytes: int = 48) -> str:
    """A random secret made on first use and kept in `path` (mode 0600), so
    that it survives restarts and every process sharing the folder uses the
    same one. Never printed. Created with O_EXCL: processes starting together
    agree on the first one written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(50):
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            value = ""
        except OSError as exc:
            raise ImproperlyConfigured(f"cannot read the secret key file {path}: {exc}") from None
        if len(value) >= 50:
            return value
        if value:  # being written by another process right now
            time.sleep(0.02)
            continue
        new = secrets.token_urlsafe(nbytes)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            time.sleep(0.02)
            continue
        except OSError as exc:
            raise ImproperlyConfigured(
                f"cannot create the secret key file {path} ({exc}): set DJANGO_SECRET_KEY or make VAR_DIR writable"
            ) from None
        with os.fdopen(fd, "w") as handle:
            handle.write(new + "\n")
        return new
    raise ImproperlyConfigured(f"the secret key file {path} is empty or too short: delete it or set DJANGO_SECRET_KEY")


def allowed_hosts_for(host: str) -> list[str]:
    """The host names a server bound to `host` answers to when
    DJANGO_ALLOWED_HOSTS is not set: the loopback forms, the address itself
    and, when bound to every interface, this machine's name and main address."""
    hosts = ["127.0.0.1", "localhost", "[::1]"]

    def add(name: str) -> None:
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        if name and name.lower() not in hosts:
            hosts.append(name.lower())

    if host in ("", "0.0.0.0", "::", "[::]"):
        add(socket.gethostname())
        add(socket.getfqdn())
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(("10.255.255.255", 1))  # no packet is sent: this picks the outgoing interface
                add(probe.getsockname()[0])
        except OSError:
            pass
    else:
        add(host)
    return hosts
