"""Security Hub findings (``aws.securityhub``, imported or sent by a custom action).

One event carries ``detail.findings[]`` in ASFF. Each ``AwsIamAccessKey`` resource is one key:
the ID is in ``Details.AwsIamAccessKey.AccessKeyId`` or, for findings imported from GuardDuty,
only in the resource ``Id`` as ``AWS::IAM::AccessKey:<key id>``. The owner is
``PrincipalName`` (``UserName`` before it was deprecated). Findings of other resource types
are ignored; archived or suppressed findings report nothing new and are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import Evidence, LeakedKey, PrincipalType, Report, Source
from leak_responder.sources._common import (
    Collector,
    Envelope,
    account_id,
    clip,
    get_list,
    get_map,
    iam_name,
    key_id,
    severity_text,
)
from leak_responder.sources.registry import event_normaliser

RESOURCE_TYPE = "AwsIamAccessKey"
RESOURCE_ID_PREFIX = "AWS::IAM::AccessKey:"
PRINCIPAL_TYPES = {
    "iamuser": PrincipalType.IAM_USER,
    "assumedrole": PrincipalType.ASSUMED_ROLE,
    "root": PrincipalType.ROOT,
}
_WHERE = "securityhub"


@event_normaliser(
    "aws.securityhub",
    "Security Hub Findings - Imported",
    "Security Hub Findings - Custom Action",
)
def normalise_securityhub(event: Envelope) -> list[Report]:
    findings = get_list(event.detail, "findings")
    if not findings:
        raise RejectedMessageError(f"{_WHERE}: event has no findings")
    collector = Collector(_WHERE)
    for finding in findings:
        if not isinstance(finding, Mapping) or _closed(finding):
            continue
        for resource in get_list(finding, "Resources"):
            if isinstance(resource, Mapping) and resource.get("Type") == RESOURCE_TYPE:
                collector.add(_leaked_key, event, finding, resource)
    return collector.result(f"no open finding has an {RESOURCE_TYPE} resource")


def _closed(finding: Mapping[str, Any]) -> bool:
    workflow = get_map(finding, "Workflow") or {}
    return finding.get("RecordState") == "ARCHIVED" or workflow.get("Status") == "SUPPRESSED"


def _leaked_key(
    event: Envelope, finding: Mapping[str, Any], resource: Mapping[str, Any]
) -> LeakedKey:
    details = get_map(get_map(resource, "Details") or {}, RESOURCE_TYPE) or {}
    raw_key = details.get("AccessKeyId") or _key_from_resource_id(resource.get("Id"))
    name = details.get("PrincipalName") or details.get("UserName")
    principal = _principal(details.get("PrincipalType"), name)
    severity = get_map(finding, "Severity") or {}
    types = get_list(finding, "Types")
    return LeakedKey(
        key_id=key_id(raw_key, _WHERE),
        source=Source.SECURITYHUB,
        observed_at=event.observed(finding.get("UpdatedAt"), finding.get("LastObservedAt")),
        account_id=account_id(details.get("AccountId"), _WHERE)
        or account_id(finding.get("AwsAccountId"), _WHERE)
        or event.account,
        user_name=iam_name(name)
        if principal in (PrincipalType.IAM_USER, PrincipalType.ASSUMED_ROLE)
        else None,
        principal_type=principal,
        evidence=Evidence(
            finding_type=clip(types[0] if types else finding.get("GeneratorId"), 256),
            severity=severity_text(severity.get("Label") or severity.get("Normalized")),
            event_id=clip(finding.get("Id")),
            detail=clip(finding.get("Title"), 200),
        ),
    )


def _key_from_resource_id(resource_id: object) -> object:
    if isinstance(resource_id, str) and resource_id.startswith(RESOURCE_ID_PREFIX):
        return resource_id[len(RESOURCE_ID_PREFIX) :]
    return resource_id


def _principal(principal_type: object, name: object) -> PrincipalType:
    if isinstance(principal_type, str):
        return PRINCIPAL_TYPES.get(principal_type.lower(), PrincipalType.UNKNOWN)
    # Older GuardDuty imports only set the deprecated UserName, "Root" for the root user.
    if isinstance(name, str) and name.lower() == "root":
        return PrincipalType.ROOT
    return PrincipalType.IAM_USER if iam_name(name) else PrincipalType.UNKNOWN
