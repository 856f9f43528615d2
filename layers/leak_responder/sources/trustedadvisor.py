"""Trusted Advisor's "Exposed Access Keys" check (``aws.trustedadvisor``).

The flagged item is ``detail.check-item-detail``, keyed by the check's column titles:
"Access Key ID", "User Name (IAM or Root)", "Fraud Type", "Case ID", "Location",
"Time Updated" (epoch milliseconds). The event carries no account but the envelope's.
"""

from __future__ import annotations

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import Evidence, LeakedKey, Report, Source
from leak_responder.sources._common import (
    Envelope,
    clip,
    get_map,
    key_id,
    preview,
    principal_from_name,
)
from leak_responder.sources.registry import event_normaliser

CHECK_NAME = "Exposed Access Keys"
_WHERE = "trustedadvisor"


@event_normaliser("aws.trustedadvisor", "Trusted Advisor Check Item Refresh Notification")
def normalise_trustedadvisor(event: Envelope) -> list[Report]:
    detail = event.detail
    check = detail.get("check-name")
    if check != CHECK_NAME:
        raise RejectedMessageError(f"{_WHERE}: check {preview(check)} is not {CHECK_NAME!r}")
    status = detail.get("status")
    if isinstance(status, str) and status.upper() == "OK":
        # A refresh back to OK means the key is no longer flagged: nothing to contain.
        raise RejectedMessageError(f"{_WHERE}: item status is OK, no exposed key")
    item = get_map(detail, "check-item-detail")
    if item is None:
        raise RejectedMessageError(f"{_WHERE}: event has no check-item-detail")
    principal, user = principal_from_name(item.get("User Name (IAM or Root)"))
    fraud_type = clip(item.get("Fraud Type"), 64)
    return [
        LeakedKey(
            key_id=key_id(item.get("Access Key ID"), _WHERE),
            source=Source.TRUSTEDADVISOR,
            observed_at=event.observed(item.get("Time Updated")),
            account_id=event.account,
            user_name=user,
            principal_type=principal,
            evidence=Evidence(
                url=clip(item.get("Location"), 2048),
                finding_type=CHECK_NAME,
                event_id=clip(item.get("Case ID")),
                detail=f"Fraud Type: {fraud_type}" if fraud_type else None,
            ),
        )
    ]
