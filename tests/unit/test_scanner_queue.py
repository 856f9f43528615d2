"""The scanner queue takes scanner findings only; the leak queue takes both.

Scanner principals (CI roles) may write to the scanner queue and nowhere else. An AWS-shaped
event there is a forgery: a CloudTrail quarantine names a user (all their keys), a GuardDuty
finding on an AssumedRole names a role (a deny on its sessions). What tells the queues apart is
the record's ``eventSourceARN``, never the body.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import LeakedKey, Source
from leak_responder.responder import Responder
from leak_responder.sources import SCANNER_ONLY_REASON, normalise
from leak_sandbox.testkit import world as kit
from leak_sandbox.testkit.fakes import RecordingDeadLetters
from leak_sandbox.testkit.lambda_shapes import sqs_record
from tests.helpers import event_names, load_event

HOME = "123456789012"
SCANNER_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-ScannerQueue"
LEAK_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-LeakQueue"

NOT_SCANNER = sorted(
    name
    for name in event_names()
    if not name.startswith(("scanner_", "rejected_scanner_", "rejected_neither"))
)


# ------------------------------------------------------------------------------ normalise


@pytest.mark.parametrize("name", NOT_SCANNER)
def test_every_aws_event_is_refused_when_only_scanner_findings_are_accepted(name: str) -> None:
    # Given an AWS event sample, valid or not, When it is read as from the scanner queue
    with pytest.raises(RejectedMessageError) as caught:
        normalise(json.dumps(load_event(name)), scanner_only=True)
    # Then it is refused for what it is, before its source is even looked at
    assert caught.value.reason == SCANNER_ONLY_REASON


@pytest.mark.parametrize(
    "body",
    [
        # Neither an event nor a scanner message.
        {"key_id": "AKIAQ7ZSLEAKTEST0041"},  # pragma: allowlist secret
        # The event shape wins over a schema field, as it does without scanner_only.
        {**load_event("cloudtrail_quarantine_v2"), "schema": "leak-responder/scanner-finding/v1"},
    ],
)
def test_bodies_that_are_not_scanner_messages_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RejectedMessageError) as caught:
        normalise(json.dumps(body), scanner_only=True)
    assert caught.value.reason == SCANNER_ONLY_REASON


def test_a_scanner_finding_reads_the_same_from_either_queue() -> None:
    body = json.dumps(load_event("scanner_v1"))
    assert normalise(body, scanner_only=True) == normalise(body)


def test_a_bad_scanner_message_keeps_its_own_reason() -> None:
    # The schema is still versioned on the scanner queue: the reason says which check failed.
    with pytest.raises(RejectedMessageError) as caught:
        normalise(json.dumps(load_event("rejected_scanner_unknown_schema")), scanner_only=True)
    assert caught.value.reason != SCANNER_ONLY_REASON
    assert "schema" in caught.value.reason


# ------------------------------------------------------------------------------ responder


class World(kit.World):
    """alice with an active key, in moto's account (the one the sample events name)."""

    def __init__(self) -> None:
        super().__init__(home_account_id=HOME)
        self.iam = self.home
        self.key_id = self.user("alice")
        self.dead_letters = RecordingDeadLetters()
        self.clock.advance(minutes=5)  # the reports below come after the key was made

    def responder(self, scanner_queue_arn: str | None = SCANNER_QUEUE) -> Responder:
        return Responder(self.deps(), self.dead_letters, 5, scanner_queue_arn=scanner_queue_arn)

    def quarantine_of_alice(self) -> str:
        event = load_event("cloudtrail_quarantine_v2")
        event["detail"]["requestParameters"]["userName"] = "alice"
        now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        event["time"] = event["detail"]["eventTime"] = now
        return json.dumps(event)

    def scanner_finding(self) -> str:
        message = load_event("scanner_v1")
        message.update(key_id=self.key_id, account_id=HOME)
        return json.dumps(message)

    def record(self, body: str, source_arn: str) -> SQSRecord:
        sent = self.clock.now() - timedelta(seconds=1)
        return SQSRecord(
            sqs_record(body, source_arn, sent_at=sent, sender_id="AROAEXAMPLECIROLE:ci")
        )

    def key_status(self) -> str:
        return self.iam.key(self.key_id).status


def test_an_aws_event_from_the_scanner_queue_is_dead_lettered_and_touches_nothing() -> None:
    # Given alice's active key, When a CI role puts AWS's quarantine of alice on its queue
    world = World()
    world.responder().handle_record(world.record(world.quarantine_of_alice(), SCANNER_QUEUE))
    # Then it goes to the DLQ with the reason, and IAM was not called at all
    assert [reason for _, reason in world.dead_letters.sent] == [SCANNER_ONLY_REASON]
    assert world.key_status() == "Active"
    assert world.iam.calls == []
    assert world.incidents.items == {}


def test_the_same_event_from_the_leak_queue_is_acted_on() -> None:
    world = World()
    world.responder().handle_record(world.record(world.quarantine_of_alice(), LEAK_QUEUE))
    assert world.dead_letters.sent == []
    assert world.key_status() == "Inactive"


@pytest.mark.parametrize("source_arn", [SCANNER_QUEUE, LEAK_QUEUE])
def test_a_scanner_finding_is_contained_from_either_queue(source_arn: str) -> None:
    world = World()
    world.responder().handle_record(world.record(world.scanner_finding(), source_arn))
    assert world.dead_letters.sent == []
    assert world.key_status() == "Inactive"
    (incident,) = world.incidents.items.values()
    assert [s.source for s in incident.sightings] == [Source.SCANNER]


def test_without_a_scanner_queue_configured_nothing_is_held_to_scanner_findings() -> None:
    # An empty ARN must never match a record whose eventSourceARN is missing or empty.
    world = World()
    world.responder(scanner_queue_arn=None).handle_record(
        world.record(world.quarantine_of_alice(), "")
    )
    assert world.dead_letters.sent == []
    assert world.key_status() == "Inactive"


def test_a_scanner_finding_names_no_user() -> None:
    # The scanner's one capability: a key ID, with no user or role named.
    world = World()
    (report,) = normalise(world.scanner_finding(), scanner_only=True)
    assert isinstance(report, LeakedKey)
    assert report.user_name is None
