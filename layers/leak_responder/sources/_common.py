"""What every normaliser shares: field access, safe previews, key IDs, accounts and timestamps.

Everything here reads untrusted input. A rejection reason goes to logs and to the DLQ's
``reason`` attribute, so it is short, printable, and never contains more than a few characters
of a value that could be a secret. Text kept as evidence is shown in Slack and stored with the
incident, so any URL in it loses its credentials first (a CI clone URL carries a job token).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec

from leak_responder.domain.errors import InvalidKeyIdError, RejectedMessageError
from leak_responder.domain.model import (
    ACCOUNT_ID_PATTERN,
    KEY_ID_PATTERN,
    PrincipalType,
    Report,
)
from leak_responder.redact import redact_reason, redact_text

log = logging.getLogger(__name__)

P = ParamSpec("P")

PREVIEW_CHARS = 40
# GuardDutySeverityThreshold's default in template.yaml: GuardDuty findings (also imported into
# Security Hub) below it are not acted on. The deployed value comes in through Settings.
DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD = 4.0
# A value longer than this is never shown, not even in part: an AWS secret key is 40 chars.
_KEY_PREVIEW_MAX_LEN = 32
_KEY_PREVIEW_CHARS = 8
# IAM user and role names: letters, digits and +=,.@_- (role session names allow the same).
_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_ROOT_NAMES = frozenset({"root", "<root_account>", "<root>"})
_EXCESS_FRACTION = re.compile(r"(\.\d{6})\d+")


def preview(value: object, limit: int = PREVIEW_CHARS) -> str:
    """A short printable rendering of an untrusted value, for a rejection reason: never a run
    that could hold a secret key, nor a URL's credentials (``redact_reason``)."""
    if isinstance(value, str):
        # Redacted whole, then cut: a cut first could leave most of a secret that the run
        # around it would have marked, or split a URL's userinfo from the "@" that marks it.
        text = redact_reason(value)
        text = text if len(text) <= limit else text[:limit] + "…"
        return repr(text)  # repr escapes newlines and control characters
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def clip(value: object, limit: int = 512) -> str | None:
    """A non-empty string from the event, made safe (``redact_text``: URL credentials and
    secret-shaped tokens), cut to
    ``limit`` characters; anything else is None.

    Every evidence field is read through here, so a URL in a title or a location is covered
    wherever a source puts it. Made safe before the cut: a cut through the userinfo would
    drop the ``@`` that marks it and keep the start of the token.
    """
    if not isinstance(value, str):
        return None
    # Evidence reaches Slack and the incident table: secret-shaped tokens go too, not only
    # URL credentials (a scanner bug or a finding title can carry a secret key).
    text = redact_text(value.strip())
    return text[:limit] if text else None


def get_map(container: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = container.get(key)
    return value if isinstance(value, Mapping) else None


def get_list(container: Mapping[str, Any], key: str) -> list[Any]:
    value = container.get(key)
    return value if isinstance(value, list) else []


def folded(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keys lower-cased without ``_``/``-``: metadata key names vary in case between sources."""
    if not mapping:
        return {}
    return {
        k.lower().replace("_", "").replace("-", ""): v
        for k, v in mapping.items()
        if isinstance(k, str)
    }


def key_id(value: object, where: str) -> str:
    """The access key ID, or a rejection that shows at most a few characters of the value."""
    if isinstance(value, str) and KEY_ID_PATTERN.fullmatch(value):
        return value
    if value is None or value == "":
        raise RejectedMessageError(f"{where}: no access key id")
    if not isinstance(value, str):
        raise InvalidKeyIdError(f"{where}: access key id is {preview(value)}, not a string")
    if len(value) > _KEY_PREVIEW_MAX_LEN:
        shown = "value not shown"
    else:
        head = value[:_KEY_PREVIEW_CHARS]
        shown = repr(head + ("…" if len(value) > _KEY_PREVIEW_CHARS else ""))
    raise InvalidKeyIdError(
        f"{where}: invalid access key id ({shown}, {len(value)} chars); "
        "expected AKIA or ASIA followed by 16 of [A-Z0-9]"
    )


def account_id(value: object, where: str) -> str | None:
    """A 12-digit account ID, None when absent, a rejection when present but malformed."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and ACCOUNT_ID_PATTERN.fullmatch(value):
        return value
    raise RejectedMessageError(f"{where}: invalid account id {preview(value, 20)}")


def iam_name(value: object) -> str | None:
    """An IAM user or role name, or None: a malformed name is dropped, not trusted.

    The name only saves a lookup; containment finds the owner from the key ID without it.
    """
    if isinstance(value, str) and _IAM_NAME.fullmatch(value):
        return value
    return None


def principal_from_name(value: object) -> tuple[PrincipalType, str | None]:
    """Trusted Advisor and Health name the owner only: ``Root`` means the account's root user."""
    if isinstance(value, str) and value.strip().lower() in _ROOT_NAMES:
        return PrincipalType.ROOT, None
    name = iam_name(value)
    return (PrincipalType.IAM_USER, name) if name else (PrincipalType.UNKNOWN, None)


def severity_text(value: object) -> str | None:
    """GuardDuty sends a number (8, 5.5), Security Hub a label: both become short text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return clip(value, 32)


def parse_time(value: object) -> datetime | None:
    """ISO 8601 (EventBridge, GuardDuty, ASFF, scanner), RFC 1123 (Health's ``startTime``) or
    epoch milliseconds as digits (Trusted Advisor). Anything else is None, never an error:
    a bad timestamp must not stop a leaked key from being contained."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        if isinstance(value, int | float):
            return _from_epoch(float(value))
        text = value.strip()
        if not text:
            return None
        if text.isdigit():
            return _from_epoch(float(text))
        if text[:4].isdigit():
            parsed = datetime.fromisoformat(
                _EXCESS_FRACTION.sub(r"\1", text.replace("Z", "+00:00"))
            )
        else:
            # Imported here: only Health's RFC 1123 startTime needs it, and it costs ~6 ms of
            # cold start that would otherwise come before every deactivation.
            from email.utils import parsedate_to_datetime

            parsed = parsedate_to_datetime(text)
    except (ValueError, TypeError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_epoch(number: float) -> datetime:
    # Milliseconds from Trusted Advisor; plain seconds otherwise (1e11 s is the year 5138).
    seconds = number / 1000 if number > 1e11 else number
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Envelope:
    """An EventBridge event, with the fields every normaliser uses already checked."""

    source: str
    detail_type: str
    detail: Mapping[str, Any]
    raw_account: object
    time: datetime | None
    event_id: str | None
    region: str | None
    received_at: datetime
    # Security Hub holds the GuardDuty findings it imports to this, as the rules do.
    guardduty_severity_threshold: float = DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD

    @property
    def account(self) -> str | None:
        """The envelope's account, checked only when used: moto omits it, and for
        organisation-wide Health events it is the management account, not the owner's."""
        return account_id(self.raw_account, "event envelope")

    def observed(self, *candidates: object) -> datetime:
        """The first of the event's own timestamps that parses, else the envelope's time,
        else when the message was received."""
        for candidate in candidates:
            parsed = parse_time(candidate)
            if parsed is not None:
                return parsed
        return self.time or self.received_at


class Collector:
    """One report per item of a multi-item event (Health entities, Security Hub findings).

    An item whose key is invalid is skipped when other items are valid, so that one bad
    finding among several does not hold back the containment of the others; it is logged.
    When no item is valid, the first item's rejection is the message's.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.reports: list[Report] = []
        self.errors: list[RejectedMessageError] = []

    def add(self, build: Callable[P, Report], *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            self.reports.append(build(*args, **kwargs))
        except RejectedMessageError as exc:
            self.errors.append(exc)

    def extend(self, reports: Iterable[Report]) -> None:
        self.reports.extend(reports)

    def result(self, nothing_found: str) -> list[Report]:
        if self.reports:
            for error in self.errors:
                log.warning("skipped one item of a %s event: %s", self.where, error.reason)
            return self.reports
        if self.errors:
            raise self.errors[0]
        raise RejectedMessageError(f"{self.where}: {nothing_found}")
