"""The responder's own message: "finish this incident", sent to the resume queue.

When a batch arrives while reports are waiting, the responder deactivates every key of the
batch, records the incidents, and hands the rest of each (revoke, replace, tag, notify) to the
resume queue, so that waiting keys are deactivated before any incident's other IAM writes
(docs/architecture.md, "Deactivate first"). Only the responder's role may send to that queue,
and only messages from it are read as resumes.
"""

from __future__ import annotations

import json
from typing import Any

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import (
    ACCOUNT_ID_PATTERN,
    MAX_DEFERRALS,
    Resumption,
    validate_key_id,
)

RESUME_SCHEMA = "leak-responder.resume/v1"


def resumption_body(resumption: Resumption) -> str:
    return json.dumps(
        {
            "schema": RESUME_SCHEMA,
            "account_id": resumption.account_id,
            "key_id": resumption.key_id,
            "incident_id": resumption.incident_id,
            "deferrals": resumption.deferrals,
        },
        separators=(",", ":"),
    )


def parse_resumption(body: str) -> Resumption:
    """A resume message's fields, checked; RejectedMessageError for anything else."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RejectedMessageError("resume queue: body is not JSON") from exc
    if not isinstance(data, dict) or data.get("schema") != RESUME_SCHEMA:
        raise RejectedMessageError(f"resume queue: only {RESUME_SCHEMA} messages are accepted")
    account_id, incident_id = data.get("account_id"), data.get("incident_id")
    deferrals = data.get("deferrals", 0)
    if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise RejectedMessageError("resume: account_id is not an AWS account ID")
    key_id = validate_key_id(data.get("key_id"))
    if not isinstance(incident_id, str) or not 0 < len(incident_id) <= 64:
        raise RejectedMessageError("resume: incident_id is missing")
    if isinstance(deferrals, bool) or not isinstance(deferrals, int) or deferrals < 0:
        raise RejectedMessageError("resume: deferrals is not a count")
    return Resumption(account_id, key_id, incident_id, min(deferrals, MAX_DEFERRALS))
