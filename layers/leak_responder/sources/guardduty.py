"""GuardDuty findings (``aws.guardduty`` / ``GuardDuty Finding``) whose resource is an access key.

``detail.resource.accessKeyDetails`` holds ``accessKeyId``, ``principalId``, ``userName`` and
``userType``. For ``AssumedRole`` the key is a session key (ASIA) and ``userName`` is the role's
name. GuardDuty's sample findings carry the placeholder ``GeneratedFindingAccessKeyId``, which
is rejected as an invalid key ID.
"""

from __future__ import annotations

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import Evidence, LeakedKey, PrincipalType, Report, Source
from leak_responder.sources._common import (
    Envelope,
    account_id,
    clip,
    get_map,
    iam_name,
    key_id,
    preview,
    severity_text,
)
from leak_responder.sources.registry import event_normaliser

USER_TYPES = {
    "IAMUser": PrincipalType.IAM_USER,
    "AssumedRole": PrincipalType.ASSUMED_ROLE,
    "Root": PrincipalType.ROOT,
}
_WHERE = "guardduty"


@event_normaliser("aws.guardduty", "GuardDuty Finding")
def normalise_guardduty(event: Envelope) -> list[Report]:
    detail = event.detail
    finding_type = clip(detail.get("type"), 256)
    details = get_map(get_map(detail, "resource") or {}, "accessKeyDetails")
    if details is None or details.get("accessKeyId") in (None, ""):
        raise RejectedMessageError(
            f"{_WHERE}: finding {preview(finding_type)} has no access key resource"
        )
    user_type = details.get("userType")
    principal = (
        USER_TYPES.get(user_type, PrincipalType.UNKNOWN)
        if isinstance(user_type, str)
        else PrincipalType.UNKNOWN
    )
    # Only a user or a role name is useful to IAM; a root or federated "name" is not one.
    named = principal in (PrincipalType.IAM_USER, PrincipalType.ASSUMED_ROLE)
    service = get_map(detail, "service") or {}
    return [
        LeakedKey(
            key_id=key_id(details.get("accessKeyId"), _WHERE),
            source=Source.GUARDDUTY,
            observed_at=event.observed(detail.get("updatedAt"), service.get("eventLastSeen")),
            account_id=account_id(detail.get("accountId"), _WHERE) or event.account,
            user_name=iam_name(details.get("userName")) if named else None,
            principal_type=principal,
            evidence=Evidence(
                finding_type=finding_type,
                severity=severity_text(detail.get("severity")),
                event_id=clip(detail.get("id")),
                detail=clip(detail.get("title"), 200),
            ),
        )
    ]
