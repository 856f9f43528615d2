"""The sandbox worker honours batchItemFailures, and moto's redrive takes failures to the DLQ."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leak_sandbox.lambda_local import LocalContext
from leak_sandbox.provisioner import Provisioned, provision
from leak_sandbox.worker import QueueWorker

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def aws() -> Iterator[tuple[Provisioned, Any]]:
    with mock_aws():
        session = boto3.session.Session(
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # pragma: allowlist secret
        )
        yield provision(TEMPLATE, session), session.client("sqs")


def _worker(p: Provisioned, sqs: Any, handler: Any) -> QueueWorker:
    return QueueWorker(
        sqs,
        p.url("LeakQueue"),
        p.arn("LeakQueue"),
        handler,
        lambda: LocalContext("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn", 60),
        region="us-east-1",
        retry_delay=0,
    )


def _count(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def test_the_event_is_lambda_shaped_and_only_failures_stay(aws: tuple[Provisioned, Any]) -> None:
    p, sqs = aws
    for body in ("ok", "fail"):
        sqs.send_message(QueueUrl=p.url("LeakQueue"), MessageBody=body)
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"
            ]
        }

    worker = _worker(p, sqs, handler)
    while len(seen) < 2:
        worker.poll_once()
    record = seen[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == p.arn("LeakQueue")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"].isdigit()
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "messageAttributes"} <= set(record)
    assert _count(sqs, p.url("LeakQueue")) == 1  # the failed one, visible again


def test_a_crashing_handler_is_redriven_to_the_dlq_after_max_receive_count(
    aws: tuple[Provisioned, Any],
) -> None:
    p, sqs = aws
    sqs.send_message(QueueUrl=p.url("LeakQueue"), MessageBody=json.dumps({"boom": True}))
    calls = 0

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise RuntimeError("function error")

    worker = _worker(p, sqs, handler)
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=p.url("LeakQueue"), AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    for _ in range(int(redrive["maxReceiveCount"]) + 2):
        worker.poll_once()
    assert calls == int(redrive["maxReceiveCount"])
    assert _count(sqs, p.url("LeakQueue")) == 0
    assert _count(sqs, p.url("LeakDLQ")) == 1
