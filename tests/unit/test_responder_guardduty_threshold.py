"""The GuardDuty severity threshold reaches the normaliser: template parameter → environment →
Settings → build_responder → Responder → normalise.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from leak_responder.domain.errors import ConfigurationError
from leak_responder.responder import Responder
from leak_responder.settings import Settings
from leak_responder.sources import DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD
from leak_responder.wiring import build_responder
from leak_sandbox.testkit import world as kit
from leak_sandbox.testkit.fakes import RecordingDeadLetters
from leak_sandbox.testkit.lambda_shapes import sqs_record
from tests.helpers import load_event

HOME = "123456789012"
LEAK_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-LeakQueue"


def test_settings_read_the_threshold() -> None:
    assert Settings.from_env({"INCIDENTS_TABLE": "t"}).guardduty_severity_threshold == 4.0
    assert Settings(incidents_table="t").guardduty_severity_threshold == 4.0
    assert DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD == 4.0
    env = {"INCIDENTS_TABLE": "t", "GUARDDUTY_SEVERITY_THRESHOLD": "6.5"}
    assert Settings.from_env(env).guardduty_severity_threshold == 6.5


@pytest.mark.parametrize("value", ["high", "", "nan", "inf"])
def test_a_threshold_that_is_not_a_number_is_a_configuration_error(value: str) -> None:
    env = {"INCIDENTS_TABLE": "t", "GUARDDUTY_SEVERITY_THRESHOLD": value}
    with pytest.raises(ConfigurationError, match="GUARDDUTY_SEVERITY_THRESHOLD"):
        Settings.from_env(env)


def test_build_responder_passes_the_threshold() -> None:
    settings = Settings(
        incidents_table="t",
        home_account_id=HOME,
        dlq_url="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        guardduty_severity_threshold=7.5,
    )
    assert build_responder(settings).guardduty_severity_threshold == 7.5


class World(kit.World):
    """alice with an active key, reported by GuardDuty through Security Hub at severity 2."""

    def __init__(self) -> None:
        super().__init__(home_account_id=HOME)
        self.key_id = self.user("alice")
        self.dead_letters = RecordingDeadLetters()
        self.clock.advance(minutes=5)

    def low_guardduty_finding_of_alice(self) -> SQSRecord:
        event = load_event("securityhub_access_key")
        finding = event["detail"]["findings"][0]
        finding["Severity"] = {"Product": 2.0, "Label": "LOW", "Normalized": 40}
        details = finding["Resources"][0]["Details"]["AwsIamAccessKey"]
        details.update(AccessKeyId=self.key_id, PrincipalName="alice")
        now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        event["time"] = finding["UpdatedAt"] = now
        sent = self.clock.now() - timedelta(seconds=1)
        return SQSRecord(sqs_record(json.dumps(event), LEAK_QUEUE, sent_at=sent))

    def responder(self, **kwargs: float) -> Responder:
        return Responder(self.deps(), self.dead_letters, 5, **kwargs)


def test_below_the_default_threshold_nothing_is_touched() -> None:
    world = World()
    world.responder().handle_record(world.low_guardduty_finding_of_alice())
    ((_, reason),) = world.dead_letters.sent
    assert "below the GuardDuty severity threshold 4" in reason
    assert world.home.key(world.key_id).status == "Active"
    assert world.incidents.items == {}


def test_the_responders_threshold_is_the_one_applied() -> None:
    world = World()
    world.responder(guardduty_severity_threshold=2).handle_record(
        world.low_guardduty_finding_of_alice()
    )
    assert world.dead_letters.sent == []
    assert world.home.key(world.key_id).status == "Inactive"
