"""The leaked-key record every source is normalised into, and the incident it opens."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from leak_responder.domain.errors import InvalidKeyIdError, RejectedMessageError

KEY_ID_PATTERN = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")


class Source(StrEnum):
    HEALTH = "health"
    GUARDDUTY = "guardduty"
    SECURITYHUB = "securityhub"
    TRUSTEDADVISOR = "trustedadvisor"
    CLOUDTRAIL_QUARANTINE = "cloudtrail-quarantine"
    SCANNER = "scanner"
    MANUAL = "manual"


class PrincipalType(StrEnum):
    IAM_USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"
    ROOT = "Root"
    UNKNOWN = "unknown"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def validate_key_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        shown = key_id[:24] if isinstance(key_id, str) else type(key_id).__name__
        raise InvalidKeyIdError(f"invalid access key id: {shown!r}")
    return key_id


@dataclass(frozen=True)
class Evidence:
    """Where and how the key was seen. Never holds a secret."""

    url: str | None = None
    repository: str | None = None
    path: str | None = None
    line: int | None = None
    commit: str | None = None
    finding_type: str | None = None
    severity: str | None = None
    event_id: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def summary(self) -> str:
        """One human line: the exposed URL, file:line@commit, or the finding type."""
        if self.path:
            where = f"{self.path}:{self.line}" if self.line else self.path
            if self.commit:
                where += f" @ {self.commit[:12]}"
            if self.repository:
                where = f"{self.repository} {where}"
            return where
        parts = [p for p in (self.url, self.finding_type, self.detail) if p]
        return " · ".join(parts) if parts else "no further evidence"


@dataclass(frozen=True)
class LeakedKey:
    """One report of one leaked access key ID, whatever source it came from."""

    key_id: str
    source: Source
    observed_at: datetime
    account_id: str | None = None
    user_name: str | None = None
    principal_type: PrincipalType = PrincipalType.UNKNOWN
    evidence: Evidence = field(default_factory=Evidence)
    # AWS attached its AWSCompromisedKeyQuarantine* policy to the owner (Health IAM_QUARANTINE,
    # the CloudTrail event): the replacement key is restricted too, and the owner must be told.
    quarantined: bool = False

    def __post_init__(self) -> None:
        validate_key_id(self.key_id)
        if self.account_id is not None and not ACCOUNT_ID_PATTERN.fullmatch(self.account_id):
            raise RejectedMessageError(f"invalid account id: {self.account_id[:20]!r}")

    @property
    def is_session_key(self) -> bool:
        """ASIA keys are temporary STS credentials: they cannot be deactivated, only revoked."""
        return self.key_id.startswith("ASIA")

    def sighting(self, received_at: datetime) -> Sighting:
        return Sighting(
            source=self.source,
            observed_at=iso(self.observed_at),
            received_at=iso(received_at),
            evidence=self.evidence.as_dict(),
        )


@dataclass(frozen=True)
class QuarantinedUser:
    """AWS attached its compromised-key quarantine policy to a user (CloudTrail AttachUserPolicy).

    The event names only the user, so containment expands it into one LeakedKey per active key.
    """

    user_name: str
    policy_name: str
    observed_at: datetime
    account_id: str | None = None
    evidence: Evidence = field(default_factory=Evidence)

    def __post_init__(self) -> None:
        if self.account_id is not None and not ACCOUNT_ID_PATTERN.fullmatch(self.account_id):
            raise RejectedMessageError(f"invalid account id: {self.account_id[:20]!r}")

    def leaked_key(self, key_id: str) -> LeakedKey:
        return LeakedKey(
            key_id=key_id,
            source=Source.CLOUDTRAIL_QUARANTINE,
            observed_at=self.observed_at,
            account_id=self.account_id,
            user_name=self.user_name,
            principal_type=PrincipalType.IAM_USER,
            evidence=self.evidence,
            quarantined=True,
        )


Report = LeakedKey | QuarantinedUser


@dataclass(frozen=True)
class Sighting:
    source: Source
    observed_at: str
    received_at: str
    evidence: dict[str, Any]

    def fingerprint(self) -> str:
        """Same source and same evidence: a redelivery or a repeated alert, not new information."""
        ev = ",".join(f"{k}={self.evidence[k]}" for k in sorted(self.evidence))
        return f"{self.source}|{ev}"


class Step(StrEnum):
    """Containment steps in order. Each is recorded once; a redelivery resumes after the last."""

    RESOLVED = "resolved"
    LOCATED = "located"
    DEACTIVATED = "deactivated"
    SESSIONS_REVOKED = "sessions_revoked"
    REPLACED = "replaced"
    DELIVERED = "delivered"
    TAGGED = "tagged"
    NOTIFIED = "notified"


class IncidentStatus(StrEnum):
    OPEN = "open"  # containment in progress
    CONTAINED = "contained"  # old key inactive, waiting for approval to delete
    ALERT_ONLY = "alert_only"  # root key, protected principal, foreign account, dry run
    UNKNOWN_KEY = "unknown_key"  # no such key (already deleted, or not ours)
    DELETED = "deleted"  # old key deleted after approval
    REACTIVATED = "reactivated"  # false positive, reactivated by an approver
    REVOKED = "revoked"  # temporary (ASIA) key: its sessions were revoked; nothing to delete


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"


@dataclass(frozen=True)
class Incident:
    """The DynamoDB record of one leaked key, keyed ``account_id#key_id``."""

    incident_id: str  # opaque, random; the only thing Slack buttons carry
    account_id: str
    key_id: str
    created_at: str
    status: IncidentStatus = IncidentStatus.OPEN
    user_name: str | None = None
    principal_type: PrincipalType = PrincipalType.UNKNOWN
    # For ASIA keys: the IAM role or user whose sessions were revoked.
    session_principal_arn: str | None = None
    steps: dict[str, str] = field(default_factory=dict)  # Step -> ISO time it completed
    sightings: tuple[Sighting, ...] = ()  # distinct sightings, capped; see sighting_count
    sighting_count: int = 0  # every delivery, duplicates included
    first_received_at: str | None = None
    deactivated_at: str | None = None
    # Recorded the moment CreateAccessKey answers, before its secret is stored: a worker that
    # finds it without DELIVERED knows exactly which key lost its secret in a crash.
    new_key_id: str | None = None
    secret_name: str | None = None
    secret_arn: str | None = None
    replacement_note: str | None = None  # why no replacement was made, when none was
    quarantined: bool = False
    dry_run: bool = False
    alert_reason: str | None = None
    # Steps that could not do all they meant to (tagging refused, sessions not revocable): the
    # key is contained regardless, and the notice tells the owner and the security team.
    notes: tuple[str, ...] = ()
    notification_status: NotificationStatus | None = None
    notification_attempts: int = 0
    # Work in progress that must not run twice at once: name -> "token|ISO time" (see
    # domain/incidents.claim). "replace" guards CreateAccessKey, "notify" a Slack notice.
    claims: dict[str, str] = field(default_factory=dict)
    slack_channel: str | None = None
    slack_ts: str | None = None
    security_channel_ts: str | None = None
    owner_slack_id: str | None = None
    reminded_at: str | None = None
    escalated_at: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    audit: tuple[dict[str, str], ...] = ()
    version: int = 0  # optimistic-locking counter, bumped by every write

    @property
    def pk(self) -> str:
        return incident_pk(self.account_id, self.key_id)

    def done(self, step: Step) -> bool:
        return step.value in self.steps

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(dict.fromkeys(s.source for s in self.sightings))


def incident_pk(account_id: str, key_id: str) -> str:
    return f"{account_id}#{key_id}"


# A resume is put back while reports wait, at most this many times (then it runs anyway), each
# time later: 2, 4, ... 256 seconds, about 8.5 minutes in all.
MAX_DEFERRALS = 8
MAX_DELAY_SECONDS = 900  # what SQS DelaySeconds takes


@dataclass(frozen=True)
class Resumption:
    """ "Finish incident X": the steps after the record, handed on while reports wait."""

    account_id: str
    key_id: str
    incident_id: str
    deferrals: int = 0  # how many times this resume was put back already

    def later(self) -> Resumption:
        return Resumption(self.account_id, self.key_id, self.incident_id, self.deferrals + 1)

    @property
    def delay_seconds(self) -> int:
        """Back-off that grows with each deferral, so a long storm costs few receives."""
        return 0 if self.deferrals == 0 else min(MAX_DELAY_SECONDS, 2**self.deferrals)

    @property
    def may_wait(self) -> bool:
        return self.deferrals < MAX_DEFERRALS
