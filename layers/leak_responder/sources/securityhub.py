"""Security Hub findings (``aws.securityhub``): ASFF when imported or sent by a custom action,
OCSF in "Findings Imported V2" events.

ASFF: one event carries ``detail.findings[]``. Each ``AwsIamAccessKey`` resource is one key:
the ID is in ``Details.AwsIamAccessKey.AccessKeyId`` or, for findings imported from GuardDuty,
only in the resource ``Id`` as ``AWS::IAM::AccessKey:<key id>``. The owner is
``PrincipalName`` (``UserName`` before it was deprecated).

OCSF (Security Hub's newer events, OCSF Detection Findings): ``detail.findings[]`` again. Each
resource of type ``AWS::IAM::AccessKey`` (or ASFF's ``AwsIamAccessKey``) is one key, its ID in
``uid`` (bare or prefixed as in ASFF) or ``name``; the account is ``cloud.account.uid``; the
product is ``metadata.product`` (``name``, ``uid``: the ASFF product ARN); the state is
``status``/``status_id``; the severity ``severity_id`` (1 Informational to 6 Fatal). ASFF's
resource details, where kept, are under the resource's ``data``.

Findings of other resource types are ignored. Both formats pass the gate of the template's
``SecurityHubAccessKeyRule`` here too, since a redriven or hand-sent message never went through
the rule:

- a closed finding reports nothing new and is skipped: ASFF ``RecordState`` ARCHIVED,
  ``Workflow.Status`` RESOLVED or SUPPRESSED, ``Compliance.Status`` PASSED; OCSF ``status``
  Resolved, Suppressed or Archived, ``compliance.status`` Pass;
- a finding of GuardDuty is held to GuardDutySeverityThreshold on GuardDuty's own scale
  (1.0-10.0). In ASFF that is ``Severity.Product``, the number GuardDuty gave the finding:
  ``Label`` and ``Normalized`` are other scales (an imported severity-2 finding carries
  Normalized 40), and ``FindingProviderFields.Severity`` of an import may hold only ``Label``.
  OCSF carries only GuardDuty's level (Low 1.0-3.9, Medium 4.0-6.9, High 7.0-8.9,
  Critical 9.0-10.0 as ``severity_id`` 2 to 5): the levels from the one the threshold falls
  in are acted on, which is exact when the threshold is where a level starts (the default, 4,
  is Medium's start).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import (
    KEY_ID_PATTERN,
    Evidence,
    LeakedKey,
    PrincipalType,
    Report,
    Source,
)
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

log = logging.getLogger(__name__)

RESOURCE_TYPE = "AwsIamAccessKey"
RESOURCE_ID_PREFIX = "AWS::IAM::AccessKey:"
OCSF_RESOURCE_TYPES = frozenset({"AWS::IAM::AccessKey", RESOURCE_TYPE})
PRINCIPAL_TYPES = {
    "iamuser": PrincipalType.IAM_USER,
    "assumedrole": PrincipalType.ASSUMED_ROLE,
    "root": PrincipalType.ROOT,
}
GUARDDUTY_PRODUCT_NAME = "GuardDuty"
# The product ARN, arn:<partition>:securityhub:<region>::product/aws/guardduty.
GUARDDUTY_PRODUCT_ARN_SUFFIX = "::product/aws/guardduty"
CLOSED_WORKFLOW_STATUSES = frozenset({"RESOLVED", "SUPPRESSED"})
OCSF_CLOSED_STATUSES = frozenset({"resolved", "suppressed", "archived"})
OCSF_CLOSED_STATUS_IDS = frozenset({3, 4, 5})  # Suppressed, Resolved, Archived
OCSF_COMPLIANCE_PASS_ID = 1
# GuardDuty's levels above Low: (the lowest severity in it, its OCSF severity_id).
GUARDDUTY_LEVELS = ((9.0, 5), (7.0, 4), (4.0, 3))
OCSF_INFORMATIONAL, OCSF_LOW, OCSF_FATAL = 1, 2, 6
_WHERE = "securityhub"


def ocsf_severity_floor(threshold: float) -> int:
    """The lowest OCSF ``severity_id`` of a GuardDuty finding acted on: its level's, where the
    threshold falls (template.yaml computes the same from GuardDutySeverityThreshold)."""
    for lowest, severity_id in GUARDDUTY_LEVELS:
        if threshold >= lowest:
            return severity_id
    return OCSF_LOW


class _Gate:
    """Keeps GuardDuty findings below the threshold out of the Collector.

    Below the threshold is "nothing to do", decided as for an archived finding: the finding is
    skipped before the Collector sees it, so it is neither logged as a bad item nor made the
    message's reason, and it never holds back the other findings of the message. A message left
    with nothing to act on gets the Collector's "no open finding" reason, as an archived-only
    message does: the rule routes neither, so such a message was redriven or sent by hand, and
    the reason on the dead letter says why nothing was done. A GuardDuty finding whose severity
    cannot be read is a bad item, like an invalid key ID.
    """

    def __init__(self, collector: Collector, threshold: float) -> None:
        self.collector = collector
        self.threshold = threshold
        self.below = 0

    def admits(self, at_or_above: bool | None, missing: str) -> bool:
        if at_or_above is None:
            self.collector.errors.append(
                RejectedMessageError(f"{_WHERE}: GuardDuty finding without {missing}")
            )
            return False
        if not at_or_above:
            self.below += 1
            log.info("skipped a GuardDuty finding below the severity threshold")
        return at_or_above

    def result(self, resource: str) -> list[Report]:
        nothing_found = f"no open finding has an {resource} resource"
        if self.below:
            plural = "s" if self.below > 1 else ""
            nothing_found += (
                f" ({self.below} GuardDuty finding{plural} below the GuardDuty severity "
                f"threshold {self.threshold:g})"
            )
        return self.collector.result(nothing_found)


# --- ASFF ------------------------------------------------------------------------------------


@event_normaliser(
    "aws.securityhub",
    "Security Hub Findings - Imported",
    "Security Hub Findings - Custom Action",
)
def normalise_securityhub(event: Envelope) -> list[Report]:
    findings = get_list(event.detail, "findings")
    if not findings:
        raise RejectedMessageError(f"{_WHERE}: event has no findings")
    gate = _Gate(Collector(_WHERE), event.guardduty_severity_threshold)
    for finding in findings:
        if not isinstance(finding, Mapping) or _closed(finding):
            continue
        keys = [
            resource
            for resource in get_list(finding, "Resources")
            if isinstance(resource, Mapping) and resource.get("Type") == RESOURCE_TYPE
        ]
        if not keys:
            continue
        if _is_guardduty(finding.get("ProductName"), finding.get("ProductArn")):
            product = _number((get_map(finding, "Severity") or {}).get("Product"))
            at_or_above = None if product is None else product >= gate.threshold
            if not gate.admits(at_or_above, "a numeric Severity.Product"):
                continue
        for resource in keys:
            gate.collector.add(_leaked_key, event, finding, resource)
    return gate.result(RESOURCE_TYPE)


def _closed(finding: Mapping[str, Any]) -> bool:
    workflow = get_map(finding, "Workflow") or {}
    compliance = get_map(finding, "Compliance") or {}
    return (
        finding.get("RecordState") == "ARCHIVED"
        or workflow.get("Status") in CLOSED_WORKFLOW_STATUSES
        or compliance.get("Status") == "PASSED"
    )


def _leaked_key(
    event: Envelope, finding: Mapping[str, Any], resource: Mapping[str, Any]
) -> LeakedKey:
    details = get_map(get_map(resource, "Details") or {}, RESOURCE_TYPE) or {}
    raw_key = details.get("AccessKeyId") or _key_from_resource_id(resource.get("Id"))
    severity = get_map(finding, "Severity") or {}
    types = get_list(finding, "Types")
    return _key(
        event,
        raw_key,
        details,
        finding.get("AwsAccountId"),
        observed=(finding.get("UpdatedAt"), finding.get("LastObservedAt")),
        evidence=Evidence(
            finding_type=clip(types[0] if types else finding.get("GeneratorId"), 256),
            severity=severity_text(severity.get("Label") or severity.get("Normalized")),
            event_id=clip(finding.get("Id")),
            detail=clip(finding.get("Title"), 200),
        ),
    )


# --- OCSF ------------------------------------------------------------------------------------


@event_normaliser("aws.securityhub", "Findings Imported V2")
def normalise_securityhub_ocsf(event: Envelope) -> list[Report]:
    findings = get_list(event.detail, "findings")
    if not findings:
        raise RejectedMessageError(f"{_WHERE}: event has no findings")
    gate = _Gate(Collector(_WHERE), event.guardduty_severity_threshold)
    for finding in findings:
        if not isinstance(finding, Mapping) or _ocsf_closed(finding):
            continue
        keys = [
            resource
            for resource in get_list(finding, "resources")
            if isinstance(resource, Mapping) and resource.get("type") in OCSF_RESOURCE_TYPES
        ]
        if not keys:
            continue
        product = get_map(get_map(finding, "metadata") or {}, "product") or {}
        if _is_guardduty(product.get("name"), product.get("uid")):
            level = _ocsf_level(finding.get("severity_id"))
            at_or_above = None if level is None else level >= ocsf_severity_floor(gate.threshold)
            if not gate.admits(at_or_above, f"a severity_id from 1 to {OCSF_FATAL}"):
                continue
        for resource in keys:
            gate.collector.add(_ocsf_leaked_key, event, finding, resource)
    return gate.result("access key")


def _ocsf_closed(finding: Mapping[str, Any]) -> bool:
    compliance = get_map(finding, "compliance") or {}
    return (
        _lower(finding.get("status")) in OCSF_CLOSED_STATUSES
        or _enum_id(finding.get("status_id")) in OCSF_CLOSED_STATUS_IDS
        or _lower(compliance.get("status")) == "pass"
        or _enum_id(compliance.get("status_id")) == OCSF_COMPLIANCE_PASS_ID
    )


def _ocsf_leaked_key(
    event: Envelope, finding: Mapping[str, Any], resource: Mapping[str, Any]
) -> LeakedKey:
    details = get_map(get_map(resource, "data") or {}, RESOURCE_TYPE) or {}
    info = get_map(finding, "finding_info") or {}
    cloud_account = get_map(get_map(finding, "cloud") or {}, "account") or {}
    types = get_list(info, "types")
    return _key(
        event,
        _ocsf_key_id(resource),
        details,
        cloud_account.get("uid"),
        observed=(info.get("modified_time_dt"), finding.get("time_dt"), finding.get("time")),
        evidence=Evidence(
            finding_type=clip(types[0] if types else finding.get("class_name"), 256),
            severity=severity_text(finding.get("severity") or finding.get("severity_id")),
            event_id=clip(info.get("uid")),
            detail=clip(info.get("title"), 200),
        ),
    )


def _ocsf_key_id(resource: Mapping[str, Any]) -> object:
    """The key ID from ``uid`` or else ``name``: whichever is one, else the first given (for
    the rejection to describe)."""
    candidates = [_key_from_resource_id(resource.get("uid")), resource.get("name")]
    for candidate in candidates:
        if isinstance(candidate, str) and KEY_ID_PATTERN.fullmatch(candidate):
            return candidate
    return next((c for c in candidates if c not in (None, "")), None)


# --- shared ----------------------------------------------------------------------------------


def _key(
    event: Envelope,
    raw_key: object,
    details: Mapping[str, Any],
    finding_account: object,
    *,
    observed: tuple[object, ...],
    evidence: Evidence,
) -> LeakedKey:
    name = details.get("PrincipalName") or details.get("UserName")
    principal = _principal(details.get("PrincipalType"), name)
    return LeakedKey(
        key_id=key_id(raw_key, _WHERE),
        source=Source.SECURITYHUB,
        observed_at=event.observed(*observed),
        account_id=account_id(details.get("AccountId"), _WHERE)
        or account_id(finding_account, _WHERE)
        or event.account,
        user_name=iam_name(name)
        if principal in (PrincipalType.IAM_USER, PrincipalType.ASSUMED_ROLE)
        else None,
        principal_type=principal,
        evidence=evidence,
    )


def _is_guardduty(product_name: object, product_arn: object) -> bool:
    return product_name == GUARDDUTY_PRODUCT_NAME or (
        isinstance(product_arn, str) and product_arn.endswith(GUARDDUTY_PRODUCT_ARN_SUFFIX)
    )


def _number(value: object) -> float | None:
    """A JSON number, as EventBridge's numeric matching reads it: never text, never a bool."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _enum_id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ocsf_level(value: object) -> int | None:
    """Informational (1) to Fatal (6); Unknown (0) and Other (99) are no level."""
    level = _enum_id(value)
    return level if level is not None and OCSF_INFORMATIONAL <= level <= OCSF_FATAL else None


def _lower(value: object) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


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
