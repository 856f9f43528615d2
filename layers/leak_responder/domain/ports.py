"""Ports: what the domain needs from the outside world. Adapters implement them.

Every port of the project is here, so one file says what the domain asks of AWS, Slack and
the clock, and what an edge must supply.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from leak_responder.domain.model import Incident, Resumption


class Secret:
    """A secret value that refuses to be printed, logged or serialised by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class AccessKeyInfo:
    key_id: str
    status: str  # "Active" | "Inactive"
    created_at: datetime


@dataclass(frozen=True)
class NewAccessKey:
    key_id: str
    secret: Secret
    created_at: datetime


@dataclass(frozen=True)
class KeyUsage:
    """What ``GetAccessKeyLastUsed`` says about a key: who owns it, and when it was last used.

    Containment asks it who owns a key an event did not name; approval asks it whether the
    replacement has been used yet."""

    user_name: str
    last_used_at: datetime | None
    is_root: bool = False


@dataclass(frozen=True)
class PrincipalRef:
    """An IAM user or role whose temporary sessions can be revoked."""

    kind: str  # "user" | "role"
    name: str
    arn: str


@dataclass(frozen=True)
class StoredSecret:
    name: str
    arn: str


@dataclass(frozen=True)
class NotificationReceipt:
    channel: str
    ts: str
    owner_slack_id: str | None = None
    security_channel_ts: str | None = None


class KeyAdmin(Protocol):
    """IAM in one account. Raises KeyNotFoundError, AccessDeniedError, TransientError."""

    def deactivate(self, user_name: str, key_id: str) -> None: ...
    def activate(self, user_name: str, key_id: str) -> None: ...
    def key_usage(self, key_id: str) -> KeyUsage:
        """GetAccessKeyLastUsed; raises KeyNotFoundError for a key of no user here."""
        ...

    def list_keys(self, user_name: str) -> list[AccessKeyInfo]: ...
    def create_key(self, user_name: str) -> NewAccessKey: ...
    def delete_key(self, user_name: str, key_id: str) -> None: ...
    def tag_user(self, user_name: str, tags: dict[str, str]) -> None: ...
    def untag_user(self, user_name: str, keys: list[str]) -> None: ...
    def user_tags(self, user_name: str) -> dict[str, str]: ...
    def attached_policy_names(self, user_name: str) -> list[str]: ...
    def principal(self, kind: str, name: str) -> PrincipalRef: ...
    def principal_arn(self, kind: str, name: str) -> str:
        """The user's or role's real ARN, path included (IAM GetUser / GetRole)."""
        ...

    def revoke_sessions(
        self, principal: PrincipalRef, issued_before: datetime, *, keep_later: bool = True
    ) -> None:
        """Deny sessions issued before ``issued_before``. With ``keep_later``, a later cutoff
        already in place is kept (it costs a read first)."""
        ...


class Accounts(Protocol):
    """Which account a key is in, and IAM access to that account."""

    home_account_id: str

    def account_of(self, key_id: str) -> str: ...
    def key_admin(self, account_id: str) -> KeyAdmin:
        """IAM for ``account_id``; raises AccessDeniedError when it is foreign and unreachable."""
        ...


class SessionLocator(Protocol):
    """Who minted a temporary (ASIA) key: CloudTrail knows; IAM does not."""

    def principal_of_session_key(self, key_id: str, account_id: str) -> PrincipalRef | None: ...


class SecretStore(Protocol):
    def store(
        self, account_id: str, owner: PrincipalRef, key: NewAccessKey, incident_id: str
    ) -> StoredSecret:
        """Deliver the new secret, readable by ``owner`` (and the security role) only."""
        ...


class IncidentStore(Protocol):
    """Optimistic locking: ``save`` succeeds only if ``version`` is unchanged since the read."""

    def get(self, account_id: str, key_id: str) -> Incident | None: ...
    def get_by_id(self, incident_id: str) -> Incident: ...
    def create(self, incident: Incident) -> Incident:
        """Raises ConflictError if an incident for that account#key already exists."""
        ...

    def save(self, incident: Incident) -> Incident:
        """Writes ``incident`` with version+1; ConflictError if someone wrote in between."""
        ...

    def awaiting_action(self) -> Iterator[Incident]:
        """Incidents whose notice is pending or whose old key still awaits deletion."""
        ...


class Notifier(Protocol):
    def notify(self, incident: Incident) -> NotificationReceipt | None:
        """Deliver the notice. None means "recorded as pending" (no channel configured);
        NotificationError means "try again later". Never undoes containment."""
        ...


class ReminderNotifier(Notifier, Protocol):
    """The reminder's sender: the first notice, then nudges and escalations."""

    def remind(self, incident: Incident, waited_hours: float) -> None: ...
    def escalate(self, incident: Incident, waited_hours: float) -> str | None:
        """Returns the ts of a new security-channel copy, if it had to post one."""
        ...


class DeadLetters(Protocol):
    """Where a message that will never succeed goes, with the reason it failed."""

    def send(self, body: str, reason: str, message_id: str, receive_count: int) -> None: ...


class ResumeQueue(Protocol):
    """Where the steps after a key's record go while other reports wait for a worker."""

    def waiting(self) -> int:
        """Reports not yet finished on the queues the responder reads (approximate): waiting
        for a worker or in one's hands, the caller's own batch included."""
        ...

    def send(self, resumptions: Sequence[Resumption]) -> None:
        """Queue each resumption (after its ``delay_seconds``), or raise: never a partial
        success reported as a whole one."""
        ...


class Observer(Protocol):
    """How workflows report their steps: ``observe("deactivated", key_id=..., user_name=...)``.

    The domain never logs; the edge passes an observer that logs (Lambda), prints (the CLI) or
    records (tests).
    """

    def __call__(self, event: str, /, **fields: Any) -> None: ...


def ignore(event: str, /, **fields: Any) -> None:
    """The observer for callers that want no report."""
    return


class Clock(Protocol):
    def now(self) -> datetime: ...
