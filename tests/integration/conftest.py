"""moto-backed stack for integration tests: template.yaml's resources, in-process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leak_responder.sandbox.provisioner import Provisioned, provision

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
HOME = "123456789012"  # moto's default account


@dataclass
class Stack:
    table: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    env: dict[str, str]
    provisioned: Provisioned

    def iam(self) -> Any:
        return boto3.client("iam", region_name=REGION)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """template.yaml's resources, created in moto by the sandbox's provisioner, with the
    responder's environment as the template resolves it (minus Slack: see the Slack tests)."""
    provisioned = provision(
        ROOT / "template.yaml",
        boto3.session.Session(region_name=REGION),
        stack_name=f"it-{uuid.uuid4().hex[:8]}",
    )
    env = {
        name: value
        for name, value in provisioned.functions["ResponderFunction"].environment.items()
        if not name.startswith("SLACK_")
    }
    env.update(AWS_REGION=REGION, POWERTOOLS_METRICS_NAMESPACE="LeakResponderTest")
    for name in ("SLACK_API_URL", "SLACK_BOT_TOKEN_SECRET", "SLACK_SIGNING_SECRET_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Stack(
        table=provisioned.name("IncidentsTable"),
        queue_url=provisioned.url("LeakQueue"),
        queue_arn=provisioned.arn("LeakQueue"),
        dlq_url=provisioned.url("LeakDLQ"),
        env=env,
        provisioned=provisioned,
    )


def sqs_record(body: str, queue_arn: str, receive_count: int = 1) -> dict[str, Any]:
    """One record as the SQS event source mapping hands it to Lambda."""
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "AIDAEXAMPLESENDER",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(bodies: list[str], queue_arn: str, receive_count: int = 1) -> dict[str, Any]:
    return {"Records": [sqs_record(b, queue_arn, receive_count) for b in bodies]}


class LambdaContext:
    function_name = "ResponderFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{HOME}:function:ResponderFunction"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000
