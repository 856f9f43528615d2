"""In-memory fakes of every port of the domain (``leak_responder.domain.ports``): no network,
no moto.

They behave like the real services in the ways the domain relies on: IAM's two-key limit,
NoSuchEntity for unknown keys, DynamoDB's conditional writes (optimistic locking).
``leak_sandbox.testkit.world.World`` wires them together.
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from leak_responder.domain.errors import (
    AccessDeniedError,
    ConflictError,
    IncidentNotFoundError,
    KeyLimitError,
    KeyNotFoundError,
    NotificationError,
    TransientError,
)
from leak_responder.domain.model import (
    Incident,
    IncidentStatus,
    NotificationStatus,
    Resumption,
)
from leak_responder.domain.ports import (
    AccessKeyInfo,
    KeyUsage,
    NewAccessKey,
    NotificationReceipt,
    PrincipalRef,
    Secret,
    StoredSecret,
)

_B32 = string.ascii_uppercase + "234567"


def fake_key_id(prefix: str = "AKIA", rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return prefix + "".join(rng.choice(_B32) for _ in range(16))


def fake_secret(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))


class FixedClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@dataclass
class FakeKey:
    key_id: str
    status: str
    created_at: datetime
    last_used_at: datetime | None = None
    secret: str = ""


@dataclass
class FakeUser:
    name: str
    keys: dict[str, FakeKey] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inline_policies: dict[str, str] = field(default_factory=dict)


class FakeKeyAdmin:
    """IAM for one account."""

    def __init__(self, account_id: str, clock: FixedClock | None = None) -> None:
        self.account_id = account_id
        self.clock = clock or FixedClock()
        self.users: dict[str, FakeUser] = {}
        self.roles: dict[str, dict[str, str]] = {}
        self.root_keys: set[str] = set()
        self.attached: dict[str, list[str]] = {}
        self.paths: dict[str, str] = {}  # IAM paths of users and roles, "/" when absent
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._rng = random.Random(hash(account_id))

    # -- test set-up -----------------------------------------------------------------------
    def add_user(self, name: str, tags: dict[str, str] | None = None) -> FakeUser:
        self.users[name] = FakeUser(name, tags=dict(tags or {}))
        return self.users[name]

    def add_key(self, user: str, status: str = "Active", prefix: str = "AKIA") -> str:
        key_id = fake_key_id(prefix, self._rng)
        self.users[user].keys[key_id] = FakeKey(key_id, status, self.clock.now(), None)
        return key_id

    def add_role(self, name: str) -> None:
        self.roles[name] = {}

    def key(self, key_id: str) -> FakeKey:
        for user in self.users.values():
            if key_id in user.keys:
                return user.keys[key_id]
        raise KeyError(key_id)

    def _user_of(self, key_id: str) -> FakeUser:
        for user in self.users.values():
            if key_id in user.keys:
                return user
        raise KeyNotFoundError(key_id)

    def _user(self, name: str) -> FakeUser:
        if name not in self.users:
            raise KeyNotFoundError(f"no such user {name}")
        return self.users[name]

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, args))

    # -- KeyAdmin --------------------------------------------------------------------------
    def deactivate(self, user_name: str, key_id: str) -> None:
        self._call("UpdateAccessKey", user_name, key_id, "Inactive")
        user = self._user(user_name)
        if key_id not in user.keys:
            raise KeyNotFoundError(key_id)
        user.keys[key_id].status = "Inactive"

    def activate(self, user_name: str, key_id: str) -> None:
        self._call("UpdateAccessKey", user_name, key_id, "Active")
        user = self._user(user_name)
        if key_id not in user.keys:
            raise KeyNotFoundError(key_id)
        user.keys[key_id].status = "Active"

    def key_usage(self, key_id: str) -> KeyUsage:
        self._call("GetAccessKeyLastUsed", key_id)
        if key_id in self.root_keys:
            return KeyUsage(user_name="root", last_used_at=None, is_root=True)
        key = self._user_of(key_id).keys[key_id]
        return KeyUsage(user_name=self._user_of(key_id).name, last_used_at=key.last_used_at)

    def list_keys(self, user_name: str) -> list[AccessKeyInfo]:
        self._call("ListAccessKeys", user_name)
        return [
            AccessKeyInfo(k.key_id, k.status, k.created_at)
            for k in self._user(user_name).keys.values()
        ]

    def create_key(self, user_name: str) -> NewAccessKey:
        self._call("CreateAccessKey", user_name)
        user = self._user(user_name)
        if len(user.keys) >= 2:
            raise KeyLimitError(user_name)
        key_id = fake_key_id("AKIA", self._rng)
        secret = fake_secret(self._rng)
        user.keys[key_id] = FakeKey(key_id, "Active", self.clock.now(), None, secret)
        return NewAccessKey(key_id, Secret(secret), self.clock.now())

    def delete_key(self, user_name: str, key_id: str) -> None:
        self._call("DeleteAccessKey", user_name, key_id)
        user = self._user(user_name)
        if key_id not in user.keys:
            raise KeyNotFoundError(key_id)
        del user.keys[key_id]

    def tag_user(self, user_name: str, tags: dict[str, str]) -> None:
        self._call("TagUser", user_name, tuple(sorted(tags)))
        self._user(user_name).tags.update(tags)

    def untag_user(self, user_name: str, keys: list[str]) -> None:
        self._call("UntagUser", user_name, tuple(sorted(keys)))
        tags = self._user(user_name).tags
        for key in keys:
            tags.pop(key, None)

    def user_tags(self, user_name: str) -> dict[str, str]:
        self._call("ListUserTags", user_name)
        return dict(self._user(user_name).tags)

    def attached_policy_names(self, user_name: str) -> list[str]:
        self._call("ListAttachedUserPolicies", user_name)
        self._user(user_name)
        return list(self.attached.get(user_name, []))

    def principal_arn(self, kind: str, name: str) -> str:
        if kind == "role":
            self._call("GetRole", name)
            if name not in self.roles:
                raise KeyNotFoundError(f"no such role {name}")
        else:
            self._call("GetUser", name)
            self._user(name)
        path = self.paths.get(name, "/")
        return f"arn:aws:iam::{self.account_id}:{kind}{path}{name}"

    def principal(self, kind: str, name: str) -> PrincipalRef:
        return PrincipalRef(kind, name, f"arn:aws:iam::{self.account_id}:{kind}/{name}")

    def revoke_sessions(
        self, principal: PrincipalRef, issued_before: datetime, *, keep_later: bool = True
    ) -> None:
        self._call("Put" + principal.kind.capitalize() + "Policy", principal.name)
        target = (
            self._user(principal.name).inline_policies
            if principal.kind == "user"
            else self.roles.setdefault(principal.name, {})
        )
        # As IamKeyAdmin does: an older incident resumed late never moves the cutoff back.
        recorded = target.get("leak-responder-revoke-older-sessions")
        if not keep_later or recorded is None or datetime.fromisoformat(recorded) < issued_before:
            target["leak-responder-revoke-older-sessions"] = issued_before.isoformat()


class FakeAccounts:
    def __init__(self, home: FakeKeyAdmin, members: dict[str, FakeKeyAdmin] | None = None) -> None:
        self.home_account_id = home.account_id
        self.admins = {home.account_id: home, **(members or {})}
        self.reachable = set(self.admins)
        self.calls: list[str] = []

    def account_of(self, key_id: str) -> str:
        self.calls.append("GetAccessKeyInfo")
        for account, admin in self.admins.items():
            if key_id in admin.root_keys or any(key_id in u.keys for u in admin.users.values()):
                return account
        return self.home_account_id

    def key_admin(self, account_id: str) -> FakeKeyAdmin:
        if account_id not in self.reachable:
            raise AccessDeniedError(f"no member role for account {account_id}")
        return self.admins[account_id]


class FakeSessionLocator:
    def __init__(self) -> None:
        self.owners: dict[str, PrincipalRef] = {}

    def principal_of_session_key(self, key_id: str, account_id: str) -> PrincipalRef | None:
        return self.owners.get(key_id)


class FakeSecretStore:
    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {}
        self.readers: dict[str, str] = {}
        self.calls = 0

    def store(
        self, account_id: str, owner: PrincipalRef, key: NewAccessKey, incident_id: str
    ) -> StoredSecret:
        self.calls += 1
        self.readers[owner.name] = owner.arn
        name = f"leak-responder/{account_id}/{owner.name}"
        self.secrets[name] = {"AccessKeyId": key.key_id, "SecretAccessKey": key.secret.reveal()}
        return StoredSecret(name, f"arn:aws:secretsmanager:us-east-1:{account_id}:secret:{name}")


class InMemoryIncidentStore:
    def __init__(self) -> None:
        self.items: dict[str, Incident] = {}
        self.writes = 0

    def get(self, account_id: str, key_id: str) -> Incident | None:
        return self.items.get(f"{account_id}#{key_id}")

    def get_by_id(self, incident_id: str) -> Incident:
        for item in self.items.values():
            if item.incident_id == incident_id:
                return item
        raise IncidentNotFoundError(incident_id)

    def create(self, incident: Incident) -> Incident:
        if incident.pk in self.items:
            raise ConflictError(incident.pk)
        self.writes += 1
        self.items[incident.pk] = replace(incident, version=1)
        return self.items[incident.pk]

    def save(self, incident: Incident) -> Incident:
        current = self.items.get(incident.pk)
        if current is None or current.version != incident.version:
            raise ConflictError(incident.pk)
        self.writes += 1
        self.items[incident.pk] = replace(incident, version=incident.version + 1)
        return self.items[incident.pk]

    def awaiting_action(self) -> Iterator[Incident]:
        for item in list(self.items.values()):
            if item.notification_status == NotificationStatus.PENDING or (
                item.status == IncidentStatus.CONTAINED
            ):
                yield item


class RecordingNotifier:
    """Records notices; ``fail_times`` makes the next N deliveries raise NotificationError."""

    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[Incident] = []
        self.fail_times = fail_times
        self._ts = itertools.count(1)

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise NotificationError("slack unavailable")
        self.sent.append(incident)
        return NotificationReceipt(channel="D0OWNER", ts=f"1700000000.{next(self._ts):06d}")


class FakeReminderNotifier:
    """Slack as the reminder sees it: records what it was asked for; ``down`` makes every call
    fail like an outage. Its receipts name ``owner_slack_id`` and a security-channel copy."""

    def __init__(self, owner_slack_id: str | None = None) -> None:
        self.owner_slack_id = owner_slack_id
        self.notified: list[str] = []
        self.reminded: list[str] = []
        self.escalated: list[str] = []
        self.down = False
        self.copy_ts: str | None = None
        self._ts = itertools.count(1)

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        if self.down:
            raise NotificationError("slack unavailable")
        self.notified.append(incident.incident_id)
        return NotificationReceipt(
            "D0OWNER", f"1700000000.{next(self._ts):06d}", self.owner_slack_id, "1700000000.999999"
        )

    def remind(self, incident: Incident, waited_hours: float) -> None:
        if self.down:
            raise NotificationError("slack unavailable")
        self.reminded.append(incident.incident_id)

    def escalate(self, incident: Incident, waited_hours: float) -> str | None:
        if self.down:
            raise NotificationError("slack unavailable")
        self.escalated.append(incident.incident_id)
        return self.copy_ts


class RecordingDeadLetters:
    """The dead-letter queue: records each (body, reason) sent to it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, body: str, reason: str, message_id: str, receive_count: int) -> None:
        self.sent.append((body, reason))


class FakeResumeQueue:
    """The ResumeQueue port: ``depth`` reports unfinished (``waiting`` counts its asks);
    ``send`` records what it is given, or refuses like an outage when ``refuse`` is set."""

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        self.sent: list[Resumption] = []
        self.asked = 0
        self.refuse = False

    def waiting(self) -> int:
        self.asked += 1
        return self.depth

    def send(self, resumptions: Sequence[Resumption]) -> None:
        if self.refuse:
            raise TransientError("sqs:SendMessage: ServiceUnavailable")
        self.sent.extend(resumptions)
