"""Seed users, contacts and groups through the product's services, fast, and
hand back what clients need (ids, access tokens, conversations) as plain data.

In the test process: `world(...)` (inside a django_db test). For a database
this process is not connected to (a private MariaDB), run it in a child
process with that DATABASE_URL: `seed_in(env, ...)`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PASSWORD = "correct-horse-42"


def world(
    *, prefix: str, users: int, pairs: list[tuple[int, int]] = (), groups: list[list[int]] = (), admin: bool = False
) -> dict:
    """`users` accounts `<prefix>0`…; each pair (i, j) made contacts (with their
    direct conversation); each group (owner first) created by its owner with
    the others as members (they must be the owner's contacts). With `admin`,
    one more account that is a superuser. Every user gets one login session."""
    from django.contrib.auth.hashers import make_password

    from accounts.actions.sessions import Client, start_session
    from accounts.models import User
    from contacts.services import do_connect
    from groups.services import do_create_group

    hashed = make_password(PASSWORD)
    made = User.objects.bulk_create(
        [User(username=f"{prefix}{n}", nickname=f"{prefix}{n}", password=hashed) for n in range(users)]
    )
    made = list(User.objects.filter(username__in=[u.username for u in made]).order_by("pk"))
    made.sort(key=lambda u: int(u.username[len(prefix) :]))
    out_users = []
    for user in made:
        session = start_session(user=user, client=Client(ip="127.0.0.1", device="faults"))
        out_users.append(
            {"id": str(user.uuid), "pk": user.pk, "username": user.username, "token": session.tokens.access}
        )
    direct = []
    for i, j in pairs:
        contact = do_connect(user=made[i], other=made[j])
        direct.append(
            {"conversation": str(contact.conversation.uuid), "members": [str(made[i].uuid), str(made[j].uuid)]}
        )
    out_groups = []
    for indexes in groups:
        owner, *others = (made[i] for i in indexes)
        group = do_create_group(owner=owner, name=f"{prefix}-group", members=[str(u.uuid) for u in others])
        out_groups.append(
            {
                "group": str(group.uuid),
                "conversation": str(group.conversation.uuid),
                "members": [str(made[i].uuid) for i in indexes],
            }
        )
    result = {"users": out_users, "direct": direct, "groups": out_groups}
    if admin:
        root = User.objects.create_superuser(f"{prefix}admin", PASSWORD, nickname="Admin")
        session = start_session(user=root, client=Client(ip="127.0.0.1", device="faults"))
        result["admin"] = {"id": str(root.uuid), "pk": root.pk, "token": session.tokens.access}
    return result


def seed_in(env: dict[str, str], **kwargs) -> dict:
    """`world(**kwargs)` in a child process using `env` (its DATABASE_URL)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.seed", json.dumps(kwargs)],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env=dict(env, DJANGO_SETTINGS_MODULE="chatsite.settings", LOG_LEVEL="WARNING"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import django

    django.setup()
    spec = json.loads(sys.argv[1])
    spec["pairs"] = [tuple(p) for p in spec.get("pairs", ())]
    print(json.dumps(world(**spec)))
