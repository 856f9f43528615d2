"""The one urgent call of a containment goes through its own IAM client, retried by the account's
pacer (adapters/aws/pacing.py) through throttling; every other call keeps the ordinary,
fail-fast one (issue 15: "deactivation gets priority over the other IAM writes")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leak_responder.adapters.aws.clients import (
    CLIENT_CONFIG,
    URGENT_CLIENT_CONFIG,
    ClientFactory,
)
from leak_responder.adapters.aws.sts import StsAccounts
from leak_responder.domain.ports import PrincipalRef

HOME = "123456789012"


class Tracking(ClientFactory):
    """A ClientFactory that says which client (urgent or not) made each IAM call."""

    def __init__(self) -> None:
        super().__init__(region="us-east-1")
        self.calls: list[tuple[str, bool]] = []

    def __call__(
        self, service: str, creds: dict[str, str] | None = None, *, urgent: bool = False
    ) -> Any:
        client = super().__call__(service, creds, urgent=urgent)

        def seen(model: Any, **_: Any) -> None:
            self.calls.append((model.name, urgent))

        client.meta.events.register("before-call.*.*", seen)
        return client


@pytest.fixture
def world() -> Iterator[tuple[StsAccounts, Tracking, str]]:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="alice")
        iam.create_role(RoleName="deploy", AssumeRolePolicyDocument="{}")
        key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
        factory = Tracking()
        yield StsAccounts(factory, HOME), factory, key


def test_the_urgent_client_makes_one_attempt_and_the_ordinary_one_retries() -> None:
    # The urgent client's retries are the pacer's (adapters/aws/pacing.py), not botocore's.
    urgent = ClientFactory(region="us-east-1")("iam", urgent=True)
    ordinary = ClientFactory(region="us-east-1")("iam")
    assert urgent.meta.config.retries["total_max_attempts"] == 1
    assert ordinary.meta.config.retries["mode"] == "standard"
    # And building them leaves the shared configs as written
    assert URGENT_CLIENT_CONFIG.retries == {"mode": "standard", "total_max_attempts": 1}
    assert CLIENT_CONFIG.retries == {"mode": "standard", "max_attempts": 3}


def test_deactivation_uses_the_urgent_client_and_nothing_else_does(
    world: tuple[StsAccounts, Tracking, str],
) -> None:
    accounts, factory, key = world
    admin = accounts.key_admin(HOME)
    admin.deactivate("alice", key)
    admin.list_keys("alice")
    admin.create_key("alice")
    admin.revoke_sessions(PrincipalRef("user", "alice", "arn"), datetime.now(UTC))
    assert factory.calls == [
        ("UpdateAccessKey", True),
        ("ListAccessKeys", False),
        ("CreateAccessKey", False),
        ("GetUserPolicy", False),
        ("PutUserPolicy", False),
    ]


def test_a_session_keys_containment_is_the_urgent_call(
    world: tuple[StsAccounts, Tracking, str],
) -> None:
    accounts, factory, _ = world
    accounts.key_admin(HOME).revoke_sessions(
        PrincipalRef("role", "deploy", "arn"), datetime.now(UTC), keep_later=False
    )
    assert factory.calls == [("PutRolePolicy", True)]


def test_each_client_is_built_once_per_account(world: tuple[StsAccounts, Tracking, str]) -> None:
    accounts, _, _ = world
    assert accounts.client("iam", HOME, urgent=True) is accounts.client("iam", HOME, urgent=True)
    assert accounts.client("iam", HOME) is not accounts.client("iam", HOME, urgent=True)
