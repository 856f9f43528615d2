"""The EventBridge rules of template.yaml route the sample events, and only those, to the queue.

Rules are created in moto from the template itself (patterns read from the file, never copied
here), with an SQS queue as their target, as the stack deploys them.

Where moto falls short: its pattern matcher does not look inside arrays of objects, so the
Security Hub rule (findings[].Resources[].Type) would never fire. The tests install
``leak_sandbox.template.flatten_event``, which gives moto EventBridge's view of arrays;
``test_moto_alone_misses_fields_inside_arrays`` records the gap so that the patch can go once
moto closes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

from leak_sandbox.template import (
    event_rules,
    flatten_event,
    load_template,
    parameter_defaults,
    pseudo_parameters,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
REGION = "us-east-1"
SOURCES = ("health", "guardduty", "securityhub", "trustedadvisor", "cloudtrail")

# Valid samples (the normalisers accept them) that this stack deliberately does not route.
NOT_ROUTED_BY_DESIGN = {
    "guardduty_root.json": "severity 2 is below the default GuardDutySeverityThreshold (4)",
    "securityhub_custom_action_multiple.json": (
        "a custom action is an analyst's manual export to any target; only imported findings "
        "are routed, so sending a finding to, say, a ticketing action never deactivates a key"
    ),
}

# Each source must bring at least this many routed samples: the test never passes empty.
MIN_ROUTED_PER_SOURCE = 2


def _files(prefix: str) -> list[Path]:
    return sorted(EVENTS.glob(f"{prefix}_*.json"))


VALID = [path for source in SOURCES for path in _files(source)]
ROUTED = [path for path in VALID if path.name not in NOT_ROUTED_BY_DESIGN]
NOMATCH = _files("nomatch")


@dataclass
class Bus:
    events: Any
    sqs: Any
    queue_url: str

    def put(self, envelope: dict[str, Any]) -> None:
        entry: dict[str, Any] = {
            "Source": envelope["source"],
            "DetailType": envelope["detail-type"],
            "Detail": json.dumps(envelope["detail"]),
            "Resources": envelope.get("resources", []),
            "EventBusName": "default",
        }
        response = self.events.put_events(Entries=[entry])
        assert response["FailedEntryCount"] == 0, response

    def drain(self) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def eventbridge_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EventPattern, "_flatten_dict", staticmethod(flatten_event))


def _bus(refs: dict[str, Any] | None = None) -> Iterator[Bus]:
    template = load_template(ROOT / "template.yaml")
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="leak-queue")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for name, rule in event_rules(template, refs).items():
            events.put_rule(
                Name=name,
                EventPattern=json.dumps(rule["EventPattern"]),
                State=rule["State"],
                EventBusName=rule["EventBusName"],
            )
            events.put_targets(
                Rule=name,
                EventBusName=rule["EventBusName"],
                Targets=[{"Id": "leak-queue", "Arn": queue_arn}],
            )
        yield Bus(events, sqs, queue_url)


@pytest.fixture
def bus(eventbridge_arrays: None) -> Iterator[Bus]:
    yield from _bus()


def _load(path: Path) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return envelope


def test_every_source_has_routed_samples() -> None:
    for source in SOURCES:
        routed = [p for p in ROUTED if p.name.startswith(f"{source}_")]
        assert len(routed) >= MIN_ROUTED_PER_SOURCE, f"too few {source}_*.json samples: {routed}"
    assert len(NOMATCH) >= len(SOURCES)
    missing = [name for name in NOT_ROUTED_BY_DESIGN if not (EVENTS / name).is_file()]
    assert not missing, f"NOT_ROUTED_BY_DESIGN names files that are gone: {missing}"


@pytest.mark.parametrize("path", ROUTED, ids=lambda p: p.stem)
def test_valid_event_reaches_the_queue_exactly_once(bus: Bus, path: Path) -> None:
    # Given a sample event as its AWS service emits it,
    envelope = _load(path)
    # When it is put on the default bus,
    bus.put(envelope)
    # Then exactly one rule delivers it, unchanged, to the queue.
    bodies = bus.drain()
    assert len(bodies) == 1, f"{path.name} arrived {len(bodies)} times"
    (body,) = bodies
    assert body["source"] == envelope["source"]
    assert body["detail-type"] == envelope["detail-type"]
    assert body["detail"] == envelope["detail"]


@pytest.mark.parametrize("path", NOMATCH, ids=lambda p: p.stem)
def test_unrelated_event_does_not_reach_the_queue(bus: Bus, path: Path) -> None:
    bus.put(_load(path))
    assert bus.drain() == []


@pytest.mark.parametrize("name", sorted(NOT_ROUTED_BY_DESIGN))
def test_valid_events_not_routed_by_design_stay_out(bus: Bus, name: str) -> None:
    bus.put(_load(EVENTS / name))
    assert bus.drain() == [], NOT_ROUTED_BY_DESIGN[name]


def test_a_lower_guardduty_threshold_lets_low_findings_through(
    eventbridge_arrays: None,
) -> None:
    # Given the stack deployed with GuardDutySeverityThreshold=2,
    template = load_template(ROOT / "template.yaml")
    refs = {
        **pseudo_parameters(),
        **parameter_defaults(template),
        "GuardDutySeverityThreshold": "2",
    }
    for bus in _bus(refs):
        # When the severity-2 root finding and a 3.9 finding arrive, Then both are routed.
        bus.put(_load(EVENTS / "guardduty_root.json"))
        bus.put(_load(EVENTS / "nomatch_guardduty_access_key_below_threshold.json"))
        assert len(bus.drain()) == 2
        # And a finding on an instance is still not.
        bus.put(_load(EVENTS / "nomatch_guardduty_instance.json"))
        assert bus.drain() == []


def test_moto_alone_misses_fields_inside_arrays() -> None:
    # Why eventbridge_arrays exists. If this fails, moto now matches inside arrays of objects
    # like EventBridge does: drop the patch and this test.
    template = load_template(ROOT / "template.yaml")
    pattern = event_rules(template)["SecurityHubAccessKeyRule"]["EventPattern"]
    envelope = _load(EVENTS / "securityhub_access_key.json")
    assert not EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, envelope))
