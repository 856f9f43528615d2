"""Scanner messages: what ``leak-scan --report`` puts on the queue (docs/interfaces.md).

The schema is versioned; an unknown ``schema`` is rejected before this module is reached.
A scanner message never carries a secret: one with a field named like a secret is rejected
outright, and the field's value is neither read nor echoed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import Evidence, LeakedKey, Report, Source
from leak_responder.sources._common import (
    account_id,
    clip,
    get_map,
    key_id,
    parse_time,
    preview,
)
from leak_responder.sources.registry import schema_normaliser

SCHEMA_V1 = "leak-responder/scanner-finding/v1"
# Field names, folded to lower-case letters and digits, that hold secrets. `secret_present`
# (a bool saying the scanner saw one) is not among them.
SECRET_FIELDS = frozenset({"secret", "secretkey", "secretvalue", "password", "token"})
SECRET_FRAGMENTS = ("secretaccesskey", "sessiontoken", "privatekey")
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_WHERE = "scanner"


@schema_normaliser(SCHEMA_V1)
def normalise_scanner_v1(message: Mapping[str, Any], received_at: datetime) -> list[Report]:
    field = secret_field(message)
    if field is not None:
        raise RejectedMessageError(
            f"{_WHERE}: message has a secret field {preview(field)}; "
            "scanner messages must never carry a secret"
        )
    location = get_map(message, "location") or {}
    scanner = clip(message.get("scanner"), 64)
    seen = "secret present" if message.get("secret_present") is True else "key id only"
    return [
        LeakedKey(
            key_id=key_id(message.get("key_id"), _WHERE),
            source=Source.SCANNER,
            observed_at=parse_time(message.get("detected_at")) or received_at,
            account_id=account_id(message.get("account_id"), _WHERE),
            evidence=Evidence(
                url=clip(location.get("url"), 2048),
                repository=clip(location.get("repository"), 512),
                path=clip(location.get("path"), 1024),
                line=_line(location.get("line")),
                commit=clip(location.get("commit"), 64),
                detail=f"{scanner}, {seen}" if scanner else seen,
            ),
        )
    ]


def secret_field(value: object, depth: int = 0) -> str | None:
    """The name of the first field, at any depth, that looks like it holds a secret."""
    if depth > 8:
        # Too deep to have been written by leak-scan, and too deep to check cheaply.
        raise RejectedMessageError(f"{_WHERE}: message is nested too deeply")
    if isinstance(value, Mapping):
        for name, item in value.items():
            if isinstance(name, str) and _is_secret_name(name):
                return name
            found = secret_field(item, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = secret_field(item, depth + 1)
            if found is not None:
                return found
    return None


def _is_secret_name(name: str) -> bool:
    folded = _NON_ALNUM.sub("", name.lower())
    return folded in SECRET_FIELDS or any(part in folded for part in SECRET_FRAGMENTS)


def _line(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value) or None
    return None
