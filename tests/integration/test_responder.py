"""The real responder handler against moto: SQS records in, keys contained, incidents recorded."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from leak_responder.adapters.aws.iam import REVOKE_POLICY_NAME
from leak_responder.settings import Settings
from leak_responder.wiring import ClientFactory, build_responder
from leak_sandbox.accounts import client_as
from leak_sandbox.testkit import events
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event
from tests.handlers import load_handler
from tests.helpers import load_event
from tests.integration.conftest import HOME, REGION, Stack


@pytest.fixture
def handler() -> Any:
    module = load_handler("responder")
    module.responder_for.cache_clear()
    return module


def user_with_key(stack: Stack, name: str, tags: dict[str, str] | None = None) -> str:
    iam = stack.iam()
    iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    return str(iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])


def health_event(key_id: str, user: str | None = "alice", account: str = HOME) -> str:
    return json.dumps(events.health_event(key_id, user, account))


def run(handler: Any, stack: Stack, bodies: list[str], receive_count: int = 1) -> Any:
    return handler.lambda_handler(
        sqs_event(bodies, stack.queue_arn, receive_count), lambda_context()
    )


def incident(stack: Stack, key_id: str, account: str = HOME) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"{account}#{key_id}"}}, ConsistentRead=True
    )
    assert "Item" in item, f"no incident for {key_id}"
    return {k: TypeDeserializer().deserialize(v) for k, v in item["Item"].items()}


def dlq_messages(stack: Stack) -> list[dict[str, Any]]:
    response = stack.client("sqs").receive_message(
        QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return list(response.get("Messages", []))


def key_statuses(stack: Stack, user: str) -> dict[str, str]:
    keys = stack.iam().list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}


def test_health_event_is_contained_end_to_end(stack: Stack, handler: Any) -> None:
    # Given alice with one active key, leaked per AWS Health
    key_id = user_with_key(stack, "alice")
    # When the responder handles the event
    response = run(handler, stack, [health_event(key_id)])
    # Then the key is Inactive and a replacement is delivered to Secrets Manager only
    assert response == {"batchItemFailures": []}
    statuses = key_statuses(stack, "alice")
    assert statuses.pop(key_id) == "Inactive"
    (new_key_id, new_status), *_ = statuses.items()
    assert new_status == "Active"
    record = incident(stack, key_id)
    assert record["status"] == "contained"
    assert record["new_key_id"] == new_key_id
    secret = json.loads(
        stack.client("secretsmanager").get_secret_value(SecretId=record["secret_name"])[
            "SecretString"
        ]
    )
    assert secret["AccessKeyId"] == new_key_id
    # The secret lives in Secrets Manager and nowhere in the incident record.
    assert secret["SecretAccessKey"] not in json.dumps(record, default=str)
    policy = stack.iam().get_user_policy(UserName="alice", PolicyName=REVOKE_POLICY_NAME)
    assert "aws:TokenIssueTime" in json.dumps(policy["PolicyDocument"])
    tags = {t["Key"] for t in stack.iam().list_user_tags(UserName="alice")["Tags"]}
    assert {key_id, new_key_id} <= tags
    resource_policy = stack.client("secretsmanager").get_resource_policy(
        SecretId=record["secret_name"]
    )
    assert "user/alice" in resource_policy["ResourcePolicy"]
    assert record["notification_status"] == "pending"


def test_fifty_duplicate_deliveries_make_one_replacement(stack: Stack, handler: Any) -> None:
    key_id = user_with_key(stack, "alice")
    body = health_event(key_id)
    for _ in range(5):
        assert run(handler, stack, [body] * 10) == {"batchItemFailures": []}
    assert len(key_statuses(stack, "alice")) == 2
    record = incident(stack, key_id)
    assert record["sighting_count"] == 50
    assert dlq_messages(stack) == []


def test_two_key_limit_creates_no_replacement(stack: Stack, handler: Any) -> None:
    key_id = user_with_key(stack, "alice")
    stack.iam().create_access_key(UserName="alice")
    run(handler, stack, [health_event(key_id, user=None)])
    assert key_statuses(stack, "alice")[key_id] == "Inactive"
    assert len(key_statuses(stack, "alice")) == 2
    record = incident(stack, key_id)
    assert "two access keys" in record["replacement_note"]
    assert "new_key_id" not in record


def test_unknown_key_is_recorded_without_retry_or_dlq(stack: Stack, handler: Any) -> None:
    stack.iam().create_user(UserName="alice")
    unknown = "AKIA" + "Q" * 16
    response = run(handler, stack, [health_event(unknown, user=None)])
    assert response == {"batchItemFailures": []}
    assert incident(stack, unknown)["status"] == "unknown_key"
    assert dlq_messages(stack) == []


def test_assumed_role_session_key_revokes_the_role(stack: Stack, handler: Any) -> None:
    iam = stack.iam()
    iam.create_role(RoleName="deploy", AssumeRolePolicyDocument="{}")
    event = load_event("guardduty_assumed_role")
    details = event["detail"]["resource"]["accessKeyDetails"]
    session_key = "ASIA" + "R" * 16
    details.update(accessKeyId=session_key, userName="deploy", userType="AssumedRole")
    event["detail"]["accountId"] = HOME
    response = run(handler, stack, [json.dumps(event)])
    assert response == {"batchItemFailures": []}
    policy = iam.get_role_policy(RoleName="deploy", PolicyName=REVOKE_POLICY_NAME)
    assert "aws:TokenIssueTime" in json.dumps(policy["PolicyDocument"])
    assert incident(stack, session_key)["status"] == "revoked"


def test_key_in_a_second_account_is_contained_through_the_member_role(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = "210987654321"
    member_iam = _member_iam(member)
    member_iam.create_user(UserName="carol")
    key_id = member_iam.create_access_key(UserName="carol")["AccessKey"]["AccessKeyId"]
    monkeypatch.setenv("MEMBER_ROLE_NAME", "LeakResponderMember")
    response = run(handler, stack, [health_event(key_id, user="carol", account=member)])
    assert response == {"batchItemFailures": []}
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in member_iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]
    }
    assert statuses[key_id] == "Inactive"
    assert len(statuses) == 2
    # Nothing of carol's exists in the home account.
    with pytest.raises(ClientError):
        stack.iam().get_user(UserName="carol")
    assert incident(stack, key_id, account=member)["status"] == "contained"


def test_key_in_a_foreign_account_without_member_role_alerts(stack: Stack, handler: Any) -> None:
    key_id = "AKIA" + "F" * 16
    response = run(handler, stack, [health_event(key_id, account="210987654321")])
    assert response == {"batchItemFailures": []}
    record = incident(stack, key_id, account="210987654321")
    assert record["status"] == "alert_only"
    assert "member role" in record["alert_reason"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json at all", "JSON"),
        ('{"source": "aws.ec2", "detail-type": "EC2 Instance State-change"}', "source"),
    ],
)
def test_rejected_message_goes_to_dlq_with_reason_and_no_retry(
    stack: Stack, handler: Any, body: str, reason: str
) -> None:
    response = run(handler, stack, [body])
    assert response == {"batchItemFailures": []}
    (message,) = dlq_messages(stack)
    assert message["Body"] == body
    assert reason.lower() in message["MessageAttributes"]["reason"]["StringValue"].lower()


def test_dlq_body_never_keeps_a_secret(stack: Stack, handler: Any) -> None:
    event = load_event("rejected_scanner_carries_secret")
    run(handler, stack, [json.dumps(event)])
    (message,) = dlq_messages(stack)
    assert "[REDACTED]" in message["Body"]


def _throttled_factory(operation: str) -> ClientFactory:
    session = boto3.session.Session(region_name=REGION)

    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, operation)

    session.events.register(f"before-call.iam.{operation}", throttle)
    return ClientFactory(session, REGION)


def test_throttling_is_retried_through_batch_item_failures(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = user_with_key(stack, "alice")
    responder = build_responder(Settings.from_env(), _throttled_factory("UpdateAccessKey"))
    monkeypatch.setattr(handler, "responder_for", lambda _settings: responder)
    event = sqs_event([health_event(key_id)], stack.queue_arn)
    response = handler.lambda_handler(event, lambda_context())
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert dlq_messages(stack) == []
    # On the queue's last receive, the failure goes to the DLQ with its reason instead.
    last = sqs_event([health_event(key_id)], stack.queue_arn, receive_count=5)
    assert handler.lambda_handler(last, lambda_context()) == {"batchItemFailures": []}
    (message,) = dlq_messages(stack)
    assert "Throttling" in message["MessageAttributes"]["reason"]["StringValue"]


def test_mixed_batch_reports_only_the_failed_record(stack: Stack, handler: Any) -> None:
    key_id = user_with_key(stack, "alice")
    response = run(handler, stack, [health_event(key_id), "{", health_event(key_id)])
    assert response == {"batchItemFailures": []}
    assert len(dlq_messages(stack)) == 1
    assert incident(stack, key_id)["sighting_count"] == 2


def test_every_aws_call_of_every_path_is_granted(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named and unnamed users, unknown account, a role's session key, a member account, an
    unknown key, a quarantine event and a rejected message: nothing outside the declared grants
    (which test_template holds equal to template.yaml's)."""
    from leak_responder.adapters.permissions import permissions_for
    from tests.aws_calls import ActionRecorder

    monkeypatch.setenv("MEMBER_ROLE_NAME", "LeakResponderMember")
    member_iam = _member_iam("210987654321")
    member_iam.create_user(UserName="carol")
    member_key = member_iam.create_access_key(UserName="carol")["AccessKey"]["AccessKeyId"]
    stack.iam().create_role(RoleName="deploy", AssumeRolePolicyDocument="{}")
    session = load_event("guardduty_assumed_role")
    session["detail"]["resource"]["accessKeyDetails"].update(
        accessKeyId="ASIA" + "R" * 16, userName="deploy", userType="AssumedRole"
    )
    session["detail"]["accountId"] = HOME
    quarantine = load_event("cloudtrail_quarantine_v3")
    quarantine["detail"]["requestParameters"]["userName"] = "dave"
    quarantine["detail"]["recipientAccountId"] = HOME
    quarantine["account"] = HOME
    user_with_key(stack, "dave")
    scanner = load_event("scanner_v1")
    scanner.update(key_id=user_with_key(stack, "erin"), account_id=None)
    bodies = [
        health_event(user_with_key(stack, "alice")),
        health_event(user_with_key(stack, "bob"), user=None),
        json.dumps(scanner),
        json.dumps(session),
        health_event(member_key, user="carol", account="210987654321"),
        health_event("AKIA" + "Q" * 16, user=None),
        json.dumps(quarantine),
        "not json",
    ]
    calls = ActionRecorder(monkeypatch)
    calls.wrap(handler, "ResponderFunction")
    for body in bodies:
        assert run(handler, stack, [body]) == {"batchItemFailures": []}, body[:80]
    made = calls.actions["ResponderFunction"]
    assert {
        "iam:UpdateAccessKey",
        "iam:GetAccessKeyLastUsed",
        "iam:PutRolePolicy",
        "sts:AssumeRole",
        "sts:GetAccessKeyInfo",
        "sqs:SendMessage",
        "secretsmanager:CreateSecret",
    } <= made
    assert not made - permissions_for("ResponderFunction"), sorted(
        made - permissions_for("ResponderFunction")
    )


def _member_iam(account: str) -> Any:
    return client_as("iam", f"arn:aws:iam::{account}:role/LeakResponderMember", REGION)


def test_the_secret_is_locked_to_its_owner_before_it_has_a_value(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto does not evaluate resource policies, so this checks the policy document and the
    order of calls: the value is written only once the policy names the owner's exact ARN."""
    from tests.aws_calls import ActionRecorder

    iam = stack.iam()
    arn = iam.create_user(UserName="alice", Path="/team/")["User"]["Arn"]
    key_id = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    calls = ActionRecorder(monkeypatch)
    calls.wrap(handler, "ResponderFunction")
    assert run(handler, stack, [health_event(key_id)]) == {"batchItemFailures": []}
    secrets_calls = [(a, p) for _, a, p in calls.sequence if a.startswith("secretsmanager:")]
    assert [a for a, _ in secrets_calls] == [
        "secretsmanager:CreateSecret",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:PutSecretValue",
    ]
    assert "SecretString" not in secrets_calls[0][1]
    record = incident(stack, key_id)
    policy = json.loads(
        stack.client("secretsmanager").get_resource_policy(SecretId=record["secret_name"])[
            "ResourcePolicy"
        ]
    )
    allow, deny = policy["Statement"]
    assert arn == "arn:aws:iam::123456789012:user/team/alice"
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"AWS": [arn]}
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [arn]}}


def test_quarantine_in_an_unreachable_account_goes_straight_to_the_dlq(
    stack: Stack, handler: Any
) -> None:
    event = load_event("cloudtrail_quarantine_v3")
    event["detail"]["recipientAccountId"] = "210987654321"
    event["account"] = "210987654321"
    assert run(handler, stack, [json.dumps(event)]) == {"batchItemFailures": []}
    (message,) = dlq_messages(stack)
    reason = message["MessageAttributes"]["reason"]["StringValue"]
    assert "no reachable member role" in reason
    assert "210987654321" in reason
