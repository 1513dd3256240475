"""Log records carry the request id; LOG_FORMAT=json writes one JSON object per line.

Secrets never reach a log: `RedactSecretsFilter` (on every handler) masks
tokens, codes and passwords wherever they appear in a line or a traceback,
and the ASGI server's own per-connection lines, which carry the query string
(`/ws/?token=…`), are not logged at all (`ServerNoiseFilter`): the gateway and
the access log write their own, without it. Mistakes of a client (a foreign
Host header, invalid UTF-8 in a frame) are one line, not a traceback.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re

import orjson

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


_SECRET_NAMES = "token|access|refresh|code|sms_code|password|old_password|new_password|secret|sessionid|csrftoken"
# name=value in a query string, a form body or a cookie header; token= and password= anywhere.
_SECRET_PARAM = re.compile(rf"(?i)((?:[?&;]\s*|\b(?=token=|password=|sessionid=))(?:{_SECRET_NAMES})=)[^&;\s\"']+")
_SECRET_JSON = re.compile(rf"(?i)(\"(?:{_SECRET_NAMES})\"\s*:\s*)\"[^\"]*\"")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)\b(Bearer|Bot)\s+[A-Za-z0-9._~+/=-]{8,}")
# Bots' API keys and incoming webhooks' tokens (in a hook's URL), wherever they are.
_BOT_SECRETS = re.compile(r"\b(wscb|wsch)_[A-Za-z0-9_-]{6,}")
_HINTS = ("=", "eyJ", "earer", '":', "wscb_", "wsch_")


def redact(text: str) -> str:
    """`text` with access/refresh tokens, SMS codes and passwords masked."""
    if not any(hint in text for hint in _HINTS):
        return text
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _BOT_SECRETS.sub(r"\1_[redacted]", text)
    text = _SECRET_PARAM.sub(r"\1[redacted]", text)
    return _SECRET_JSON.sub(r'\1"[redacted]"', text)


# A record's own attributes; anything else on it is an `extra=` field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RedactSecretsFilter(logging.Filter):
    """Masks secrets in the message, the extra fields (the access log's
    `path`, which the JSON format writes out) and the traceback of every
    record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# Lines the ASGI servers write about each WebSocket: the handshake with its
# query string and headers (token, cookies), every frame with its content.
# The gateway and the access log write their own lines, without those.
_SERVER_PER_SOCKET = ('%s - "WebSocket %s"', "connection open", "connection closed", "< ", "> ", "= ")
# Client mistakes that the servers and Django log as errors with a traceback.
_ONE_LINE = ("Invalid UTF-8 sequence received from client.",)


class ServerNoiseFilter(logging.Filter):
    """Drops the ASGI servers' per-socket lines, and logs a client's mistake
    (Django's security loggers, a bad frame) as one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(("uvicorn", "daphne", "websockets")):
            if isinstance(record.msg, str) and record.msg.startswith(_SERVER_PER_SOCKET):
                return False
            if record.msg in _ONE_LINE:
                _one_warning_line(record)
        elif record.name.startswith("django.security"):
            _one_warning_line(record)
        return True


def _one_warning_line(record: logging.LogRecord) -> None:
    record.exc_info, record.exc_text = None, None
    if record.levelno > logging.WARNING:
        record.levelno, record.levelname = logging.WARNING, "WARNING"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                # An object (Django's `request` on its error records) as its
                # text, masked like the rest (its repr shows the path).
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else redact(str(value))
        if record.exc_text:
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()
