"""AWS Health RISK events (``aws.health`` / ``AWS Health Event``).

Two shapes are in the wild. The 2016 one carries only ``affectedEntities[].entityValue``, the
key ID. The current one adds ``eventMetadata`` with the key, the user and the URL where the key
was found, whose key names vary in case (``publicKey``/``PublicKey``, ``exposedUrl``/
``exposedURL``). IAM events are global: ``region`` may be ``"global"`` and they are delivered
in us-east-1 only.
"""

from __future__ import annotations

from collections.abc import Mapping

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import Evidence, LeakedKey, PrincipalType, Report, Source
from leak_responder.sources._common import (
    Collector,
    Envelope,
    account_id,
    clip,
    folded,
    get_list,
    get_map,
    key_id,
    preview,
    principal_from_name,
)
from leak_responder.sources.registry import event_normaliser

QUARANTINE_EVENT = "AWS_RISK_IAM_QUARANTINE"
EVENT_TYPES = frozenset(
    {
        "AWS_RISK_CREDENTIALS_EXPOSED",
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
        "AWS_RISK_CREDENTIALS_COMPROMISED",
        "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
        QUARANTINE_EVENT,
    }
)
_WHERE = "health"


@event_normaliser("aws.health", "AWS Health Event")
def normalise_health(event: Envelope) -> list[Report]:
    detail = event.detail
    code = detail.get("eventTypeCode")
    if not isinstance(code, str) or code not in EVENT_TYPES:
        raise RejectedMessageError(
            f"{_WHERE}: event type {preview(code)} is not a credential-exposure event"
        )
    meta = folded(get_map(detail, "eventMetadata"))
    meta_key = meta.get("publickey") or meta.get("accesskeyid")
    principal, user = principal_from_name(meta.get("username"))

    # For organisation-wide events the envelope's account is the management account; the
    # owner is affectedAccount, or the entity's own awsAccountId.
    default_account = account_id(detail.get("affectedAccount"), _WHERE)
    values: list[tuple[object, object]] = [
        (entity.get("entityValue"), entity.get("awsAccountId"))
        for entity in get_list(detail, "affectedEntities")
        if isinstance(entity, Mapping)
    ]
    if meta_key and all(value != meta_key for value, _ in values):
        values.append((meta_key, None))
    distinct = {value for value, _ in values if isinstance(value, str)}
    observed_at = event.observed(detail.get("startTime"), detail.get("lastUpdatedTime"))
    evidence = Evidence(
        url=clip(meta.get("exposedurl"), 2048),
        finding_type=code,
        event_id=clip(detail.get("eventArn")),
    )

    def leaked_key(value: object, entity_account: object) -> LeakedKey:
        # The user in eventMetadata belongs to the key in eventMetadata, or to the only key.
        names_this_key = value == meta_key or len(distinct) == 1
        return LeakedKey(
            key_id=key_id(value, _WHERE),
            source=Source.HEALTH,
            observed_at=observed_at,
            account_id=account_id(entity_account, _WHERE) or default_account or event.account,
            user_name=user if names_this_key else None,
            principal_type=principal if names_this_key else PrincipalType.UNKNOWN,
            evidence=evidence,
            quarantined=code == QUARANTINE_EVENT,
        )

    collector = Collector(_WHERE)
    for value, entity_account in values:
        collector.add(leaked_key, value, entity_account)
    return collector.result("no access key in affectedEntities or eventMetadata")
