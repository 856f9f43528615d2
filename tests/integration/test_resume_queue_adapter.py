"""SqsResumeQueue on moto: what it counts as unfinished, and what it sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leak_responder.adapters.aws.resume_queue import SqsResumeQueue
from leak_responder.domain.errors import TransientError
from leak_responder.domain.model import Resumption
from leak_responder.sources.resume import parse_resumption

HOME = "123456789012"
KEY = "AKIAQ7ZSLEAKTEST0005"  # pragma: allowlist secret


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_waiting_counts_reports_waiting_and_in_a_workers_hands(sqs: Any) -> None:
    leak = sqs.create_queue(QueueName="leak")["QueueUrl"]
    scanner = sqs.create_queue(QueueName="scanner")["QueueUrl"]
    resume = sqs.create_queue(QueueName="resume")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=leak, MessageBody=f"report {n}")
    sqs.send_message(QueueUrl=scanner, MessageBody="finding")
    sqs.send_message(QueueUrl=resume, MessageBody="not a report")
    queue = SqsResumeQueue(sqs, resume, [leak, scanner])
    assert queue.waiting() == 4
    # A worker holding two of them: still unfinished
    sqs.receive_message(QueueUrl=leak, MaxNumberOfMessages=2, VisibilityTimeout=60)
    assert queue.waiting() == 4
    # Finished (deleted): no longer counted
    (held,) = sqs.receive_message(QueueUrl=scanner)["Messages"]
    sqs.delete_message(QueueUrl=scanner, ReceiptHandle=held["ReceiptHandle"])
    assert queue.waiting() == 3


def test_send_queues_every_resumption_with_its_delay(sqs: Any) -> None:
    resume = sqs.create_queue(QueueName="resume")["QueueUrl"]
    queue = SqsResumeQueue(sqs, resume, [])
    items = [Resumption(HOME, KEY, f"incident-{n}", deferrals=n % 2) for n in range(23)]
    queue.send(items)
    attributes = sqs.get_queue_attributes(QueueUrl=resume, AttributeNames=["All"])["Attributes"]
    # Those put back once wait 2 s; the rest are visible at once
    assert int(attributes["ApproximateNumberOfMessagesDelayed"]) == 11
    received = []
    while batch := sqs.receive_message(QueueUrl=resume, MaxNumberOfMessages=10).get("Messages"):
        received += [parse_resumption(m["Body"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=resume, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(r.incident_id for r in received) == sorted(
        i.incident_id for i in items if i.deferrals == 0
    )


def test_a_partial_batch_failure_is_raised_not_reported_as_sent() -> None:
    class Refusing:
        def send_message_batch(self, **_: Any) -> dict[str, Any]:
            return {"Successful": [], "Failed": [{"Id": "0", "Code": "InternalError"}]}

    queue = SqsResumeQueue(Refusing(), "https://sqs/resume", [])
    with pytest.raises(TransientError, match="1 of 1 resumes not queued"):
        queue.send([Resumption(HOME, KEY, "i")])
