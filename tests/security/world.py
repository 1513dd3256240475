"""The small world the authorization matrix is played in (docs/authorization.md).

One target user T, one group G, and a caller of each kind, related to them as
the matrix's legend says. Everything is made through the product's own
services, as users would make it; nothing is written to a table by hand.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile

from chatsite.testing import image_bytes
from conftest import PASSWORD, login_tokens
from files.tests.conftest import send_file

# The columns of the matrix, in its order.
ROLES = (
    "anonymous",
    "stranger",
    "contact",
    "blocked",
    "member",
    "removed",
    "admin",
    "owner",
    "disabled",
    "administrator",
)

SECRET = "quokka"  # a word only the target's messages contain (search)
_serial = itertools.count(1)


def png() -> bytes:
    return image_bytes(size=(64, 48), color=(20, 120, 200))


@dataclass
class World:
    """Built once per matrix row (or per WebSocket cell). `tag` keeps its
    usernames and phone numbers apart from every other world's."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    users: dict[str, object] = field(default_factory=dict)
    _tokens: dict[str, dict] = field(default_factory=dict)

    # ------------------------------------------------------------------ people

    def _user(self, name: str, *, superuser: bool = False):
        from accounts.models import User

        n = next(_serial)
        username = f"{name}_{self.tag}"
        phone = f"+86139{n % 100_000_000:08d}"
        if superuser:
            user = User.objects.create_superuser(username, PASSWORD, phone=phone, nickname=name)
        else:
            user = User.objects.create_user(username, PASSWORD, phone=phone, nickname=name)
        self.users[name] = user
        return user

    def fresh_phone(self) -> str:
        return f"+86137{next(_serial) % 100_000_000:08d}"

    def build(self) -> World:
        from backoffice.services import do_disable_user
        from contacts.services import do_block, do_connect
        from groups.services import do_create_group, do_remove_member, do_set_member_role

        t = self._user("target")
        o, a, m, r = (self._user(n) for n in ("owner", "admin", "member", "removed"))
        s, c, b, d = (self._user(n) for n in ("stranger", "contact", "blocked", "disabled"))
        x = self._user("administrator", superuser=True)
        self._user("third")  # a user the target can send requests to
        for other in (c, b, o, d):
            do_connect(user=t, other=other)
        for other in (a, m, r, d):
            do_connect(user=o, other=other)
        do_block(user=t, target_id=str(b.uuid))
        group = do_create_group(owner=o, name=f"G {self.tag}", members=[str(u.uuid) for u in (a, m, t, r, d)])
        do_set_member_role(user=o, group_id=str(group.uuid), member_id=str(a.uuid), role="admin")
        self.group = group
        self.post(t, self.group_conversation, f"hello group {SECRET}")
        do_remove_member(user=o, group_id=str(group.uuid), member_id=str(r.uuid))
        self.post(t, self.group_conversation, f"after the removal {SECRET}")
        for other in (c, b, o, d):
            self.post(t, self.direct(t, other), f"hello {other.nickname} {SECRET}")
        do_disable_user(actor=x, user_id=str(d.uuid), reason="matrix")
        return self

    def caller(self, role: str):
        """The user who plays `role` (None for anonymous)."""
        return None if role == "anonymous" else self.users[role]

    @property
    def target(self):
        return self.users["target"]

    @property
    def third(self):
        return self.users["third"]

    # ------------------------------------------------------------------ tokens

    def tokens(self, role: str) -> dict:
        if role not in self._tokens:
            self._tokens[role] = login_tokens(self.users[role])
        return self._tokens[role]

    # ------------------------------------------------------------------ relations

    def are_contacts(self, a, b) -> bool:
        from contacts.models import Contact

        return Contact.objects.filter(owner=a, other=b).exists()

    def direct(self, a, b):
        from contacts.models import Contact

        return Contact.objects.select_related("conversation").get(owner=a, other=b).conversation

    def direct_for(self, role: str):
        """The caller's direct conversation with T where they have one, else T's with the contact."""
        me = self.caller(role)
        if me is not None and self.are_contacts(self.target, me):
            return self.direct(self.target, me)
        return self.direct(self.target, self.users["contact"])

    @property
    def group_conversation(self):
        from conversations.models import Conversation

        return Conversation.objects.get(group=self.group)

    def new_contact_of(self, role: str):
        """A new user who is the caller's contact (and in nothing else)."""
        from contacts.services import do_connect

        friend = self._user(f"friend{next(_serial)}")
        me = self.caller(role)
        if me is not None:
            do_connect(user=me, other=friend)
        return friend

    # ------------------------------------------------------------------ content

    def post(self, sender, conversation, text: str):
        from conversations.store import Incoming, store_messages

        [stored] = store_messages(
            [
                Incoming(
                    conversation_id=conversation.pk,
                    sender_id=sender.pk,
                    kind="text",
                    text=text,
                    client_msg_id=str(uuid.uuid4()),
                )
            ]
        )
        # Indexed as the search indexer on the bus would (SECRET is searched for).
        from search.indexer import index_conversations

        index_conversations([conversation.pk])
        return stored.message

    def upload(self, owner):
        from files.services import do_upload_file

        return do_upload_file(owner=owner, upload=SimpleUploadedFile("pic.png", png(), content_type="image/png"))

    def send_file(self, sender, conversation, file):
        return send_file(conversation=conversation, sender=sender, file=file)

    def sms_code(self, phone: str, purpose: str) -> str:
        from accounts.actions.sessions import Client
        from accounts.actions.sms import do_send_sms_code
        from accounts.sms import MemoryBackend

        do_send_sms_code(phone=phone, purpose=purpose, client=Client(ip="127.0.0.9", device="matrix"))
        for sent in reversed(MemoryBackend.outbox):
            if sent["phone"] == phone and sent["purpose"] == purpose:
                return re.search(r"\b(\d{6})\b", sent["text"])[1]
        return "000000"  # no code was sent (no account for it): a wrong one
