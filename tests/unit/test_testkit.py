"""The test kit's builders stay true to what they stand for: the samples, the sources, Lambda."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from leak_responder.domain.model import LeakedKey, Source
from leak_responder.sources import normalise
from leak_sandbox.testkit.events import (
    SampleEvents,
    health_event,
    put_events_entry,
    trusted_advisor_event,
)
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event, sqs_record
from tests.helpers import SAMPLES, load_event

KEY = "AKIAQ7ZSLEAKTEST0099"  # pragma: allowlist secret


def test_the_health_builder_is_the_sample_for_the_samples_key() -> None:
    sample_key = "AKIAQ7ZSLEAKTEST0001"  # pragma: allowlist secret
    assert health_event(sample_key, "ci-deployer") == load_event("health_credentials_exposed")


def test_the_trusted_advisor_builder_is_the_sample_for_the_samples_key() -> None:
    sample_key = "AKIAQ7ZSLEAKTEST0031"  # pragma: allowlist secret
    built = trusted_advisor_event(
        sample_key,
        "release-uploader",
        location="https://github.com/example-org/site/blob/9c0d1e2f/scripts/upload.sh",
    )
    assert built == load_event("trustedadvisor_exposed_keys")


@pytest.mark.parametrize(
    ("event", "source", "user"),
    [
        (health_event(KEY, "alice", "210987654321"), Source.HEALTH, "alice"),
        (health_event(KEY, None, "210987654321"), Source.HEALTH, None),
        (trusted_advisor_event(KEY, "alice", "210987654321"), Source.TRUSTEDADVISOR, "alice"),
    ],
)
def test_built_events_read_as_their_source(
    event: dict[str, object], source: Source, user: str | None
) -> None:
    (report,) = normalise(json.dumps(event))
    assert isinstance(report, LeakedKey)
    assert (report.key_id, report.source, report.user_name) == (KEY, source, user)
    assert report.account_id == "210987654321"


def test_a_put_events_entry_carries_the_envelopes_source_type_and_detail() -> None:
    event = health_event(KEY, "alice")
    entry = put_events_entry(event)
    assert (entry["Source"], entry["DetailType"]) == ("aws.health", "AWS Health Event")
    assert json.loads(entry["Detail"]) == event["detail"]


def test_the_samples_are_found_from_any_folder_of_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(SAMPLES.folder.parent / "unit")
    assert SampleEvents.find().folder == SAMPLES.folder.resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError):
        SampleEvents.find()


def test_an_sqs_record_is_what_the_event_source_mapping_delivers() -> None:
    sent = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    arn = "arn:aws:sqs:us-east-1:123456789012:q"
    record = SQSRecord(sqs_record("{}", arn, 3, sent_at=sent))
    assert (record.body, record.event_source_arn, record.aws_region) == ("{}", arn, "us-east-1")
    assert record.attributes.approximate_receive_count == "3"
    assert record.attributes.sent_timestamp == str(int(sent.timestamp() * 1000))
    bodies = ["a", "b"]
    event = sqs_event(bodies, arn)
    assert [r["body"] for r in event["Records"]] == bodies
    assert len({r["messageId"] for r in event["Records"]}) == 2


def test_the_lambda_context_is_the_responders_by_default() -> None:
    context = lambda_context()
    assert context.function_name == "ResponderFunction"
    assert context.invoked_function_arn.endswith(":123456789012:function:ResponderFunction")
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
