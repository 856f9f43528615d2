"""The responder's wiring under a Slack token that cannot be read yet.

At the first notice the bot token's secret is missing, still holds CloudFormation's placeholder,
or its read is throttled: the key is contained all the same, the notice stays pending and the
message is retried. Once the secret reads, the redelivery sends the notice. And slack_sdk is never
loaded before UpdateAccessKey, in a fresh interpreter, on the real handler's path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from boto3.dynamodb.types import TypeDeserializer
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from leak_sandbox.slack_standin import SlackStandIn
from leak_sandbox.testkit.events import health_event
from leak_sandbox.testkit.fakes import fake_secret
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event
from leak_sandbox.testkit.world import OWNER_SLACK, TEAM
from tests.handlers import load_handler
from tests.integration.conftest import HOME, REGION, Stack

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SECRET = "slack/bot-token"


@pytest.fixture
def slack_env(stack: Stack, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SLACK_BOT_TOKEN_SECRET": TOKEN_SECRET,
        "SLACK_API_URL": standin.api_url,
        "SLACK_SECURITY_CHANNEL": "C0SECURITY1",
        "SLACK_TEAM_ID": TEAM,
    }.items():
        monkeypatch.setenv(name, value)


def _incident(stack: Stack, key: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"{HOME}#{key}"}}, ConsistentRead=True
    )["Item"]
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def _throttle_secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """GetSecretValue answers ThrottlingException while the returned list is non-empty."""
    original = BaseClient._make_api_call  # type: ignore[attr-defined]
    throttling = [1]

    def call(client: BaseClient, operation: str, params: Any) -> Any:
        if operation == "GetSecretValue" and throttling:
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                operation,
            )
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return throttling


@pytest.mark.parametrize("fault", ["missing", "placeholder", "throttled"])
def test_an_unreadable_token_leaves_the_notice_pending_then_it_is_delivered(
    fault: str,
    stack: Stack,
    slack_env: None,
    standin: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    real_token = "xoxb-" + fake_secret()
    throttling: list[int] = []
    if fault == "placeholder":
        sm.create_secret(Name=TOKEN_SECRET, SecretString="REPLACE_ME with the xoxb- token")
    elif fault == "throttled":
        sm.create_secret(Name=TOKEN_SECRET, SecretString=real_token)
        throttling = _throttle_secret_reads(monkeypatch)

    responder = load_handler("responder")
    responder.responder_for.cache_clear()
    iam = stack.iam()
    iam.create_user(UserName="alice", Tags=[{"Key": "slack-user-id", "Value": OWNER_SLACK}])
    key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    body = json.dumps(health_event(key, "alice", HOME))

    first = responder.lambda_handler(sqs_event([body], stack.queue_arn, 1), lambda_context())
    assert len(first["batchItemFailures"]) == 1  # retried for the notice
    incident = _incident(stack, key)
    assert incident["status"] == "contained"
    assert incident["notification_status"] == "pending"
    assert "notified" not in incident["steps"]
    assert not standin.calls("chat.postMessage")
    keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys}[key] == "Inactive"

    # The operator puts the token (or the throttling ends); the same warm container retries.
    if fault == "missing":
        sm.create_secret(Name=TOKEN_SECRET, SecretString=real_token)
    elif fault == "placeholder":
        sm.put_secret_value(SecretId=TOKEN_SECRET, SecretString=real_token)
        parameters.clear_caches()  # type: ignore[no-untyped-call]  # as after max_age
    else:
        throttling.clear()
    second = responder.lambda_handler(sqs_event([body], stack.queue_arn, 2), lambda_context())
    assert second == {"batchItemFailures": []}
    incident = _incident(stack, key)
    assert incident["notification_status"] == "sent"
    assert "notified" in incident["steps"]
    posts = standin.calls("chat.postMessage")
    assert posts, standin.calls()
    # Exactly one replacement, whatever the retries.
    keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert len(keys) == 2


PROBE = """
import json, sys
import boto3
from moto import mock_aws

seen = {}

def before(event_name, **kwargs):
    if event_name.endswith("UpdateAccessKey") and "at_update" not in seen:
        seen["at_update"] = sorted(
            m for m in sys.modules
            if m.split(".")[0] == "slack_sdk"
            or m.startswith("aws_lambda_powertools.utilities.parameters")
        )

with mock_aws():
    from leak_sandbox.provisioner import provision
    from leak_sandbox.slack_standin import SlackStandIn
    from leak_sandbox.testkit.events import health_event
    from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event

    session = boto3.session.Session(region_name="us-east-1")
    p = provision("template.yaml", session, stack_name="probe")
    import os
    env = p.functions["ResponderFunction"].environment
    os.environ.update({k: v for k, v in env.items() if not k.startswith("SLACK_")})
    boto3.client("secretsmanager").create_secret(Name="slack/bot-token", SecretString="xoxb-1")
    with SlackStandIn(team_id="T0TEAM") as standin:
        os.environ.update(SLACK_BOT_TOKEN_SECRET="slack/bot-token", SLACK_API_URL=standin.api_url,
                          SLACK_SECURITY_CHANNEL="C0SECURITY1")
        iam = boto3.client("iam")
        iam.create_user(UserName="alice", Tags=[{"Key": "slack-user-id", "Value": "U0ALICE"}])
        key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
        # Registered on every client the handler builds from here on.
        boto3.DEFAULT_SESSION = None
        boto3.setup_default_session(region_name="us-east-1")
        import botocore.session
        original = botocore.session.Session.create_client
        def create_client(self, *a, **k):
            client = original(self, *a, **k)
            client.meta.events.register("before-call", before)
            return client
        botocore.session.Session.create_client = create_client

        import importlib.util
        spec = importlib.util.spec_from_file_location("responder_app", "functions/responder/app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out = module.lambda_handler(
            sqs_event([json.dumps(health_event(key, "alice", "123456789012"))], p.arn("LeakQueue")),
            lambda_context(),
        )
        seen["result"] = out
        seen["after"] = "slack_sdk" in sys.modules
        seen["posted"] = bool(standin.calls("chat.postMessage"))
print(json.dumps(seen))
"""


def test_slack_sdk_is_not_loaded_before_update_access_key() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "PATH": "/usr/bin:/bin",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["at_update"] == [], seen
    assert seen["result"] == {"batchItemFailures": []}
    assert seen["after"] is True
    assert seen["posted"] is True
