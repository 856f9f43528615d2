"""AWS attaching its compromised-key quarantine policy, seen in CloudTrail
(``aws.iam`` / ``AWS API Call via CloudTrail``, ``AttachUserPolicy``).

The policy is AWS-managed and versioned: ``AWSCompromisedKeyQuarantine``, then ``V2``, ``V3``
and, one day, later versions, which must all match. The event names the user, not the key,
so it becomes a ``QuarantinedUser`` that containment expands into the user's active keys.
"""

from __future__ import annotations

import re

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import Evidence, QuarantinedUser, Report
from leak_responder.sources._common import (
    Envelope,
    account_id,
    clip,
    get_map,
    iam_name,
    preview,
)
from leak_responder.sources.registry import event_normaliser

EVENT_NAME = "AttachUserPolicy"
# Only AWS-managed (account "aws"): a customer policy of the same name is not AWS's verdict.
QUARANTINE_POLICY_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:iam::aws:policy/(AWSCompromisedKeyQuarantine(?:V[0-9]+)?)"
)
_WHERE = "cloudtrail"


@event_normaliser("aws.iam", "AWS API Call via CloudTrail")
def normalise_cloudtrail(event: Envelope) -> list[Report]:
    detail = event.detail
    name = detail.get("eventName")
    if name != EVENT_NAME:
        raise RejectedMessageError(f"{_WHERE}: event {preview(name)} is not {EVENT_NAME}")
    if detail.get("errorCode"):
        raise RejectedMessageError(
            f"{_WHERE}: {EVENT_NAME} failed with {preview(detail.get('errorCode'))}; "
            "no policy was attached"
        )
    params = get_map(detail, "requestParameters") or {}
    policy_arn = params.get("policyArn")
    match = QUARANTINE_POLICY_ARN.fullmatch(policy_arn) if isinstance(policy_arn, str) else None
    if match is None:
        raise RejectedMessageError(
            f"{_WHERE}: policy {preview(policy_arn, 100)} is not AWS's compromised-key "
            "quarantine policy"
        )
    user = iam_name(params.get("userName"))
    if user is None:
        raise RejectedMessageError(
            f"{_WHERE}: {EVENT_NAME} names no valid user ({preview(params.get('userName'))})"
        )
    identity = get_map(detail, "userIdentity") or {}
    attached_by = clip(identity.get("invokedBy") or identity.get("arn") or identity.get("type"))
    return [
        QuarantinedUser(
            user_name=user,
            policy_name=match.group(1),
            observed_at=event.observed(detail.get("eventTime")),
            account_id=account_id(detail.get("recipientAccountId"), _WHERE) or event.account,
            evidence=Evidence(
                finding_type=f"{EVENT_NAME} {match.group(1)}",
                event_id=clip(detail.get("eventID")),
                detail=f"attached by {attached_by}" if attached_by else None,
            ),
        )
    ]
