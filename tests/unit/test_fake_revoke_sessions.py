"""The test kit's IAM keeps the revoke cutoff as IAM does through IamKeyAdmin: never earlier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leak_responder.domain.ports import PrincipalRef
from leak_sandbox.testkit.fakes import FakeKeyAdmin

POLICY = "leak-responder-revoke-older-sessions"
EARLIER = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LATER = EARLIER + timedelta(hours=3)


def recorded(admin: FakeKeyAdmin, kind: str) -> str:
    if kind == "user":
        return admin.users["alice"].inline_policies[POLICY]
    return admin.roles["deploy"][POLICY]


@pytest.fixture
def admin() -> FakeKeyAdmin:
    admin = FakeKeyAdmin("123456789012")
    admin.add_user("alice")
    admin.add_role("deploy")
    return admin


@pytest.mark.parametrize(("kind", "name"), [("user", "alice"), ("role", "deploy")])
def test_the_fake_keeps_the_later_cutoff(admin: FakeKeyAdmin, kind: str, name: str) -> None:
    principal = PrincipalRef(kind, name, f"arn:aws:iam::123456789012:{kind}/{name}")
    admin.revoke_sessions(principal, LATER)
    admin.revoke_sessions(principal, EARLIER)
    assert recorded(admin, kind) == LATER.isoformat()
    # And a later one still moves it forward.
    admin.revoke_sessions(principal, LATER + timedelta(seconds=1))
    assert recorded(admin, kind) == (LATER + timedelta(seconds=1)).isoformat()
