"""Hostile requests at the approval Function URL: every answer is a 4xx (a genuine signed click
a 2xx), never an exception or a 5xx, answered fast, and nothing changes in IAM or DynamoDB."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from leak_responder.adapters.slack.messages import DELETE_ACTION_ID
from leak_sandbox.testkit.events import health_event
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event
from leak_sandbox.testkit.slack import (
    click_payload,
    form_body,
    function_url_event,
)
from leak_sandbox.testkit.world import OWNER_SLACK
from tests.handlers import load_handler
from tests.integration.conftest import HOME, REGION, SIGNING_SECRET_NAME, Stack


@pytest.fixture
def contained(stack: Stack, signing_secret: str) -> dict[str, Any]:
    """alice's leaked key, contained by the real responder, with her DM sent."""
    responder = load_handler("responder")
    responder.responder_for.cache_clear()
    iam = stack.iam()
    iam.create_user(UserName="alice", Tags=[{"Key": "slack-user-id", "Value": OWNER_SLACK}])
    key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    result = responder.lambda_handler(
        sqs_event([json.dumps(health_event(key, "alice", HOME))], stack.queue_arn),
        lambda_context(),
    )
    assert result == {"batchItemFailures": []}
    incident = read_incident(stack, key)
    assert incident["status"] == "contained"
    return {"key": key, "incident": incident}


def read_incident(stack: Stack, key: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"{HOME}#{key}"}}, ConsistentRead=True
    )["Item"]
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def key_status(stack: Stack, key: str) -> str | None:
    keys = stack.iam().list_access_keys(UserName="alice")["AccessKeyMetadata"]
    return next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)


_HEX64 = "0" * 64


def _signed_click(secret: str, incident: dict[str, Any]) -> dict[str, Any]:
    payload = click_payload(
        DELETE_ACTION_ID,
        incident["incident_id"],
        OWNER_SLACK,
        channel=incident["slack_channel"],
        message_ts=incident["slack_ts"],
    )
    return function_url_event(form_body(payload), secret)


def _with(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    hostile = copy.deepcopy(event)
    hostile.update(changes)
    return hostile


def _hmac(raw: bytes, secret: str, ts: str) -> str:
    """Slack's v0 signature computed over raw bytes (slack_sdk's signer wants UTF-8)."""
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
    return "v0=" + digest.hexdigest()


def _raw_signed(body_text: str, secret: str, raw: bytes, *, b64: bool) -> dict[str, Any]:
    """Headers that carry a well-formed, fresh signature of ``raw``; the body as given."""
    ts = str(int(time.time()))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": _hmac(raw, secret, ts),
        },
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": body_text,
        "isBase64Encoded": b64,
    }


def _hostile_events(secret: str, good: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ts = str(int(time.time()))
    non_utf8 = b"payload=\xff\xfe\xfd"
    events: dict[str, dict[str, Any]] = {
        "headers missing": {k: v for k, v in good.items() if k != "headers"},
        "headers None": _with(good, headers=None),
        "headers a list": _with(good, headers=[["x-slack-signature", "v0=" + _HEX64]]),
        "headers a string": _with(good, headers="x-slack-signature: v0=" + _HEX64),
        "headers with a non-string name": _with(good, headers={1: "x", None: "y"}),
        "headers with a non-string name and the real ones": _with(
            good, headers={**good["headers"], 7: "seven"}
        ),
        "header values not strings": _with(
            good,
            headers={
                "x-slack-request-timestamp": int(ts),
                "x-slack-signature": ["v0=" + _HEX64],
            },
        ),
        "header values None": _with(
            good, headers={"x-slack-request-timestamp": None, "x-slack-signature": None}
        ),
        "upper-case header names, forged signature": _with(
            good,
            headers={
                "X-SLACK-REQUEST-TIMESTAMP": ts,
                "X-SLACK-SIGNATURE": "v0=" + _HEX64,
            },
        ),
        "body None": _with(good, body=None),
        "body missing": {k: v for k, v in good.items() if k != "body"},
        "body an int": _with(good, body=42),
        "body a list": _with(good, body=["payload=x"]),
        "body a dict": _with(good, body={"payload": "x"}),
        "body bytes": _with(good, body=b"payload=x"),
        "body huge": _with(good, body="A" * (6 * 1024 * 1024), isBase64Encoded=False),
        "body huge base64": _with(good, body=base64.b64encode(b"a" * (4 << 20)).decode()),
        "body invalid base64": _with(good, body="!!!not base64***"),
        "body base64 with a bad length": _with(good, body="YWJjZA="),
        "body a lone surrogate": _with(good, body="\udc80", isBase64Encoded=False),
        "body a lone surrogate, base64": _with(good, body="\udc80"),
        "body base64 of non-UTF-8": _with(good, body=base64.b64encode(non_utf8).decode()),
        "isBase64Encoded the string true": _with(good, isBase64Encoded="true"),
        "isBase64Encoded the string false": _with(good, isBase64Encoded="false"),
        "isBase64Encoded a list": _with(good, isBase64Encoded=[1]),
        "signed non-UTF-8 body, base64": _raw_signed(
            base64.b64encode(non_utf8).decode(), secret, non_utf8, b64=True
        ),
        "signed text body with a lone surrogate": _raw_signed(
            "payload=\udc80", secret, b"payload=", b64=False
        ),
        "signed empty body": _raw_signed("", secret, b"", b64=True),
        "well-formed forged signature, fresh": _with(
            good,
            headers={**good["headers"], "x-slack-signature": "v0=" + _HEX64},
        ),
        "timestamp with 12 digits": _with(
            good,
            headers={**good["headers"], "x-slack-request-timestamp": "9" * 12},
        ),
        "timestamp with unicode digits": _with(
            good,
            headers={**good["headers"], "x-slack-request-timestamp": "\u0661\u0667" + "\u0660" * 8},
        ),
        "signature upper-case hex": _with(
            good,
            headers={
                **good["headers"],
                "x-slack-signature": good["headers"]["x-slack-signature"].upper(),
            },
        ),
        "signature with a trailing newline": _with(
            good,
            headers={
                **good["headers"],
                "x-slack-signature": good["headers"]["x-slack-signature"] + "\n",
            },
        ),
    }
    return events


HOSTILE = [
    "headers missing",
    "headers None",
    "headers a list",
    "headers a string",
    "headers with a non-string name",
    "headers with a non-string name and the real ones",
    "header values not strings",
    "header values None",
    "upper-case header names, forged signature",
    "body None",
    "body missing",
    "body an int",
    "body a list",
    "body a dict",
    "body bytes",
    "body huge",
    "body huge base64",
    "body invalid base64",
    "body base64 with a bad length",
    "body a lone surrogate",
    "body a lone surrogate, base64",
    "body base64 of non-UTF-8",
    "isBase64Encoded the string true",
    "isBase64Encoded the string false",
    "isBase64Encoded a list",
    "signed non-UTF-8 body, base64",
    "signed text body with a lone surrogate",
    "signed empty body",
    "well-formed forged signature, fresh",
    "timestamp with 12 digits",
    "timestamp with unicode digits",
    "signature upper-case hex",
    "signature with a trailing newline",
]


def _snapshot(stack: Stack, key: str) -> tuple[Any, ...]:
    incident = read_incident(stack, key)
    users = stack.iam().list_users()["Users"]
    keys = stack.iam().list_access_keys(UserName="alice")["AccessKeyMetadata"]
    tags = stack.iam().list_user_tags(UserName="alice")["Tags"]
    return (
        json.dumps(incident, sort_keys=True, default=str),
        sorted(u["UserName"] for u in users),
        sorted((k["AccessKeyId"], k["Status"]) for k in keys),
        sorted((t["Key"], t["Value"]) for t in tags),
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_request_is_4xx_and_changes_nothing(
    name: str,
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    stack: Stack,
) -> None:
    good = _signed_click(signing_secret, contained["incident"])
    event = _hostile_events(signing_secret, good)[name]
    before = _snapshot(stack, contained["key"])
    started = time.monotonic()
    response = approval.lambda_handler(event, lambda_context())
    elapsed = time.monotonic() - started
    assert 400 <= response["statusCode"] < 500, (name, response)
    assert isinstance(json.loads(response["body"]), dict)
    assert elapsed < 3.0
    assert _snapshot(stack, contained["key"]) == before
    assert key_status(stack, contained["key"]) == "Inactive"


def test_upper_case_header_names_still_verify_a_genuine_click(
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    stack: Stack,
) -> None:
    good = _signed_click(signing_secret, contained["incident"])
    good["headers"] = {k.upper(): v for k, v in good["headers"].items()}
    response = approval.lambda_handler(good, lambda_context())
    assert response["statusCode"] == 200, response
    assert key_status(stack, contained["key"]) is None


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no signature headers"),
        pytest.param(
            {"x-slack-request-timestamp": "1", "x-slack-signature": "v0=" + _HEX64},
            id="stale timestamp",
        ),
        pytest.param(
            {"x-slack-request-timestamp": "now", "x-slack-signature": "v0=junk"},
            id="malformed headers",
        ),
    ],
)
def test_junk_is_401_even_while_the_signing_secret_is_unreadable(
    headers: dict[str, str],
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    stack: Stack,
) -> None:
    boto3.client("secretsmanager", region_name=REGION).delete_secret(
        SecretId=SIGNING_SECRET_NAME, ForceDeleteWithoutRecovery=True
    )
    good = _signed_click(signing_secret, contained["incident"])
    before = _snapshot(stack, contained["key"])
    response = approval.lambda_handler(_with(good, headers=headers), lambda_context())
    assert response["statusCode"] == 401, response
    assert _snapshot(stack, contained["key"]) == before


def test_a_signed_click_while_the_signing_secret_is_unreadable_is_still_refused(
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    stack: Stack,
) -> None:
    """Unchanged: with no secret to check against, a well-formed request is never accepted."""
    boto3.client("secretsmanager", region_name=REGION).delete_secret(
        SecretId=SIGNING_SECRET_NAME, ForceDeleteWithoutRecovery=True
    )
    response = approval.lambda_handler(
        _signed_click(signing_secret, contained["incident"]), lambda_context()
    )
    assert response["statusCode"] == 500, response
    assert key_status(stack, contained["key"]) == "Inactive"
