"""DynamoDB adapter: the IncidentStore port.

Items are keyed ``pk = account_id#key_id``. Every write is conditional: ``create`` on the key not
existing, ``save`` on the version read, so concurrent deliveries of one key cannot both act.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from leak_responder.adapters.aws.errors import translated
from leak_responder.domain.errors import IncidentNotFoundError
from leak_responder.domain.model import (
    Incident,
    IncidentStatus,
    NotificationStatus,
    PrincipalType,
    Sighting,
    Source,
)

PERMISSIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
)

BY_INCIDENT_ID = "by-incident-id"
BY_STATUS = "by-status"
_FIELDS = {f.name for f in fields(Incident)}
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_item(incident: Incident) -> dict[str, Any]:
    doc: dict[str, Any] = {"pk": incident.pk}
    for name in _FIELDS:
        value = getattr(incident, name)
        if value is None or value == () or value == {}:
            continue
        if name == "sightings":
            value = [
                {
                    "source": s.source.value,
                    "observed_at": s.observed_at,
                    "received_at": s.received_at,
                    "evidence": s.evidence,
                }
                for s in value
            ]
        elif name == "audit":
            value = [dict(entry) for entry in value]
        elif isinstance(value, Enum):
            value = value.value
        doc[name] = value
    return {k: _SERIALIZER.serialize(v) for k, v in doc.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> Incident:
    doc = {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}
    doc = {k: v for k, v in doc.items() if k in _FIELDS}
    doc["status"] = IncidentStatus(doc.get("status", IncidentStatus.OPEN))
    doc["principal_type"] = PrincipalType(doc.get("principal_type", PrincipalType.UNKNOWN))
    if doc.get("notification_status"):
        doc["notification_status"] = NotificationStatus(doc["notification_status"])
    doc["sightings"] = tuple(
        Sighting(
            source=Source(s["source"]),
            observed_at=s["observed_at"],
            received_at=s["received_at"],
            evidence=s.get("evidence", {}),
        )
        for s in doc.get("sightings", [])
    )
    doc["audit"] = tuple(doc.get("audit", []))
    return Incident(**doc)


class DynamoIncidentStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def get(self, account_id: str, key_id: str) -> Incident | None:
        with translated("dynamodb:GetItem"):
            response = self._ddb.get_item(
                TableName=self._table,
                Key={"pk": {"S": f"{account_id}#{key_id}"}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        return from_item(item) if item else None

    def get_by_id(self, incident_id: str) -> Incident:
        with translated("dynamodb:Query"):
            response = self._ddb.query(
                TableName=self._table,
                IndexName=BY_INCIDENT_ID,
                KeyConditionExpression="incident_id = :id",
                ExpressionAttributeValues={":id": {"S": incident_id}},
                Limit=1,
            )
        items = response.get("Items", [])
        if not items:
            raise IncidentNotFoundError("no such incident")
        # The index is eventually consistent; the table read is not.
        found = from_item(items[0])
        current = self.get(found.account_id, found.key_id)
        if current is None or current.incident_id != incident_id:
            raise IncidentNotFoundError("no such incident")
        return current

    def create(self, incident: Incident) -> Incident:
        created = replace(incident, version=1)
        with translated("dynamodb:PutItem"):
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(created),
                ConditionExpression="attribute_not_exists(pk)",
            )
        return created

    def save(self, incident: Incident) -> Incident:
        saved = replace(incident, version=incident.version + 1)
        with translated("dynamodb:PutItem"):
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(saved),
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(incident.version)}},
            )
        return saved

    def awaiting_action(self) -> Iterator[Incident]:
        for status in IncidentStatus:
            for item in self._query_status(status):
                incident = from_item(item)
                if (
                    incident.notification_status == NotificationStatus.PENDING
                    or incident.status == IncidentStatus.CONTAINED
                ):
                    yield incident

    def _query_status(self, status: IncidentStatus) -> Iterator[dict[str, Any]]:
        paginator = self._ddb.get_paginator("query")
        with translated("dynamodb:Query"):
            for page in paginator.paginate(
                TableName=self._table,
                IndexName=BY_STATUS,
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": status.value}},
            ):
                yield from page.get("Items", [])
