"""CloudTrail adapter: who minted a temporary (ASIA) key (the SessionLocator port).

IAM cannot answer this for session keys; CloudTrail's LookupEvents can, from any call made with
the key: its userIdentity names the role (sessionIssuer) or the user (GetSessionToken).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from leak_responder.adapters.aws.errors import translated
from leak_responder.domain.ports import PrincipalRef

PERMISSIONS: tuple[str, ...] = ("cloudtrail:LookupEvents",)

# account_id -> a CloudTrail client acting in that account.
CloudTrailClientFor = Callable[[str], Any]
MAX_EVENTS = 50


def principal_from_identity(identity: dict[str, Any]) -> PrincipalRef | None:
    kind = identity.get("type")
    if kind == "AssumedRole":
        issuer = identity.get("sessionContext", {}).get("sessionIssuer", {})
        if issuer.get("type") == "Role" and issuer.get("userName") and issuer.get("arn"):
            return PrincipalRef("role", str(issuer["userName"]), str(issuer["arn"]))
    if kind == "IAMUser" and identity.get("userName") and identity.get("arn"):
        return PrincipalRef("user", str(identity["userName"]), str(identity["arn"]))
    return None


class CloudTrailSessionLocator:
    def __init__(self, client_for: CloudTrailClientFor) -> None:
        self._client_for = client_for

    def principal_of_session_key(self, key_id: str, account_id: str) -> PrincipalRef | None:
        client = self._client_for(account_id)
        with translated("cloudtrail:LookupEvents"):
            response = client.lookup_events(
                LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
                MaxResults=MAX_EVENTS,
            )
        for event in response.get("Events", []):
            try:
                record = json.loads(event.get("CloudTrailEvent") or "{}")
            except ValueError:
                continue
            principal = principal_from_identity(record.get("userIdentity") or {})
            if principal is not None:
                return principal
        return None
