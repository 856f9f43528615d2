"""template.yaml's resources on a boto3 endpoint, and the responder's environment as it resolves.

The sandbox's provisioner creates every resource of the template (queues, table, KMS key, secrets,
rules, roles, log groups), so the bench runs against the deployed stack's shapes and the
responder's own environment, Globals merged. It works on in-process moto (``mock_aws``) and on a
moto server (``AWS_ENDPOINT_URL``): the session's clients go wherever boto3 is pointed.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from leak_sandbox.accounts import client_as
from leak_sandbox.provisioner import provision as provision_template
from leak_sandbox.testkit.events import SampleEvents, health_event, trusted_advisor_event

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
HOME = "123456789012"  # moto's default account
MEMBER = "210987654321"
MEMBER_ROLE = "LeakResponderMember"
# Physical names are "<stack name>-<logical ID>": a fixed stack name gives the same table, queue
# and secret names on every run, so calls recorded in one moto replay in another seeded alike.
STACK_NAME = "leak-responder-bench"

# The bench measures the handler, not CloudWatch log and metric output to a terminal.
_MEASURED_ENV = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source of the responder in template.yaml: the queue it polls."""

    logical_id: str
    url: str
    arn: str


@dataclass(frozen=True)
class Stack:
    table: str
    queue_arn: str
    dlq_url: str
    env: dict[str, str]
    sources: tuple[QueueSource, ...] = ()  # every SQS event source of ResponderFunction
    timeout: int = 60  # ResponderFunction's Timeout, seconds


def provision(member_role: bool = False) -> Stack:
    """Create template.yaml's resources where boto3 points; the responder's environment with them.

    ``member_role`` sets the template's ``MemberRoleName`` parameter, so the responder may assume
    the member role in the second account. Slack variables are left out, as in
    tests/integration: no notifier is built, and the notice stays pending.
    """
    provisioned = provision_template(
        TEMPLATE,
        boto3.session.Session(region_name=REGION),
        {"MemberRoleName": MEMBER_ROLE} if member_role else None,
        stack_name=STACK_NAME,
    )
    env = {
        name: value
        for name, value in provisioned.functions["ResponderFunction"].environment.items()
        if not name.startswith("SLACK_")
    }
    env.update(AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION, **_MEASURED_ENV)
    queues = {provisioned.arn(q): q for q in provisioned.of_type("AWS::SQS::Queue")}
    sources = tuple(
        QueueSource(queues[arn], provisioned.url(queues[arn]), arn)
        for arn in (
            str(source.get("Queue"))
            for source in provisioned.functions["ResponderFunction"].sqs_sources()
        )
    )
    return Stack(
        table=provisioned.name("IncidentsTable"),
        queue_arn=provisioned.arn("LeakQueue"),
        dlq_url=provisioned.url("LeakDLQ"),
        env=env,
        sources=sources,
        timeout=provisioned.functions["ResponderFunction"].timeout,
    )


@contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    """``values`` over the current environment, without endpoint, profile or Slack variables."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name in ("AWS_ENDPOINT_URL", "AWS_PROFILE") or name.startswith("SLACK_"):
            del os.environ[name]
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


def member_iam() -> Any:
    """An IAM client acting in the second moto account through the member role."""
    return client_as("iam", f"arn:aws:iam::{MEMBER}:role/{MEMBER_ROLE}", REGION, "bench-setup")


# -- events ---------------------------------------------------------------------------------------
@functools.cache
def _samples() -> SampleEvents:
    return SampleEvents.find()


def sample(name: str) -> dict[str, Any]:
    """A sample event of tests/events/, found from the working directory (the bench runs from the
    repository's root, and imports nothing of tests/)."""
    return _samples().load(name)


def health_body(key_id: str, user: str | None, account: str = HOME) -> str:
    return json.dumps(health_event(key_id, user, account))


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
    return json.dumps(trusted_advisor_event(key_id, user, account))


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
