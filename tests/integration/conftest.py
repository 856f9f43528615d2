"""moto-backed stack for integration tests: the template's table and queues, in-process."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leak_responder.template import Resolver, load_template, parameter_defaults, pseudo_parameters

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

    def iam(self) -> Any:
        return boto3.client("iam", region_name=REGION)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


def _resolve(template: dict[str, Any], node: Any) -> Any:
    refs = {**pseudo_parameters(), **parameter_defaults(template)}
    return Resolver(template, refs).resolve(node)


def _resource_props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = _resolve(template, template["Resources"][logical_id]["Properties"])
    return props


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
    """The template's IncidentsTable, LeakQueue and LeakDLQ, with the responder's env set."""
    template = load_template(ROOT / "template.yaml")
    table_props = _resource_props(template, "IncidentsTable")
    suffix = uuid.uuid4().hex[:8]
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = f"incidents-{suffix}"
    ddb.create_table(
        TableName=table,
        BillingMode=table_props["BillingMode"],
        AttributeDefinitions=table_props["AttributeDefinitions"],
        KeySchema=table_props["KeySchema"],
        GlobalSecondaryIndexes=table_props["GlobalSecondaryIndexes"],
    )
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = template["Resources"]["LeakQueue"]["Properties"]["RedrivePolicy"]
    max_receive = _resolve(template, redrive["maxReceiveCount"])
    queue_url = sqs.create_queue(
        QueueName=f"leaks-{suffix}",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}
            ),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    env = {
        "INCIDENTS_TABLE": table,
        "DLQ_URL": dlq_url,
        "MAX_RECEIVE_COUNT": str(max_receive),
        "HOME_ACCOUNT_ID": HOME,
        "SECRET_PREFIX": "leak-responder",
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "LeakResponderTest",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("SLACK_API_URL", "SLACK_BOT_TOKEN_SECRET", "MEMBER_ROLE_NAME", "DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    return Stack(table, queue_url, queue_arn, dlq_url, env)


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
