"""The revoke-older-sessions policy against moto: the cutoff IAM reads, and never a weaker one.

One policy name per user or role: an older incident resumed late (a redelivery, `leak-responder
contain` by hand) must not replace the cutoff a later incident wrote with its own, earlier one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError

from leak_responder.adapters.aws.iam import (
    REVOKE_POLICY_NAME,
    IamKeyAdmin,
    revoke_policy_document,
)
from leak_responder.domain.errors import AccessDeniedError, TransientError
from leak_responder.domain.ports import PrincipalRef
from tests.integration.conftest import HOME, REGION

# The shape of the console's "Revoke active sessions" (AWSRevokeOlderSessions) cutoff.
WHOLE_SECONDS_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

EARLIER = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
LATER = EARLIER + timedelta(hours=3)


def cutoff_of(document: str | dict[str, Any]) -> str:
    parsed = json.loads(document) if isinstance(document, str) else document
    (statement,) = parsed["Statement"]
    value: str = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    return value


# ------------------------------------------------------------------------- the cutoff's format


@pytest.mark.parametrize(
    ("issued_before", "expected"),
    [
        (datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC), "2026-11-28T12:00:00Z"),
        # Up, never down: a cutoff before the deactivation spares what the key minted last.
        (datetime(2026, 11, 28, 12, 0, 0, 1, tzinfo=UTC), "2026-11-28T12:00:01Z"),
        (datetime(2026, 11, 28, 12, 0, 0, 999_999, tzinfo=UTC), "2026-11-28T12:00:01Z"),
        (datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), "2027-01-01T00:00:00Z"),
        # Any offset is written as UTC.
        (
            datetime(2026, 11, 28, 14, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-28T12:00:01Z",
        ),
    ],
)
def test_the_cutoff_is_whole_seconds_utc_rounded_up(issued_before: datetime, expected: str) -> None:
    value = cutoff_of(revoke_policy_document(issued_before))
    assert WHOLE_SECONDS_UTC.fullmatch(value), value
    assert value == expected


def test_the_document_is_the_consoles_deny_of_older_sessions() -> None:
    (statement,) = json.loads(revoke_policy_document(EARLIER))["Statement"]
    assert {k: v for k, v in statement.items() if k != "Sid"} == {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-11-28T12:00:00Z"}},
    }


# ------------------------------------------------------------------------- never backwards


class Principal:
    """A user or a role in moto IAM, and its inline policy of our name."""

    def __init__(self, iam: Any, kind: str) -> None:
        self.iam, self.kind, self.name = iam, kind, f"leaky-{kind}"
        if kind == "role":
            iam.create_role(RoleName=self.name, AssumeRolePolicyDocument="{}")
        else:
            iam.create_user(UserName=self.name)

    @property
    def ref(self) -> PrincipalRef:
        return PrincipalRef(self.kind, self.name, f"arn:aws:iam::{HOME}:{self.kind}/{self.name}")

    def put(self, document: str) -> None:
        if self.kind == "role":
            self.iam.put_role_policy(
                RoleName=self.name, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=document
            )
        else:
            self.iam.put_user_policy(
                UserName=self.name, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=document
            )

    def document(self) -> Any:
        if self.kind == "role":
            got = self.iam.get_role_policy(RoleName=self.name, PolicyName=REVOKE_POLICY_NAME)
        else:
            got = self.iam.get_user_policy(UserName=self.name, PolicyName=REVOKE_POLICY_NAME)
        return got["PolicyDocument"]


class RecordingIam:
    """The IAM client, with the name of every operation called through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.operations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.operations.append(name)
            return method(*args, **kwargs)

        return call


@pytest.fixture
def iam(aws: None) -> Any:
    return boto3.client("iam", region_name=REGION)


@pytest.fixture(params=["user", "role"])
def principal(request: pytest.FixtureRequest, iam: Any) -> Principal:
    return Principal(iam, str(request.param))


@pytest.fixture
def recorded(iam: Any) -> RecordingIam:
    return RecordingIam(iam)


@pytest.fixture
def admin(recorded: RecordingIam) -> IamKeyAdmin:
    return IamKeyAdmin(recorded, HOME)


def writes(recorded: RecordingIam) -> list[str]:
    return [op for op in recorded.operations if op.startswith("put_")]


def test_no_policy_yet_gets_the_cutoff(principal: Principal, admin: IamKeyAdmin) -> None:
    admin.revoke_sessions(principal.ref, EARLIER + timedelta(microseconds=1))
    assert cutoff_of(principal.document()) == "2026-11-28T12:00:01Z"


def test_a_later_cutoff_is_kept_when_an_earlier_one_is_asked(
    principal: Principal, admin: IamKeyAdmin, recorded: RecordingIam
) -> None:
    # Given a later incident already revoked the sessions before LATER
    admin.revoke_sessions(principal.ref, LATER)
    recorded.operations.clear()
    # When an older incident, resumed, asks for its earlier cutoff
    admin.revoke_sessions(principal.ref, EARLIER)
    # Then the later cutoff stands, and nothing was written
    assert cutoff_of(principal.document()) == "2026-11-28T15:00:00Z"
    assert writes(recorded) == []


def test_an_equal_cutoff_writes_nothing(
    principal: Principal, admin: IamKeyAdmin, recorded: RecordingIam
) -> None:
    admin.revoke_sessions(principal.ref, LATER)
    recorded.operations.clear()
    # Within the same second: the same cutoff once rounded up.
    admin.revoke_sessions(principal.ref, LATER - timedelta(milliseconds=300))
    assert writes(recorded) == []
    assert cutoff_of(principal.document()) == "2026-11-28T15:00:00Z"


def test_an_earlier_cutoff_is_replaced_by_a_later_one(
    principal: Principal, admin: IamKeyAdmin
) -> None:
    admin.revoke_sessions(principal.ref, EARLIER)
    admin.revoke_sessions(principal.ref, LATER)
    assert cutoff_of(principal.document()) == "2026-11-28T15:00:00Z"


def test_a_later_cutoff_written_with_microseconds_is_kept(
    principal: Principal, admin: IamKeyAdmin, recorded: RecordingIam
) -> None:
    # Given the cutoff an earlier release wrote (microseconds), later than the one asked
    legacy = json.loads(revoke_policy_document(LATER))
    legacy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = (
        "2026-11-28T15:00:00.123456Z"
    )
    principal.put(json.dumps(legacy))
    # When an earlier one is asked, Then it stands
    admin.revoke_sessions(principal.ref, EARLIER)
    assert writes(recorded) == []
    assert cutoff_of(principal.document()) == "2026-11-28T15:00:00.123456Z"


def test_a_document_that_is_not_ours_under_our_name_is_replaced(
    principal: Principal, admin: IamKeyAdmin
) -> None:
    # Given someone else's statement under the policy name that is ours
    principal.put(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        )
    )
    # When sessions are revoked, Then the name holds our deny, and only it
    admin.revoke_sessions(principal.ref, EARLIER)
    assert principal.document() == json.loads(revoke_policy_document(EARLIER))


def test_a_deny_with_a_later_cutoff_and_more_statements_is_replaced_without_going_back(
    principal: Principal, admin: IamKeyAdmin
) -> None:
    # Given our name holds a later deny and a statement that is not ours
    document = json.loads(revoke_policy_document(LATER))
    document["Statement"].append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    principal.put(json.dumps(document))
    # When an earlier cutoff is asked
    admin.revoke_sessions(principal.ref, EARLIER)
    # Then the document is ours alone, and its cutoff is still the later one
    assert principal.document() == json.loads(revoke_policy_document(LATER))


@pytest.fixture
def unvalidated_policies() -> Iterator[None]:
    # moto refuses what IAM would refuse; a document IAM once took (or a hand edit with
    # another tool) can still read as something we cannot use.
    with mock.patch("moto.iam.models.IAMPolicyDocumentValidator.validate"):
        yield


@pytest.mark.parametrize(
    "malformed",
    [
        "not json at all {",
        json.dumps({"Version": "2012-10-17", "Statement": "deny everything"}),
        json.dumps({"Version": "2012-10-17", "Statement": []}),
        json.dumps([1, 2, 3]),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "next tuesday"}},
                    }
                ],
            }
        ),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"DateLessThan": {"aws:TokenIssueTime": 1}},
                    }
                ],
            }
        ),
    ],
)
def test_a_malformed_document_is_replaced(
    principal: Principal, admin: IamKeyAdmin, unvalidated_policies: None, malformed: str
) -> None:
    principal.put(malformed)
    admin.revoke_sessions(principal.ref, EARLIER)
    assert principal.document() == json.loads(revoke_policy_document(EARLIER))


def test_the_existing_policy_is_read_before_the_write(
    principal: Principal, admin: IamKeyAdmin, recorded: RecordingIam
) -> None:
    admin.revoke_sessions(principal.ref, EARLIER)
    assert recorded.operations == [f"get_{principal.kind}_policy", f"put_{principal.kind}_policy"]


class FailingRead:
    def __init__(self, code: str, status: int) -> None:
        self.code, self.status = code, status
        self.puts = 0

    def _fail(self, **_: Any) -> Any:
        response: Any = {
            "Error": {"Code": self.code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }
        raise ClientError(response, "GetUserPolicy")

    get_user_policy = get_role_policy = _fail

    def put_user_policy(self, **_: Any) -> None:
        self.puts += 1

    put_role_policy = put_user_policy


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("AccessDenied", 403, AccessDeniedError), ("Throttling", 400, TransientError)],
)
@pytest.mark.parametrize("kind", ["user", "role"])
def test_a_failed_read_is_the_projects_error_and_nothing_is_written(
    kind: str, code: str, status: int, error: type[Exception]
) -> None:
    # A cutoff we could not read might be later than ours: writing blind could weaken it.
    client = FailingRead(code, status)
    with pytest.raises(error) as raised:
        IamKeyAdmin(client, HOME).revoke_sessions(
            PrincipalRef(kind, "x", f"arn:aws:iam::{HOME}:{kind}/x"), EARLIER
        )
    assert isinstance(raised.value.__cause__, ClientError)
    assert f"Get{kind.capitalize()}Policy" in str(raised.value)
    assert client.puts == 0


def test_containing_a_session_key_writes_its_cutoff_without_reading_first(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # For an ASIA key the cutoff is the moment of containment: the policy write is the
    # containment, so nothing comes before it.
    calls: list[str] = []
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="deployer", AssumeRolePolicyDocument="{}")
    admin = IamKeyAdmin(iam, HOME)
    original = iam._make_api_call

    def record(operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(operation, params)

    monkeypatch.setattr(iam, "_make_api_call", record)
    admin.revoke_sessions(
        PrincipalRef("role", "deployer", "arn:aws:iam::123456789012:role/deployer"),
        datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        keep_later=False,
    )
    assert calls == ["PutRolePolicy"]
