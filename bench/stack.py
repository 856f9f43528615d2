"""The responder's slice of template.yaml on a boto3 endpoint: the incidents table and the queues.

Resources are read from the template itself (table keys and indexes, the redrive count), so the
bench exercises the same shapes as the deployed stack. It works on in-process moto (``mock_aws``)
and on a moto server (pass a session whose clients carry ``endpoint_url``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from leak_responder.template import Resolver, load_template, parameter_defaults, pseudo_parameters

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
REGION = "us-east-1"
HOME = "123456789012"  # moto's default account
MEMBER = "210987654321"
MEMBER_ROLE = "LeakResponderMember"

ClientMaker = Callable[..., Any]


@dataclass(frozen=True)
class Stack:
    table: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    env: dict[str, str]


def _resolve(template: dict[str, Any], node: Any) -> Any:
    refs = {**pseudo_parameters(), **parameter_defaults(template)}
    return Resolver(template, refs).resolve(node)


def provision(client: ClientMaker = boto3.client, suffix: str | None = None) -> Stack:
    """Create IncidentsTable, LeakQueue and its DLQ as template.yaml declares them.

    A fixed ``suffix`` gives the same names on every run, so recorded calls can be replayed.
    """
    template = load_template(ROOT / "template.yaml")
    props = _resolve(template, template["Resources"]["IncidentsTable"]["Properties"])
    suffix = suffix or uuid.uuid4().hex[:8]
    table = f"incidents-{suffix}"
    client("dynamodb", region_name=REGION).create_table(
        TableName=table,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    sqs = client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    redrive = template["Resources"]["LeakQueue"]["Properties"]["RedrivePolicy"]
    max_receive = str(_resolve(template, redrive["maxReceiveCount"]))
    queue_url = sqs.create_queue(
        QueueName=f"leaks-{suffix}",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}
            )
        },
    )["QueueUrl"]
    env = {
        "INCIDENTS_TABLE": table,
        "DLQ_URL": dlq_url,
        "MAX_RECEIVE_COUNT": max_receive,
        "HOME_ACCOUNT_ID": HOME,
        "SECRET_PREFIX": "leak-responder",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "LeakResponderBench",
        # The bench measures the handler, not CloudWatch log formatting to a terminal.
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    return Stack(table, queue_url, _arn(sqs, queue_url), dlq_url, env)


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


# Variables the bench owns while it runs; restored afterwards.
_CLEARED = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "SLACK_API_URL",
    "SLACK_BOT_TOKEN_SECRET",
    "MEMBER_ROLE_NAME",
    "DRY_RUN",
    "PROTECTED_PRINCIPALS",
)


@contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in _CLEARED:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def member_client(service: str, client: ClientMaker = boto3.client) -> Any:
    """A client acting in the second moto account through the member role."""
    creds = client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/{MEMBER_ROLE}", RoleSessionName="bench-setup"
    )["Credentials"]
    return client(
        service,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


# -- events ---------------------------------------------------------------------------------------
def sample(name: str) -> dict[str, Any]:
    """A sample event from tests/events/, read at run time (the bench imports nothing of tests/)."""
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def health_body(key_id: str, user: str | None, account: str = HOME) -> str:
    event = sample("health_credentials_exposed")
    detail = event["detail"]
    event["account"] = detail["affectedAccount"] = account
    detail["affectedEntities"] = [{"entityValue": key_id}]
    metadata = detail["eventMetadata"]
    metadata["publicKey"] = key_id
    if user:
        metadata["userName"] = user
    else:
        metadata.pop("userName", None)
    return json.dumps(event)


def guardduty_body(key_id: str, user: str, account: str = HOME) -> str:
    event = sample("guardduty_iam_user")
    event["account"] = event["detail"]["accountId"] = account
    details = event["detail"]["resource"]["accessKeyDetails"]
    details.update(accessKeyId=key_id, userName=user, userType="IAMUser")
    return json.dumps(event)


def securityhub_body(key_id: str, user: str, account: str = HOME) -> str:
    event = sample("securityhub_access_key")
    event["account"] = account
    finding = event["detail"]["findings"][0]
    finding["AwsAccountId"] = account
    resource = finding["Resources"][0]
    resource["Id"] = f"AWS::IAM::AccessKey:{key_id}"
    resource["Details"]["AwsIamAccessKey"].update(
        AccessKeyId=key_id, AccountId=account, PrincipalName=user
    )
    return json.dumps(event)


def trustedadvisor_body(key_id: str, user: str, account: str = HOME) -> str:
    event = sample("trustedadvisor_exposed_keys")
    event["account"] = account
    item = event["detail"]["check-item-detail"]
    item["Access Key ID"] = key_id
    item["User Name (IAM or Root)"] = user
    return json.dumps(event)


def scanner_body(key_id: str, account: str | None = HOME) -> str:
    message = sample("scanner_v1")
    message["key_id"] = key_id
    message["account_id"] = account
    return json.dumps(message)


def cloudtrail_body(user: str, account: str = HOME) -> str:
    event = sample("cloudtrail_quarantine_v2")
    event["account"] = event["detail"]["recipientAccountId"] = account
    # AWS attaches the policy after the key exists: the event is as recent as the bench's keys.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["time"] = event["detail"]["eventTime"] = now
    event["detail"]["requestParameters"]["userName"] = user
    return json.dumps(event)


# -- Lambda shapes -------------------------------------------------------------------------------
def sqs_record(body: str, queue_arn: str, receive_count: int = 1) -> dict[str, Any]:
    """One record as the SQS event source mapping hands it to Lambda."""
    now = str(int(time.time() * 1000))
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now,
            "SenderId": "AIDAEXAMPLESENDER",
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(bodies: list[str], queue_arn: str) -> dict[str, Any]:
    return {"Records": [sqs_record(b, queue_arn) for b in bodies]}


class LambdaContext:
    function_name = "ResponderFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{HOME}:function:ResponderFunction"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000
