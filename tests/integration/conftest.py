"""moto-backed stack for integration tests: template.yaml's resources, in-process."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from leak_sandbox.provisioner import Provisioned, provision
from leak_sandbox.slack_standin import SlackStandIn
from leak_sandbox.testkit.fakes import fake_secret
from leak_sandbox.testkit.slack import random_signing_secret
from leak_sandbox.testkit.world import APPROVER, TEAM
from tests.handlers import load_handler

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


# IAM's TagUser limits (IAM API reference, TagUser and Tag): keys and values match
# [\p{L}\p{Z}\p{N}_.:/=+\-@]*, keys are 1-128 characters, values 0-256, and a user holds at
# most 50 tags.
TAG_PUNCTUATION = frozenset("_.:/=+-@")
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_TAGS_PER_USER = 50


def iam_tag_text_ok(text: str) -> bool:
    """Whether every character is in \\p{L}, \\p{Z}, \\p{N} or IAM's few punctuation marks."""
    return all(unicodedata.category(ch)[0] in "LZN" or ch in TAG_PUNCTUATION for ch in text)


def _iam_error(code: str, message: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}}
    response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "TagUser")


def _tag_validation_error(field: str, index: int, constraint: str) -> ClientError:
    return _iam_error(
        "ValidationError",
        f"1 validation error detected: Value at 'tags.{index}.member.{field}' failed to "
        f"satisfy constraint: {constraint}",
        400,
    )


def check_iam_tags(tags: list[dict[str, str]]) -> None:
    """Raise the ClientError real IAM answers for an invalid TagUser request."""
    for index, tag in enumerate(tags, start=1):
        key, value = tag["Key"], tag["Value"]
        if not 1 <= len(key) <= MAX_TAG_KEY:
            raise _tag_validation_error("key", index, "Member must have length 1-128")
        if len(value) > MAX_TAG_VALUE:
            raise _tag_validation_error("value", index, "Member must have length <= 256")
        for field, text in (("key", key), ("value", value)):
            if not iam_tag_text_ok(text):
                raise _tag_validation_error(
                    field,
                    index,
                    r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*",
                )


@pytest.fixture(autouse=True)
def iam_tag_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """An honest fake of IAM's tag validation. moto accepts any tag value; real IAM rejects a
    TagUser whose keys or values hold other characters (commas, parentheses, ...) or are too
    long, with ValidationError, and one that would leave the user more than 50 tags, with
    LimitExceeded. Every botocore client in the process goes through ``_make_api_call``, so
    this covers the handlers' clients too (see tests/aws_calls.py)."""
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def existing_tag_keys(client: BaseClient, user_name: str) -> set[str]:
        # Straight to moto's ListUserTags: neither this check nor a test's call recorder sees it.
        keys: set[str] = set()
        params: dict[str, Any] = {"UserName": user_name}
        while True:
            page = original(client, "ListUserTags", params)
            keys.update(t["Key"] for t in page.get("Tags", []))
            if not page.get("IsTruncated"):
                return keys
            params = {"UserName": user_name, "Marker": page["Marker"]}

    def checked(client: BaseClient, operation: str, params: Any) -> Any:
        if client.meta.service_model.signing_name == "iam" and operation == "TagUser":
            tags = list(params.get("Tags", []))
            check_iam_tags(tags)
            after = existing_tag_keys(client, params["UserName"]) | {t["Key"] for t in tags}
            if len(after) > MAX_TAGS_PER_USER:
                raise _iam_error("LimitExceeded", "Cannot exceed quota for TagsPerUser: 50", 409)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", checked)


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


# ------------------------------------------------------------------- Slack, for the handlers

SECURITY = "C0SECURITY1"
SIGNING_SECRET_NAME = "slack/signing-secret"
BOT_TOKEN_SECRET_NAME = "slack/bot-token"


@pytest.fixture(autouse=True)
def _fresh_parameter_caches() -> Iterator[None]:
    # Powertools caches secrets per process: one test's Slack secret must not leak into the next.
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(team_id=TEAM) as server:
        yield server


@pytest.fixture
def signing_secret(stack: Stack, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    """Slack credentials in (moto's) Secrets Manager, and the functions' environment, as an
    operator leaves them after deploying."""
    secret = random_signing_secret()
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name=SIGNING_SECRET_NAME, SecretString=secret)
    sm.create_secret(Name=BOT_TOKEN_SECRET_NAME, SecretString="xoxb-" + fake_secret())
    env = {
        "SLACK_SIGNING_SECRET_SECRET": SIGNING_SECRET_NAME,
        "SLACK_BOT_TOKEN_SECRET": BOT_TOKEN_SECRET_NAME,
        "SLACK_API_URL": standin.api_url,
        "SLACK_SECURITY_CHANNEL": SECURITY,
        "SLACK_TEAM_ID": TEAM,
        "APPROVERS": f"{APPROVER},U0SECURITY2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    return secret


@pytest.fixture
def approval() -> Any:
    """The approval handler module, its endpoint rebuilt from this test's environment."""
    module = load_handler("approval")
    module.endpoint_for.cache_clear()
    return module
