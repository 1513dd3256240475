"""WebsocketChat settings: one module, read from the environment.

With nothing set the product runs in one process on SQLite, the in-memory
channel layer, the in-process bus and the console SMS backend. Each
integration turns on when its variable is set; from then on a missing or
malformed setting stops start-up with a message that names the variable.
`.env.example` documents every variable read here.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from chatsite import env
from notifications import vapid

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.string("VAR_DIR", str(BASE_DIR / "var")))

# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------
# Off unless asked for: `make run` is also how a small team hosts the product,
# and DEBUG shows settings and every URL on an error page (and is slower).
DEBUG = env.boolean("DJANGO_DEBUG", False)

# Signs sessions, CSRF tokens and (unless JWT_SIGNING_KEY is set) access
# tokens. Without DJANGO_SECRET_KEY one is generated on first start into the
# data folder and kept there: every process using that folder shares it, and
# restarts keep everyone signed in. Nodes on several hosts must set it.
SECRET_KEY = env.string("DJANGO_SECRET_KEY")
if SECRET_KEY is None:
    SECRET_KEY = env.persistent_secret(VAR_DIR / "secret_key")
elif len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters with at least 5 distinct ones")

# The host names this server answers to: DJANGO_ALLOWED_HOSTS, else those of
# the address it serves on (HOST, as `make run` uses it).
ALLOWED_HOSTS = env.csv("DJANGO_ALLOWED_HOSTS") or env.allowed_hosts_for(env.string("HOST", "127.0.0.1"))
if "*" in ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the real host names, not '*'")

# Browser origins allowed to open the WebSocket and to call the REST API with
# credentials (CORS). The server's own origin is always allowed.
ALLOWED_ORIGINS = env.csv("ALLOWED_ORIGINS")
for _origin in ALLOWED_ORIGINS:
    if not _origin.startswith(("http://", "https://")) or _origin.count("/") != 2:
        raise ImproperlyConfigured(f"ALLOWED_ORIGINS entries look like https://chat.example.com (got {_origin!r})")
CORS_ALLOWED_ORIGINS = ALLOWED_ORIGINS
CORS_ALLOW_CREDENTIALS = True
CSRF_TRUSTED_ORIGINS = ALLOWED_ORIGINS

# A name for this server process in logs, metrics and presence bookkeeping.
NODE_ID = env.string("NODE_ID", f"{socket.gethostname()}-{os.getpid()}")

INSTALLED_APPS = [
    "backoffice.site.BackofficeAdminConfig",  # django.contrib.admin as the back office (backoffice/site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    # The product's apps, each above those it builds on (docs/architecture.md).
    "chatsite",
    "files",
    "accounts",
    "conversations",
    "contacts",
    "groups",
    "messaging",
    "calls",
    "search",
    "bots",
    "assistant",
    "notifications",
    "backoffice",
    "web",
]

MIDDLEWARE = [
    "chatsite.middleware.ConnectionUpkeepMiddleware",
    "chatsite.middleware.RequestIdMiddleware",
    "chatsite.middleware.SecureCookiesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "web.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatsite.middleware.ServiceUnavailableMiddleware",
]

# Threads that run HTTP requests' synchronous code (chatsite.asgi_http), each
# keeping its database connection; the WebSocket gateway has its own.
HTTP_THREADS = env.integer("HTTP_THREADS", 4, minimum=1, maximum=64)

ROOT_URLCONF = "chatsite.urls"
APPEND_SLASH = False
ASGI_APPLICATION = "chatsite.asgi.application"
WSGI_APPLICATION = "chatsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
DATABASES = {"default": env.database("DATABASE_URL", default_sqlite_path=str(VAR_DIR / "chat.sqlite3"))}
_db = DATABASES["default"]
USING_MYSQL = _db["ENGINE"] == "django.db.backends.mysql"
if USING_MYSQL:
    # Django's MySQL backend with faster reading of DATETIME columns (chatsite/mysql/base.py).
    _db["ENGINE"] = "chatsite.mysql"
    _db["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', innodb_lock_wait_timeout=10",
        "isolation_level": "read committed",
        "connect_timeout": env.integer("DATABASE_CONNECT_TIMEOUT_S", 5, minimum=1),
        **_db["OPTIONS"],
    }
    _db["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    _db["CONN_HEALTH_CHECKS"] = True
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
else:
    # WAL lets readers run while the bus thread writes; synchronous=NORMAL in WAL
    # mode survives a crash of the process (not of the machine) and spares an
    # fsync per commit. Production runs on MySQL.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["CONN_MAX_AGE"] = None
    # A file, not shared-cache memory: its table locks ignore the busy timeout,
    # and the in-process bus writes from its own thread.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
if env.is_set("DATABASE_TEST_NAME") and USING_MYSQL:
    _db.setdefault("TEST", {})["NAME"] = env.string("DATABASE_TEST_NAME")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# ---------------------------------------------------------------------------
# Redis: channel layer, cache, rate limits, SMS codes, revocation, presence
# ---------------------------------------------------------------------------
REDIS = env.redis_url("REDIS_URL")
REDIS_URL = REDIS.url if REDIS else None
# Every key the product writes to Redis starts with this, so several
# deployments (or test runs) can share one Redis.
REDIS_KEY_PREFIX = env.string("REDIS_KEY_PREFIX", "wsc")
REDIS_MAX_CONNECTIONS = env.integer("REDIS_MAX_CONNECTIONS", 200, minimum=10)

if REDIS:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS.url,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
            "OPTIONS": {"max_connections": REDIS_MAX_CONNECTIONS},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "wsc"}}

# A socket whose outgoing queue grows past this is too slow to keep up: it is
# closed with 1012 (reconnect and sync) instead of buffering without bound.
REALTIME_SOCKET_QUEUE = env.integer("REALTIME_SOCKET_QUEUE", 2000, minimum=10)
# An event for at least this many users goes out as one PUBLISH on the channel
# every node listens to (with the recipient list) instead of one per user.
REALTIME_BROADCAST_MIN = env.integer("REALTIME_BROADCAST_MIN", 16, minimum=2)

# How events reach sockets: Channels' channel layer API, with per-user groups
# (chatsite.realtime). chatsite.layers.UserLayer is in-memory without Redis
# (the embedded default) and Redis pub/sub with it. CHANNEL_LAYER_BACKEND may
# name another Channels layer (channels_redis.pubsub.RedisPubSubChannelLayer,
# say, to compare them: docs/performance.md).
CHANNEL_LAYER_BACKEND = env.string("CHANNEL_LAYER_BACKEND", "chatsite.layers.UserLayer")
if CHANNEL_LAYER_BACKEND == "chatsite.layers.UserLayer":
    _layer_config = {
        "redis_url": REDIS.url if REDIS else None,
        "prefix": f"{REDIS_KEY_PREFIX}:layer",
        "node": NODE_ID,
        "capacity": REALTIME_SOCKET_QUEUE,
        "broadcast_min": REALTIME_BROADCAST_MIN,
    }
elif CHANNEL_LAYER_BACKEND.startswith("channels_redis."):
    if not REDIS:
        raise ImproperlyConfigured(f"CHANNEL_LAYER_BACKEND={CHANNEL_LAYER_BACKEND} needs REDIS_URL")
    _layer_config = {
        "hosts": [{"address": REDIS.url, "max_connections": REDIS_MAX_CONNECTIONS}],
        "prefix": f"{REDIS_KEY_PREFIX}:clayer",
        "capacity": REALTIME_SOCKET_QUEUE,
    }
else:
    _layer_config = {}
CHANNEL_LAYERS = {"default": {"BACKEND": CHANNEL_LAYER_BACKEND, "CONFIG": _layer_config}}

# ---------------------------------------------------------------------------
# Kafka (the message bus between the WebSocket and storage)
# ---------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env.host_ports("KAFKA_BOOTSTRAP_SERVERS")
BUS_BACKEND = "kafka" if KAFKA_BOOTSTRAP_SERVERS else "inprocess"
if KAFKA_BOOTSTRAP_SERVERS:
    if not REDIS:
        raise ImproperlyConfigured(
            "KAFKA_BOOTSTRAP_SERVERS is set but REDIS_URL is not: the message worker reaches the sockets through Redis"
        )
    if not USING_MYSQL and not env.boolean("KAFKA_ALLOW_SQLITE", False):
        raise ImproperlyConfigured(
            "KAFKA_BOOTSTRAP_SERVERS is set but DATABASE_URL is not a MySQL URL: the server and its workers must share one database"
        )
env.require_together("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")
KAFKA_TOPIC_PREFIX = env.string("KAFKA_TOPIC_PREFIX", "wsc")
KAFKA_PARTITIONS = env.integer("KAFKA_PARTITIONS", 12, minimum=1, maximum=1000)
KAFKA_REPLICATION_FACTOR = env.integer("KAFKA_REPLICATION_FACTOR", 1, minimum=1)
KAFKA_CONSUMER_GROUP = env.string("KAFKA_CONSUMER_GROUP", f"{KAFKA_TOPIC_PREFIX}-message-worker")
KAFKA_CLIENT_CONFIG = {
    "security.protocol": env.choice(
        "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
    ),
}
if env.is_set("KAFKA_SASL_USERNAME"):
    KAFKA_CLIENT_CONFIG.update(
        {
            "sasl.mechanism": env.choice(
                "KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
            ),
            "sasl.username": env.string("KAFKA_SASL_USERNAME"),
            "sasl.password": env.string("KAFKA_SASL_PASSWORD"),
        }
    )
# Batching against latency (docs/performance.md, "What a message costs"): the
# broker's and the database's work is per batch, so a busy producer lingers
# 20 ms and a consumer's fetch waits up to 25 ms (Tansu checks for new records
# at 0, 1/2, 3/4... of the wait, so that is also part of the consumer's
# latency). Measured: a third less server CPU per message and 500 msg/s held
# where 5/10 saturated. The group session timeout decides how fast a
# group (re)forms; real Kafka refuses session timeouts under its
# group.min.session.timeout.ms (6000 by default).
KAFKA_LINGER_MS = env.integer("KAFKA_LINGER_MS", 20, minimum=0)
# ...but only while it is busy: a process producing fewer records a second
# than this sends each at once (a linger at a light load is only a delay:
# "Batching that follows the load" in docs/performance.md).
KAFKA_BATCH_ABOVE_PER_S = env.integer("KAFKA_BATCH_ABOVE_PER_S", 300, minimum=0)
KAFKA_FETCH_WAIT_MAX_MS = env.integer("KAFKA_FETCH_WAIT_MAX_MS", 25, minimum=0)
# The other consumer groups (notifier, indexer, bots, smart replies): no
# sender waits on them, and each idle one costs the broker a fetch per wait.
KAFKA_FOLLOWER_FETCH_WAIT_MAX_MS = env.integer("KAFKA_FOLLOWER_FETCH_WAIT_MAX_MS", 100, minimum=0)
KAFKA_SESSION_TIMEOUT_MS = env.integer("KAFKA_SESSION_TIMEOUT_MS", 6000, minimum=1000)
KAFKA_HEARTBEAT_INTERVAL_MS = env.integer(
    "KAFKA_HEARTBEAT_INTERVAL_MS", max(300, KAFKA_SESSION_TIMEOUT_MS // 4), minimum=100
)
if KAFKA_HEARTBEAT_INTERVAL_MS >= KAFKA_SESSION_TIMEOUT_MS:
    raise ImproperlyConfigured("KAFKA_HEARTBEAT_INTERVAL_MS must be lower than KAFKA_SESSION_TIMEOUT_MS")
# A message the broker has not confirmed within this time is answered with
# `unavailable` (the spec allows at most 5 s).
KAFKA_PRODUCE_TIMEOUT_MS = env.integer("KAFKA_PRODUCE_TIMEOUT_MS", 4000, minimum=100, maximum=5000)
KAFKA_MAX_POLL_RECORDS = env.integer("KAFKA_MAX_POLL_RECORDS", 500, minimum=1)
# How often a worker commits the offsets it stored after each database commit.
# A crash redelivers what was stored since (the store step absorbs it), so this
# trades commit traffic for redelivered records, never for loss.
KAFKA_COMMIT_INTERVAL_MS = env.integer("KAFKA_COMMIT_INTERVAL_MS", 1000, minimum=100)
# Every bus worker (message worker, notifier, indexer, bots worker, smart
# replies) serves its own Prometheus metrics here (0: off); per process:
# make run gives its workers this port, +1, +2, ...
WORKER_METRICS_PORT = env.integer("WORKER_METRICS_PORT", 0, minimum=0, maximum=65535)
WORKER_METRICS_ADDR = env.string("WORKER_METRICS_ADDR", "127.0.0.1")

# ---------------------------------------------------------------------------
# Notifications (Web Push, docs/operations.md "Push notifications")
# ---------------------------------------------------------------------------
# One VAPID key for the cluster (notifications/vapid.py). Unset: the key kept in
# the data folder, made there on first start when embedded; with Kafka (several
# nodes) a missing key stops start-up, since nodes on other machines would make
# their own.
_vapid = env.string("VAPID_PRIVATE_KEY")
try:
    if _vapid is not None:
        VAPID_PRIVATE_KEY = vapid.normalize(_vapid)
    else:
        VAPID_PRIVATE_KEY = vapid.read_or_create(VAR_DIR / "vapid_private_key", create=BUS_BACKEND == "inprocess")
except ValueError as exc:
    raise ImproperlyConfigured(f"VAPID_PRIVATE_KEY: {exc}") from None
if VAPID_PRIVATE_KEY is None:
    raise ImproperlyConfigured(
        "VAPID_PRIVATE_KEY is not set: every node must sign pushes with the same key. "
        "Make one with `python -m notifications.vapid` and set it on every node "
        f"(or put it in {VAR_DIR / 'vapid_private_key'} when the nodes share that folder)."
    )
VAPID_PUBLIC_KEY = vapid.public_key(VAPID_PRIVATE_KEY)
# Who runs this server, for push services to contact (RFC 8292 `sub`).
VAPID_SUBJECT = env.string("VAPID_SUBJECT", "mailto:postmaster@localhost")
if not VAPID_SUBJECT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured("VAPID_SUBJECT must be a mailto: or https: URL")
# A push is retried with backoff for up to this long (also its TTL at the push service).
PUSH_TTL_S = env.integer("PUSH_TTL_S", 86400, minimum=60, maximum=28 * 86400)
# Someone with an open socket gets a push only if no socket read the message by then.
PUSH_DELAY_S = env.integer("PUSH_DELAY_S", 10, minimum=0, maximum=3600)
# Tests only: push endpoints on http:// and on private addresses.
PUSH_ALLOW_HTTP = env.boolean("PUSH_ALLOW_HTTP", False)
# Requests to push services in flight at once per notifier.
PUSH_CONCURRENCY = env.integer("PUSH_CONCURRENCY", 16, minimum=1, maximum=256)
# How long one request to a push service may take.
PUSH_TIMEOUT_S = env.integer("PUSH_TIMEOUT_S", 10, minimum=1, maximum=120)

# Message search: `auto` reads the index the database has (Mroonga on
# MariaDB when the plugin is enabled, else LIKE; FTS5 on SQLite); `mroonga`,
# `fts5` or `like` insist on one (a backend the index cannot serve answers 503).
SEARCH_BACKEND = env.choice("SEARCH_BACKEND", "auto", {"auto", "mroonga", "fts5", "like"})

# /metrics: open in development; in production only with the bearer token
# METRICS_TOKEN or from an address in METRICS_ALLOWED_IPS (default: loopback).
METRICS_TOKEN = env.string("METRICS_TOKEN")
# A malformed entry stops start-up naming the variable, as TRUSTED_PROXIES does.
METRICS_ALLOWED_IPS = (
    [str(network) for network in env.networks("METRICS_ALLOWED_IPS")]
    if env.is_set("METRICS_ALLOWED_IPS")
    else ["127.0.0.1", "::1"]
)

# ---------------------------------------------------------------------------
# Authentication and tokens
# ---------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
if env.boolean("FAST_PASSWORD_HASHER", False):
    # For test runs only: bcrypt costs ~0.3 s per hash on this hardware.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

JWT_ACCESS_TTL_S = env.integer("JWT_ACCESS_TTL_S", 900, minimum=30)
JWT_REFRESH_TTL_S = env.integer("JWT_REFRESH_TTL_S", 30 * 24 * 3600, minimum=60)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=JWT_ACCESS_TTL_S),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=JWT_REFRESH_TTL_S),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.string("JWT_SIGNING_KEY", SECRET_KEY),
    "LEEWAY": 5,
    "USER_ID_FIELD": "uuid",
    "USER_ID_CLAIM": "uid",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}
if len(SIMPLE_JWT["SIGNING_KEY"]) < 32:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must be at least 32 characters")

SESSION_COOKIE_AGE = JWT_REFRESH_TTL_S
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# SMS: "console" prints codes to the server's terminal (no provider; never
# to a log), "memory" keeps them in the process (tests), "file" appends JSON
# lines to SMS_FILE_PATH (tests across processes). A dotted path names a class
# of your own for a real provider (see accounts/sms.py for the interface).
SMS_BACKEND = env.string("SMS_BACKEND", "console")
SMS_FILE_PATH = env.string("SMS_FILE_PATH", str(VAR_DIR / "sms.jsonl"))
SMS_CODE_TTL_S = env.integer("SMS_CODE_TTL_S", 300, minimum=30)
SMS_CODE_MAX_TRIES = env.integer("SMS_CODE_MAX_TRIES", 5, minimum=1)
SMS_DEFAULT_REGION = env.string("SMS_DEFAULT_REGION", "CN")

# ---------------------------------------------------------------------------
# Limits (rest.md "Limits"): every one is an environment variable
# ---------------------------------------------------------------------------
LIMIT_MESSAGES_PER_S = env.integer("LIMIT_MESSAGES_PER_S", 10, minimum=1)
LIMIT_MESSAGES_BURST = env.integer("LIMIT_MESSAGES_BURST", 60, minimum=1)
# A bot's messages (socket, REST and incoming webhooks together): a program
# gets a budget of its own, lower than a person's sustained rate.
LIMIT_BOT_MESSAGES_PER_S = env.integer("LIMIT_BOT_MESSAGES_PER_S", 1, minimum=1)
LIMIT_BOT_MESSAGES_BURST = env.integer("LIMIT_BOT_MESSAGES_BURST", 30, minimum=1)
LIMIT_FRAMES_PER_S = env.integer("LIMIT_FRAMES_PER_S", 50, minimum=1)
LIMIT_FRAMES_BURST = env.integer("LIMIT_FRAMES_BURST", 200, minimum=1)
# Consecutive rate-limited frames after which a socket is closed with 4429.
LIMIT_FRAMES_STRIKES = env.integer("LIMIT_FRAMES_STRIKES", 20, minimum=1)
LIMIT_LOGIN_FAILURES_PER_ACCOUNT = env.integer("LIMIT_LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
LIMIT_LOGIN_FAILURES_PER_IP = env.integer("LIMIT_LOGIN_FAILURES_PER_IP", 50, minimum=1)
LIMIT_LOGIN_WINDOW_S = env.integer("LIMIT_LOGIN_WINDOW_S", 900, minimum=1)
LIMIT_REGISTER_PER_IP = env.integer("LIMIT_REGISTER_PER_IP", 100, minimum=1)
LIMIT_SMS_COOLDOWN_S = env.integer("LIMIT_SMS_COOLDOWN_S", 60, minimum=0)
LIMIT_SMS_PER_PHONE = env.integer("LIMIT_SMS_PER_PHONE", 10, minimum=1)
LIMIT_SMS_PER_IP = env.integer("LIMIT_SMS_PER_IP", 30, minimum=1)
LIMIT_SMS_VERIFY_PER_IP = env.integer("LIMIT_SMS_VERIFY_PER_IP", 100, minimum=1)
LIMIT_SEARCH_PER_MIN = env.integer("LIMIT_SEARCH_PER_MIN", 30, minimum=1)
# Message searches (GET /messages/search, each page counts) per user per minute.
LIMIT_MESSAGE_SEARCH_PER_MIN = env.integer("LIMIT_MESSAGE_SEARCH_PER_MIN", 120, minimum=1)
LIMIT_WS_CONNECTS_PER_USER = env.integer("LIMIT_WS_CONNECTS_PER_USER", 60, minimum=1)
LIMIT_TYPING_INTERVAL_S = env.integer("LIMIT_TYPING_INTERVAL_S", 3, minimum=0)
MAX_TEXT = env.integer("MAX_TEXT", 5000, minimum=1)
MAX_FILE_BYTES = env.integer("MAX_FILE_BYTES", 100 * 1024 * 1024, minimum=1)
MAX_FRAME_BYTES = env.integer("MAX_FRAME_BYTES", 64 * 1024, minimum=1024)
GROUP_MAX_MEMBERS = env.integer("GROUP_MAX_MEMBERS", 2000, minimum=2)
HEARTBEAT_S = env.integer("HEARTBEAT_S", 25, minimum=1)
# A socket's presence entry lives this long unless its process refreshes it
# (every third of it): a crashed node's users go offline within this time.
PRESENCE_TTL_S = env.integer("PRESENCE_TTL_S", 60, minimum=3)
PRESENCE_MAX_SUBSCRIPTIONS = env.integer("PRESENCE_MAX_SUBSCRIPTIONS", 2000, minimum=1)
# The sender may recall a message for this long; group owners and admins any time.
RECALL_WINDOW_S = env.integer("RECALL_WINDOW_S", 120, minimum=0)
# The sender may edit a text message for this long (hello.limits.edit_window_s).
EDIT_WINDOW_S = env.integer("EDIT_WINDOW_S", 900, minimum=0)
# Members hear of the reactions on one message at most once per this many ms
# (the first change at once, the rest of a burst together; 0: every change).
REACTIONS_COALESCE_MS = env.integer("REACTIONS_COALESCE_MS", 250, minimum=0)
# Messages mentioning @all, per group per hour.
LIMIT_MENTION_ALL_PER_HOUR = env.integer("LIMIT_MENTION_ALL_PER_HOUR", 3, minimum=1)
# The proxies (addresses or networks) whose X-Forwarded-For and
# X-Forwarded-Proto are believed (chatsite.net); none by default: the
# socket's peer is the client, for limits, sessions, the audit and access logs.
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES")
if env.is_set("TRUSTED_PROXY_COUNT"):
    raise ImproperlyConfigured(
        "TRUSTED_PROXY_COUNT was replaced by TRUSTED_PROXIES: list your proxies' addresses (say 127.0.0.1 or 10.0.0.0/8)"
    )

# Smart replies (docs/assistant.md): up to three replies offered to the
# recipient of a direct message, from their own history and built-in ones,
# computed on this box (assistant/). 0 turns them off entirely (no embedding,
# no frames): for deployments where message content must not be processed.
ASSISTANT = env.boolean("ASSISTANT", True)

# ---------------------------------------------------------------------------
# The assistant bot (docs/assistant.md): a generative model behind any
# OpenAI-compatible chat-completions URL. Off unless ASSISTANT_LLM_URL is set.
# ---------------------------------------------------------------------------
ASSISTANT_LLM_URL = env.string("ASSISTANT_LLM_URL", "") or ""
if ASSISTANT_LLM_URL and not ASSISTANT_LLM_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"ASSISTANT_LLM_URL must be an http or https URL (got {ASSISTANT_LLM_URL!r})")
ASSISTANT_LLM_KEY = env.string("ASSISTANT_LLM_KEY", "") or ""
ASSISTANT_LLM_MODEL = env.string("ASSISTANT_LLM_MODEL", "") or ""
if ASSISTANT_LLM_URL and not ASSISTANT_LLM_MODEL:
    raise ImproperlyConfigured("ASSISTANT_LLM_URL is set: name the model too (ASSISTANT_LLM_MODEL)")
ASSISTANT_LLM_TIMEOUT_S = env.integer("ASSISTANT_LLM_TIMEOUT_S", 30, minimum=1, maximum=300)
ASSISTANT_LLM_MAX_TOKENS = env.integer("ASSISTANT_LLM_MAX_TOKENS", 512, minimum=16, maximum=8192)

# ---------------------------------------------------------------------------
# Bots (docs/bots.md): how many a person may own, and what each may hold.
# ---------------------------------------------------------------------------
BOTS_MAX_PER_OWNER = env.integer("BOTS_MAX_PER_OWNER", 20, minimum=0)
BOT_KEYS_MAX = env.integer("BOT_KEYS_MAX", 10, minimum=1)
BOT_WEBHOOKS_MAX = env.integer("BOT_WEBHOOKS_MAX", 50, minimum=1)
BOT_ALLOWED_MAX = env.integer("BOT_ALLOWED_MAX", 200, minimum=0)
# Outgoing events: attempts before one is given up, and requests in flight
# at once per bots worker.
BOT_EVENT_ATTEMPTS = env.integer("BOT_EVENT_ATTEMPTS", 6, minimum=1)
BOT_EVENT_CONCURRENCY = env.integer("BOT_EVENT_CONCURRENCY", 8, minimum=1)

# ---------------------------------------------------------------------------
# Calls (docs/calls.md): timers, signalling limits, ICE servers
# ---------------------------------------------------------------------------
CALL_RING_TIMEOUT_S = env.integer("CALL_RING_TIMEOUT_S", 45, minimum=1)
CALL_RECONNECT_GRACE_S = env.integer("CALL_RECONNECT_GRACE_S", 15, minimum=1)
# How often each server process sweeps due calls and renews its users' leases.
CALL_SWEEP_INTERVAL_S = env.integer("CALL_SWEEP_INTERVAL_S", 1, minimum=1)
LIMIT_CALL_SIGNALS_PER_S = env.integer("LIMIT_CALL_SIGNALS_PER_S", 20, minimum=1)
LIMIT_CALL_SIGNALS_BURST = env.integer("LIMIT_CALL_SIGNALS_BURST", 100, minimum=1)
LIMIT_CALL_INVITES_PER_MIN = env.integer("LIMIT_CALL_INVITES_PER_MIN", 10, minimum=1)
MAX_CALL_SDP_BYTES = env.integer("MAX_CALL_SDP_BYTES", 16 * 1024, minimum=1024)
MAX_CALL_CANDIDATE_BYTES = env.integer("MAX_CALL_CANDIDATE_BYTES", 1024, minimum=256)
ICE_STUN_URLS = env.csv("ICE_STUN_URLS")
TURN_URLS = env.csv("TURN_URLS")
# coturn's `use-auth-secret`: time-limited credentials; or fixed ones.
TURN_SHARED_SECRET = env.string("TURN_SHARED_SECRET")
env.require_together("TURN_USERNAME", "TURN_PASSWORD")
TURN_USERNAME = env.string("TURN_USERNAME")
TURN_PASSWORD = env.string("TURN_PASSWORD")
TURN_TTL_S = env.integer("TURN_TTL_S", 3600, minimum=60)
if (TURN_SHARED_SECRET or TURN_USERNAME) and not TURN_URLS:
    raise ImproperlyConfigured("TURN_SHARED_SECRET or TURN_USERNAME is set but TURN_URLS is not")
if TURN_SHARED_SECRET and TURN_USERNAME:
    raise ImproperlyConfigured("set TURN_SHARED_SECRET or TURN_USERNAME/TURN_PASSWORD, not both")

DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# ---------------------------------------------------------------------------
# REST framework and the OpenAPI schema
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerAuthentication",
        "accounts.authentication.CookieSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["chatsite.drf.JSONRenderer"],
    # JSON bodies only; the upload view takes multipart/form-data itself.
    "DEFAULT_PARSER_CLASSES": ["chatsite.drf.StrictJSONParser"],
    "EXCEPTION_HANDLER": "chatsite.drf.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "chatsite.schema.ChatAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WebsocketChat API",
    "DESCRIPTION": "REST API of WebsocketChat. The WebSocket protocol is described in docs/protocol/ (asyncapi.yaml).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # A PATCH body's fields are optional where its serializer says so (the
    # views that take part of an object parse with partial=True), not always.
    "COMPONENT_SPLIT_PATCH": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name across components get stable names.
    "ENUM_NAME_OVERRIDES": {
        "RequestStatusEnum": "contacts.models.RequestStatus",
        "GroupStatusEnum": "groups.models.GroupStatus",
        "GroupRoleEnum": "conversations.models.Role",
        "AssignableRoleEnum": "groups.serializers.ASSIGNABLE_ROLES",
        "CallMediaEnum": "calls.models.CallMedia",
        "CallStateEnum": "calls.models.CallState",
        "CallOutcomeEnum": "calls.models.CallOutcome",
        "UserStatusEnum": "accounts.models.UserStatus",
        "AuditTargetTypeEnum": "backoffice.models.AuditTargetType",
        "MessageKindEnum": "conversations.models.MessageKind",
    },
}

# ---------------------------------------------------------------------------
# Internationalisation, static and media files
# ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env.string("MEDIA_ROOT", str(VAR_DIR / "media")))

# Uploaded files (docs/files.md): stored through the "files" storage under
# server-generated keys; the local filesystem under MEDIA_ROOT by default, an
# S3-compatible bucket with FILE_STORAGE=s3 so several nodes share the files.
FILE_STORAGE = env.choice("FILE_STORAGE", "local", {"local", "s3"})
# The sum of the sizes of one user's files (0: no quota).
FILE_QUOTA_BYTES_PER_USER = env.integer("FILE_QUOTA_BYTES_PER_USER", 5 * 1024**3, minimum=0)
# Files never sent in a message nor made an avatar are removed after this
# (manage.py cleanup_files).
FILE_UNATTACHED_GRACE_S = env.integer("FILE_UNATTACHED_GRACE_S", 24 * 3600, minimum=60)
# Larger images are stored without a thumbnail (decompression bombs).
FILE_IMAGE_MAX_PIXELS = env.integer("FILE_IMAGE_MAX_PIXELS", 50_000_000, minimum=1)
# Sniffed types refused with 415 `unsupported_media`: native executables.
FILE_REFUSED_MIME_TYPES = env.csv(
    "FILE_REFUSED_MIME_TYPES",
    [
        "application/x-dosexec",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
        "application/x-msi",
        "application/x-ms-installer",
        "application/x-executable",
        "application/x-pie-executable",
        "application/x-sharedlib",
        "application/x-mach-binary",
    ],
)
# Behind nginx: downloads answer with `X-Accel-Redirect: <prefix><key>` and
# nginx sends the bytes from an internal location (local storage only).
FILE_ACCEL_REDIRECT_PREFIX = env.string("FILE_ACCEL_REDIRECT_PREFIX", "")
if FILE_ACCEL_REDIRECT_PREFIX and not (
    FILE_ACCEL_REDIRECT_PREFIX.startswith("/") and FILE_ACCEL_REDIRECT_PREFIX.endswith("/")
):
    raise ImproperlyConfigured("FILE_ACCEL_REDIRECT_PREFIX must start and end with '/' (like /protected-files/)")
if FILE_STORAGE == "s3":
    if not env.is_set("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("FILE_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    env.require_together("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if FILE_ACCEL_REDIRECT_PREFIX:
        raise ImproperlyConfigured("FILE_ACCEL_REDIRECT_PREFIX works with FILE_STORAGE=local only")
    _files_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.string("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.string("AWS_S3_ENDPOINT_URL"),
            "region_name": env.string("AWS_S3_REGION_NAME"),
            # Unset: boto3's own chain (environment, instance role, ...).
            "access_key": env.string("AWS_ACCESS_KEY_ID"),
            "secret_key": env.string("AWS_SECRET_ACCESS_KEY"),
            "addressing_style": env.choice("AWS_S3_ADDRESSING_STYLE", "auto", {"auto", "path", "virtual"}),
            "location": env.string("AWS_LOCATION", ""),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    _files_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "files": _files_storage,
}

# ---------------------------------------------------------------------------
# Security (manage.py check --deploy is clean with production settings)
# ---------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Whether a request came over TLS is decided once, in chatsite.net: by the
# socket, or by a trusted proxy's X-Forwarded-Proto (so no
# SECURE_PROXY_SSL_HEADER: Django would believe it from anyone). HSTS is sent
# on TLS requests only; cookies get `Secure` on TLS requests
# (chatsite.middleware.SecureCookiesMiddleware), so one configuration serves
# plain http on localhost and https behind a proxy.
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", True)
# check --deploy cannot see that SecureCookiesMiddleware marks the session and
# CSRF cookies Secure on every TLS request.
SILENCED_SYSTEM_CHECKS = ["security.W012", "security.W016"]

# ---------------------------------------------------------------------------
# Logging: never tokens, passwords, SMS codes or message content
# ---------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOG_FORMAT = env.choice("LOG_FORMAT", "text", {"text", "json"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "chatsite.logging.RequestIdFilter"},
        "redact": {"()": "chatsite.logging.RedactSecretsFilter"},
        "server_noise": {"()": "chatsite.logging.ServerNoiseFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "chatsite.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "server_noise", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        "kafka": {"level": "WARNING"},
        # uvicorn logs through our handler (and its filters) once the app is loaded.
        "uvicorn": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "uvicorn.access": {"handlers": [], "propagate": False},
    },
}

# ---------------------------------------------------------------------------
# Outgoing webhooks: requests to URLs users supply (chatsite/outbound.py)
# ---------------------------------------------------------------------------
# Targets must be on public addresses. WEBHOOK_ALLOW_PRIVATE lets through the
# networks it lists (127.0.0.0/8: loopback only, as the tests use it), or
# every address with 1. Tests and labs only: it opens this server's own
# network to whoever registers a bot.
_webhook_allow_private = (env.string("WEBHOOK_ALLOW_PRIVATE") or "0").lower()
if _webhook_allow_private in {"0", "false", "no", "off"}:
    WEBHOOK_ALLOW_PRIVATE = []
elif _webhook_allow_private in {"1", "true", "yes", "on"}:
    WEBHOOK_ALLOW_PRIVATE = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
else:
    WEBHOOK_ALLOW_PRIVATE = env.networks("WEBHOOK_ALLOW_PRIVATE")
# One deadline per delivery: resolving, connecting, TLS, sending, reading, redirects.
WEBHOOK_TIMEOUT_S = env.integer("WEBHOOK_TIMEOUT_S", 5, minimum=1, maximum=60)
WEBHOOK_MAX_REQUEST_BYTES = env.integer("WEBHOOK_MAX_REQUEST_BYTES", 256 * 1024, minimum=1024)
WEBHOOK_MAX_RESPONSE_BYTES = env.integer("WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024, minimum=0)
