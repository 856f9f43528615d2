"""The approval Lambda with real Slack-signed requests, moto (IAM, DynamoDB, Secrets Manager)
and the Slack stand-in over real HTTP.

Each test contains a real key through the real responder handler first, so the incident, its
Slack messages and its stored channel/ts are exactly what production would have.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from leak_responder.adapters.slack.messages import DELETE_ACTION_ID, REACTIVATE_ACTION_ID
from leak_sandbox.slack_standin import SlackStandIn, dm_channel_for
from leak_sandbox.testkit.events import health_event
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event
from leak_sandbox.testkit.slack import (
    click_payload,
    form_body,
    function_url_event,
    random_signing_secret,
)
from leak_sandbox.testkit.world import APPROVER, OWNER_SLACK, STRANGER
from tests.handlers import load_handler
from tests.integration.conftest import HOME, REGION, SECURITY, Stack


@pytest.fixture
def contained(stack: Stack, signing_secret: str, standin: SlackStandIn) -> dict[str, Any]:
    """alice's leaked key, contained by the real responder, with her DM sent."""
    responder = load_handler("responder")
    responder.responder_for.cache_clear()
    iam = stack.iam()
    iam.create_user(UserName="alice", Tags=[{"Key": "slack-user-id", "Value": OWNER_SLACK}])
    created = iam.create_access_key(UserName="alice")["AccessKey"]
    key = created["AccessKeyId"]
    event = health_event(key, "alice", HOME)
    result = responder.lambda_handler(
        sqs_event([json.dumps(event)], stack.queue_arn), lambda_context()
    )
    assert result == {"batchItemFailures": []}
    incident = read_incident(stack, key)
    assert incident["status"] == "contained"
    assert incident["slack_channel"] == dm_channel_for(OWNER_SLACK)
    standin.reset(messages=False)
    return {"key": key, "secret": created["SecretAccessKey"], "incident": incident}


def read_incident(stack: Stack, key: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"{HOME}#{key}"}}, ConsistentRead=True
    )["Item"]
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def key_status(stack: Stack, key: str) -> str | None:
    keys = stack.iam().list_access_keys(UserName="alice")["AccessKeyMetadata"]
    return next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)


def click(
    approval: Any,
    secret: str,
    incident: dict[str, Any],
    user: str = OWNER_SLACK,
    action: str = DELETE_ACTION_ID,
    *,
    standin: SlackStandIn | None = None,
    base64_encoded: bool = True,
    **event_kwargs: Any,
) -> dict[str, Any]:
    payload = click_payload(
        action,
        incident["incident_id"],
        user,
        response_url=standin.response_url("click") if standin else None,
        channel=incident["slack_channel"],
        message_ts=incident["slack_ts"],
    )
    event = function_url_event(
        form_body(payload), secret, base64_encoded=base64_encoded, **event_kwargs
    )
    response: dict[str, Any] = approval.lambda_handler(event, lambda_context())
    return response


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(response["body"])
    return parsed


@pytest.mark.parametrize("base64_encoded", [True, False])
def test_owner_click_deletes_the_old_key_and_updates_both_messages(
    stack: Stack,
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    standin: SlackStandIn,
    base64_encoded: bool,
) -> None:
    incident = contained["incident"]
    # When alice clicks Delete in her DM
    response = click(
        approval, signing_secret, incident, standin=standin, base64_encoded=base64_encoded
    )
    # Then the old key is deleted, the replacement stays, the incident is closed by her
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response)["changed"] is True
    assert key_status(stack, contained["key"]) is None
    assert key_status(stack, incident["new_key_id"]) == "Active"
    stored = read_incident(stack, contained["key"])
    assert stored["status"] == "deleted"
    assert stored["closed_by"] == OWNER_SLACK
    assert "claims" not in stored  # the click let go of its claim in the same write
    # And the old key's tag went with it (IAM allows a user 50); the replacement's stays
    tags = {t["Key"] for t in stack.iam().list_user_tags(UserName="alice")["Tags"]}
    assert contained["key"] not in tags
    assert incident["new_key_id"] in tags
    # And both copies of the notice now show the outcome, with no buttons left
    updates = standin.calls("chat.update")
    assert {(u["params"]["channel"], u["params"]["ts"]) for u in updates} == {
        (incident["slack_channel"], incident["slack_ts"]),
        (SECURITY, incident["security_channel_ts"]),
    }
    for channel, ts in ((incident["slack_channel"], incident["slack_ts"]),):
        message = standin.message(channel, ts)
        assert message is not None
        assert not [b for b in message["blocks"] if b["type"] == "actions"]
        assert "deleted" in json.dumps(message["blocks"])


def test_double_click_deletes_once(
    stack: Stack,
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    standin: SlackStandIn,
) -> None:
    incident = contained["incident"]
    first = click(approval, signing_secret, incident, standin=standin)
    second = click(approval, signing_secret, incident, standin=standin)
    assert first["statusCode"] == second["statusCode"] == 200
    assert body_of(first)["changed"] is True
    assert body_of(second)["changed"] is False
    assert "already deleted" in body_of(second)["text"]
    audit = read_incident(stack, contained["key"])["audit"]
    assert [a["action"] for a in audit].count("delete_old_key") == 1
    # The repeat click is told so, privately
    ephemeral = [c for c in standin.calls("response_url") if c["params"].get("response_type")]
    assert any("already deleted" in c["params"]["text"] for c in ephemeral)


def test_replay_of_the_same_signed_request_changes_nothing(
    stack: Stack, approval: Any, signing_secret: str, contained: dict[str, Any]
) -> None:
    incident = contained["incident"]
    payload = click_payload(DELETE_ACTION_ID, incident["incident_id"], OWNER_SLACK)
    event = function_url_event(form_body(payload), signing_secret)
    assert approval.lambda_handler(event, lambda_context())["statusCode"] == 200
    replay = approval.lambda_handler(event, lambda_context())
    assert replay["statusCode"] == 200 and body_of(replay)["changed"] is False


BAD_SIGNATURES: list[tuple[str, dict[str, Any]]] = [
    ("wrong signature", {"signature": "v0=" + "0" * 64}),
    ("stale timestamp", {"offset": -400}),
    ("future timestamp", {"offset": 400}),
    ("garbage timestamp", {"timestamp": "yesterday"}),
    ("empty signature", {"signature": ""}),
]


def test_bad_signatures_are_401_and_change_nothing(
    stack: Stack, approval: Any, signing_secret: str, contained: dict[str, Any]
) -> None:
    # One contained key for every case: each containment costs a second of moto set-up.
    for case, kwargs in BAD_SIGNATURES:
        if "offset" in kwargs:
            # Computed now, well past the window (the exact edge is unit-tested).
            kwargs = {"timestamp": int(time.time()) + kwargs["offset"]}
        response = click(approval, signing_secret, contained["incident"], **kwargs)
        assert response["statusCode"] == 401, case
    # Signed with a secret that is not ours
    assert click(approval, random_signing_secret(), contained["incident"])["statusCode"] == 401
    assert key_status(stack, contained["key"]) == "Inactive"
    assert read_incident(stack, contained["key"])["status"] == "contained"


def test_body_tampered_after_signing_is_401(
    stack: Stack, approval: Any, signing_secret: str, contained: dict[str, Any]
) -> None:
    incident = contained["incident"]
    signed = form_body(click_payload(DELETE_ACTION_ID, incident["incident_id"], STRANGER))
    event = function_url_event(signed, signing_secret, base64_encoded=False)
    event["body"] = form_body(
        click_payload(DELETE_ACTION_ID, incident["incident_id"], OWNER_SLACK)
    ).decode()
    assert approval.lambda_handler(event, lambda_context())["statusCode"] == 401
    assert key_status(stack, contained["key"]) == "Inactive"


def test_stranger_is_403_and_told_privately(
    stack: Stack,
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    standin: SlackStandIn,
) -> None:
    response = click(approval, signing_secret, contained["incident"], STRANGER, standin=standin)
    assert response["statusCode"] == 403
    assert key_status(stack, contained["key"]) == "Inactive"
    [told] = standin.calls("response_url")
    assert told["params"]["response_type"] == "ephemeral"
    assert told["params"]["replace_original"] is False
    assert standin.calls("chat.update") == []


def test_forged_incident_id_is_404(
    stack: Stack, approval: Any, signing_secret: str, contained: dict[str, Any]
) -> None:
    forged = {**contained["incident"], "incident_id": "AAAAAAAAAAAAAAAA"}
    response = click(approval, signing_secret, forged)
    assert response["statusCode"] == 404
    assert key_status(stack, contained["key"]) == "Inactive"


def test_key_reactivated_outside_the_workflow_is_not_deleted(
    stack: Stack, approval: Any, signing_secret: str, contained: dict[str, Any]
) -> None:
    stack.iam().update_access_key(UserName="alice", AccessKeyId=contained["key"], Status="Active")
    response = click(approval, signing_secret, contained["incident"])
    assert response["statusCode"] == 409
    assert "Active again" in body_of(response)["text"]
    assert key_status(stack, contained["key"]) == "Active"


def test_key_used_after_deactivation_is_not_deleted(
    stack: Stack, approval: Any, signing_secret: str, contained: dict[str, Any]
) -> None:
    # Someone uses the leaked (now inactive) key: moto records it as GetAccessKeyLastUsed would.
    attacker = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=contained["key"],
        aws_secret_access_key=contained["secret"],
    )
    attacker.get_caller_identity()
    last = stack.iam().get_access_key_last_used(AccessKeyId=contained["key"])["AccessKeyLastUsed"]
    assert "LastUsedDate" in last, "moto did not record the use; the test would prove nothing"
    response = click(approval, signing_secret, contained["incident"])
    assert response["statusCode"] == 409
    assert "after it was deactivated" in body_of(response)["text"]
    assert key_status(stack, contained["key"]) == "Inactive"


def test_reactivate_is_for_approvers_only(
    stack: Stack,
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    standin: SlackStandIn,
) -> None:
    incident = contained["incident"]
    refused = click(approval, signing_secret, incident, OWNER_SLACK, REACTIVATE_ACTION_ID)
    assert refused["statusCode"] == 403
    assert key_status(stack, contained["key"]) == "Inactive"

    accepted = click(
        approval, signing_secret, incident, APPROVER, REACTIVATE_ACTION_ID, standin=standin
    )
    assert accepted["statusCode"] == 200, accepted["body"]
    assert key_status(stack, contained["key"]) == "Active"
    stored = read_incident(stack, contained["key"])
    assert stored["status"] == "reactivated"
    assert stored["audit"][-1]["by"] == APPROVER
    assert stored["audit"][-1]["action"] == "reactivate_key"
    # And the key's description tag, checked by IAM's rules (conftest.iam_tag_rules), says so
    tags = {t["Key"]: t["Value"] for t in stack.iam().list_user_tags(UserName="alice")["Tags"]}
    assert "reactivated" in tags[contained["key"]]


@pytest.mark.parametrize(
    ("action", "clicker"), [(DELETE_ACTION_ID, OWNER_SLACK), (REACTIVATE_ACTION_ID, APPROVER)]
)
def test_a_click_while_another_holds_the_incident_is_409_and_changes_nothing(
    stack: Stack,
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    action: str,
    clicker: str,
) -> None:
    from datetime import UTC, datetime

    from leak_responder.adapters.aws.incidents import DynamoIncidentStore
    from leak_responder.domain.approval import APPROVAL_CLAIM, CLAIM_TTL
    from leak_responder.domain.incidents import take_lease

    # Given another click's claim on the incident, in DynamoDB (that click is still working)
    store = DynamoIncidentStore(stack.client("dynamodb"), stack.table)
    current = store.get(HOME, contained["key"])
    assert current is not None
    now = datetime.now(UTC)
    assert take_lease(store, current, APPROVAL_CLAIM, now, CLAIM_TTL, lambda i: False).mine
    before = read_incident(stack, contained["key"])
    # When a Delete or a Reactivate arrives, it is told to wait and touches nothing
    response = click(approval, signing_secret, contained["incident"], clicker, action)
    assert response["statusCode"] == 409
    assert "another action is in progress" in body_of(response)["text"]
    assert key_status(stack, contained["key"]) == "Inactive"
    assert read_incident(stack, contained["key"]) == before


def test_other_workspace_is_403(
    stack: Stack, approval: Any, signing_secret: str, contained: dict[str, Any]
) -> None:
    incident = contained["incident"]
    payload = click_payload(
        DELETE_ACTION_ID, incident["incident_id"], OWNER_SLACK, team_id="T0ELSEWHERE"
    )
    response = approval.lambda_handler(
        function_url_event(form_body(payload), signing_secret), lambda_context()
    )
    assert response["statusCode"] == 403
    assert key_status(stack, contained["key"]) == "Inactive"


@pytest.mark.parametrize(
    "body",
    [
        b"payload=not-json",
        b"nothing=here",
        b"payload=" + b"%7B%22type%22%3A%22view_submission%22%7D",
    ],
)
def test_signed_garbage_is_400(approval: Any, signing_secret: str, body: bytes) -> None:
    response = approval.lambda_handler(function_url_event(body, signing_secret), lambda_context())
    assert response["statusCode"] == 400


def test_invalid_base64_is_400(approval: Any, signing_secret: str) -> None:
    event = function_url_event(b"payload=x", signing_secret)
    event["body"] = "***not base64***"
    assert approval.lambda_handler(event, lambda_context())["statusCode"] == 400


def test_no_secret_leaks_into_responses_or_slack(
    stack: Stack,
    approval: Any,
    signing_secret: str,
    contained: dict[str, Any],
    standin: SlackStandIn,
) -> None:
    ok = click(approval, signing_secret, contained["incident"], standin=standin)
    bad = click(approval, signing_secret, contained["incident"], signature="v0=" + "1" * 64)
    token = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId="slack/bot-token"
    )["SecretString"]
    everything = json.dumps([ok, bad, standin.calls()])
    for value in (signing_secret, token, contained["secret"]):
        assert value not in everything


@pytest.mark.parametrize(
    ("action", "clicker"), [(DELETE_ACTION_ID, OWNER_SLACK), (REACTIVATE_ACTION_ID, APPROVER)]
)
def test_every_aws_call_made_is_granted_to_its_function(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    approval: Any,
    signing_secret: str,
    standin: SlackStandIn,
    action: str,
    clicker: str,
) -> None:
    """The declared permissions (adapters' PERMISSIONS, which test_template holds equal to the
    template's grants) cover what the code really calls: contain with Slack, then a click."""
    from leak_responder.adapters.permissions import permissions_for
    from tests.aws_calls import ActionRecorder

    calls = ActionRecorder(monkeypatch)
    calls.wrap(load_handler("responder"), "ResponderFunction")
    calls.wrap(approval, "ApprovalFunction")
    contained = request.getfixturevalue("contained")
    response = click(
        approval, signing_secret, contained["incident"], clicker, action, standin=standin
    )
    assert response["statusCode"] == 200, response
    assert {"iam:UpdateAccessKey", "iam:ListUserTags", "secretsmanager:GetSecretValue"} <= (
        calls.actions["ResponderFunction"]
    )
    assert {"dynamodb:Query", "iam:UpdateAccessKey"} & calls.actions["ApprovalFunction"]
    if action == DELETE_ACTION_ID:
        assert {"iam:DeleteAccessKey", "iam:UntagUser"} <= calls.actions["ApprovalFunction"]
    for function, actions in calls.actions.items():
        undeclared = actions - permissions_for(function)
        assert not undeclared, f"{function} calls {sorted(undeclared)} without a grant"


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("AKIAEXAMPLE", "leak-responder: reactivated 2026-11-28 incident abc_1", None),
        ("owner", "Zoë Ünal @ team/東京+1=2", None),
        ("AKIAEXAMPLE", "reactivated (false positive)", "ValidationError"),
        ("AKIAEXAMPLE", "leaked, deactivated", "ValidationError"),
        ("AKIAEXAMPLE", "x" * 257, "ValidationError"),
        ("", "empty key", "ValidationError"),
        ("k" * 129, "long key", "ValidationError"),
        ("key#1", "bad key", "ValidationError"),
    ],
)
def test_the_iam_tag_fake_rejects_what_real_iam_rejects(
    stack: Stack, key: str, value: str, code: str | None
) -> None:
    """tests/integration/conftest.py's iam_tag_rules stands in for IAM's own validation."""
    from botocore.exceptions import ClientError

    iam = stack.iam()
    iam.create_user(UserName="tagged")
    if code is None:
        iam.tag_user(UserName="tagged", Tags=[{"Key": key, "Value": value}])
        assert iam.list_user_tags(UserName="tagged")["Tags"] == [{"Key": key, "Value": value}]
        return
    with pytest.raises(ClientError) as info:
        iam.tag_user(UserName="tagged", Tags=[{"Key": key, "Value": value}])
    assert info.value.response["Error"]["Code"] == code
    assert iam.list_user_tags(UserName="tagged")["Tags"] == []


def test_the_iam_tag_fake_holds_a_user_to_fifty_tags(stack: Stack) -> None:
    from botocore.exceptions import ClientError

    iam = stack.iam()
    iam.create_user(UserName="tagged")
    iam.tag_user(UserName="tagged", Tags=[{"Key": f"k{i}", "Value": ""} for i in range(49)])
    # Re-tagging an existing key adds no tag; the fiftieth is allowed, the fifty-first is not.
    iam.tag_user(
        UserName="tagged", Tags=[{"Key": "k0", "Value": "new"}, {"Key": "k49", "Value": ""}]
    )
    with pytest.raises(ClientError) as info:
        iam.tag_user(UserName="tagged", Tags=[{"Key": "k50", "Value": ""}])
    assert info.value.response["Error"]["Code"] == "LimitExceeded"
