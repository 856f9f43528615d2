"""From the bus to a deactivated key: template.yaml's own rules (created by the sandbox's
provisioner) route a sample event of every source into the real LeakQueue, and the real
responder handler consumes what arrives.

moto's pattern matcher does not look inside arrays of objects (see test_event_routing.py), so
the Security Hub rule needs ``flatten_event`` installed, as the sandbox does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.events.models import EventPattern

from leak_responder.domain.model import LeakedKey, iso
from leak_responder.sources import normalise
from leak_sandbox.template import flatten_event
from leak_sandbox.testkit.lambda_shapes import lambda_context
from leak_sandbox.worker import lambda_sqs_event
from tests.handlers import load_handler
from tests.helpers import load_event
from tests.integration.conftest import HOME, Stack

SAMPLES = [
    "health_credentials_exposed",
    "health_2016_entity_only",
    "guardduty_iam_user",
    "securityhub_access_key",
    "trustedadvisor_exposed_keys",
    "cloudtrail_quarantine_v3",
]


@pytest.fixture(autouse=True)
def eventbridge_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EventPattern, "_flatten_dict", staticmethod(flatten_event))


def _make_it_ours(stack: Stack, sample: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The sample, rewritten to name a key that exists in this (moto) account."""
    (report,) = normalise(sample)
    user = report.user_name or "routed-user"
    iam = stack.iam()
    iam.create_user(UserName=user)
    key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    if "eventTime" in sample["detail"]:
        # AWS attached its quarantine policy now, after the key was made (a key made after the
        # event is rightly not taken for the leaked one).
        sample["detail"]["eventTime"] = iso(datetime.now(UTC))
    text = json.dumps(sample)
    if isinstance(report, LeakedKey):
        text = text.replace(report.key_id, key_id)
    if report.account_id:
        text = text.replace(report.account_id, HOME)
    return json.loads(text), user, key_id


def _receive_all(stack: Stack) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    records: list[dict[str, Any]] = []
    for _ in range(5):
        response = sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        messages = response.get("Messages", [])
        if not messages and records:
            break
        records += lambda_sqs_event(messages, stack.queue_arn, "us-east-1")["Records"]
    return records


@pytest.mark.parametrize("name", SAMPLES)
def test_event_on_the_bus_ends_with_the_key_inactive(stack: Stack, name: str) -> None:
    # Given a key of ours, reported by a sample event of this source
    event, user, key_id = _make_it_ours(stack, load_event(name))
    # When it is put on the default bus, and the responder consumes the leak queue
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event.get("resources", []),
    }
    assert stack.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    records = _receive_all(stack)
    assert len(records) == 1, f"{name}: the template's rules delivered {len(records)} messages"
    handler = load_handler("responder")
    handler.responder_for.cache_clear()
    response = handler.lambda_handler({"Records": records}, lambda_context())
    # Then the key is Inactive and a replacement exists
    assert response == {"batchItemFailures": []}
    keys = stack.iam().list_access_keys(UserName=user)["AccessKeyMetadata"]
    statuses = {k["AccessKeyId"]: k["Status"] for k in keys}
    assert statuses.pop(key_id) == "Inactive", name
    assert list(statuses.values()) == ["Active"], name
