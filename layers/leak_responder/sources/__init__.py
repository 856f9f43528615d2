"""Normalisers: every message the leak queue can carry becomes the domain's records.

An SQS body is either an EventBridge event (``source``, ``detail-type``, ``detail``, ``time``,
optionally ``account`` and ``region``) or a scanner message (``schema``). ``normalise`` turns
it into one ``LeakedKey`` per distinct key, or a ``QuarantinedUser``, or raises
``RejectedMessageError`` whose ``reason`` is short, safe to log and never holds a secret.

Adding a source is one module that registers itself (see ``registry``), imported below. This
runs on the cold-start path before the key is deactivated: plain ``json`` and the domain only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import LeakedKey, QuarantinedUser, Report, utcnow
from leak_responder.sources import (  # noqa: F401  (each module registers its normaliser)
    cloudtrail,
    guardduty,
    health,
    scanner,
    securityhub,
    trustedadvisor,
)
from leak_responder.sources._common import (
    DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD,
    Envelope,
    clip,
    parse_time,
    preview,
)
from leak_responder.sources.registry import event_types, for_event, for_schema, schemas

__all__ = [
    "DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD",
    "SCANNER_ONLY_REASON",
    "event_types",
    "normalise",
    "schemas",
]


SCANNER_ONLY_REASON = "only scanner findings are accepted on the scanner queue"


def normalise(
    body: str | bytes | Mapping[str, Any],
    *,
    received_at: datetime | None = None,
    scanner_only: bool = False,
    guardduty_severity_threshold: float = DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD,
) -> list[Report]:
    """The records in one queue message, deduplicated, never empty; or RejectedMessageError.

    ``scanner_only`` is for messages from a queue that scanner principals may write to: an
    EventBridge event there is a forgery (it could name any user or role), so only a scanner
    message is read. ``guardduty_severity_threshold`` is the stack's GuardDutySeverityThreshold:
    Security Hub findings imported from GuardDuty below it are not acted on, as the rule that
    routes them to the queue does not act on them either.
    """
    received = _aware(received_at) if received_at is not None else utcnow()
    message = _parse(body)
    if scanner_only and (_is_event(message) or "schema" not in message):
        raise RejectedMessageError(SCANNER_ONLY_REASON)
    if _is_event(message):
        reports = _normalise_event(message, received, guardduty_severity_threshold)
    elif "schema" in message:
        reports = _normalise_scanner(message, received)
    else:
        raise RejectedMessageError("neither an EventBridge event nor a scanner message")
    reports = _distinct(reports)
    if not reports:
        raise RejectedMessageError("message names no access key")
    return reports


def _parse(body: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise RejectedMessageError("body is not UTF-8 text") from None
    if not isinstance(body, str):
        raise RejectedMessageError(f"body is {preview(body)}, not JSON text")
    if not body.strip():
        raise RejectedMessageError("body is empty")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        # The decoder's message quotes the body: it is not repeated here.
        raise RejectedMessageError("body is not JSON") from None
    if not isinstance(message, dict):
        kind = "null" if message is None else type(message).__name__
        raise RejectedMessageError(f"body is a JSON {kind}, not an object")
    return message


def _is_event(message: Mapping[str, Any]) -> bool:
    return "detail-type" in message or ("source" in message and "detail" in message)


def _normalise_event(
    message: Mapping[str, Any], received_at: datetime, guardduty_severity_threshold: float
) -> list[Report]:
    source = message.get("source")
    detail_type = message.get("detail-type")
    if not isinstance(source, str) or not isinstance(detail_type, str):
        raise RejectedMessageError(
            f"EventBridge event without a source or detail-type "
            f"(source {preview(source)}, detail-type {preview(detail_type)})"
        )
    normaliser = for_event(source, detail_type)
    if normaliser is None:
        raise RejectedMessageError(
            f"unsupported event: source {preview(source)}, detail-type {preview(detail_type)}"
        )
    detail = message.get("detail")
    if not isinstance(detail, Mapping):
        raise RejectedMessageError(f"{source} event has no detail object")
    return normaliser(
        Envelope(
            source=source,
            detail_type=detail_type,
            detail=detail,
            raw_account=message.get("account"),
            time=parse_time(message.get("time")),
            event_id=clip(message.get("id")),
            region=clip(message.get("region"), 32),
            received_at=received_at,
            guardduty_severity_threshold=guardduty_severity_threshold,
        )
    )


def _normalise_scanner(message: Mapping[str, Any], received_at: datetime) -> list[Report]:
    schema = message.get("schema")
    normaliser = for_schema(schema) if isinstance(schema, str) else None
    if normaliser is None:
        raise RejectedMessageError(f"unknown scanner message schema {preview(schema, 80)}")
    return normaliser(message, received_at)


def _distinct(reports: list[Report]) -> list[Report]:
    """One report per key (per user for a quarantine), the first sighting in the message."""
    seen: dict[tuple[str, str | None, str], Report] = {}
    for report in reports:
        # Key IDs are unique across AWS: the same key is the same key whatever account is named.
        if isinstance(report, LeakedKey):
            identity: tuple[str, str | None, str] = ("key", None, report.key_id)
        else:
            assert isinstance(report, QuarantinedUser)
            identity = ("user", report.account_id, report.user_name)
        seen.setdefault(identity, report)
    return list(seen.values())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
