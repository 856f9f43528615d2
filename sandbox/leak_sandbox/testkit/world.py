"""One world of in-memory fakes for the domain: a home account, a member account, every port.

It serves the containment tests (``deps()``, ``contain()`` of a ``LeakedKey`` built with
``leaked()``) and the Slack and approval tests (``user()`` then ``contained()``, the incident of
a key contained in the home account). The people of the Slack tests are named here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leak_responder.domain.containment import ContainmentDeps, Outcome, contain
from leak_responder.domain.model import Evidence, Incident, LeakedKey, PrincipalType, Source
from leak_responder.domain.ports import Notifier
from leak_responder.domain.protection import Policy
from leak_sandbox.testkit.fakes import (
    FakeAccounts,
    FakeKeyAdmin,
    FakeSecretStore,
    FakeSessionLocator,
    FixedClock,
    InMemoryIncidentStore,
    RecordingNotifier,
)

HOME = "111111111111"
MEMBER = "222222222222"
OBSERVED = datetime(2026, 11, 28, 11, 59, tzinfo=UTC)
EVIDENCE = Evidence(url="https://github.com/example/app/blob/main/.env", finding_type="exposed")

# Slack: the workspace, the key's owner, an approver (security team) and someone else.
TEAM = "T0SANDBOX1"
OWNER_SLACK = "U0OWNER001"
APPROVER = "U0SECURITY1"
STRANGER = "U0STRANGER1"


def leaked(key_id: str, **kwargs: Any) -> LeakedKey:
    """A report of ``key_id``: from AWS Health, in the home account, unless ``kwargs`` say
    otherwise (any field of LeakedKey)."""
    kwargs.setdefault("account_id", HOME)
    kwargs.setdefault("source", Source.HEALTH)
    kwargs.setdefault("evidence", EVIDENCE)
    return LeakedKey(key_id=key_id, observed_at=OBSERVED, **kwargs)


@dataclass
class World:
    """IAM in two accounts, the incident store, secrets, sessions and a notifier, on one clock.

    ``home_account_id`` may be another account ID, e.g. the one sample events carry.
    """

    clock: FixedClock = field(default_factory=FixedClock)
    home_account_id: str = HOME
    member_account_id: str = MEMBER
    home: FakeKeyAdmin = field(init=False)
    member: FakeKeyAdmin = field(init=False)
    accounts: FakeAccounts = field(init=False)
    sessions: FakeSessionLocator = field(default_factory=FakeSessionLocator)
    secrets: FakeSecretStore = field(default_factory=FakeSecretStore)
    incidents: InMemoryIncidentStore = field(default_factory=InMemoryIncidentStore)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    policy: Policy = field(default_factory=Policy)
    events: list[str] = field(default_factory=list)  # what containment observed, in order

    def __post_init__(self) -> None:
        self.home = FakeKeyAdmin(self.home_account_id, self.clock)
        self.member = FakeKeyAdmin(self.member_account_id, self.clock)
        self.accounts = FakeAccounts(self.home, {self.member_account_id: self.member})

    def user(self, name: str = "alice", tags: dict[str, str] | None = None) -> str:
        """Adds the user to the home account with one active key; returns the key id."""
        self.home.add_user(name, tags)
        return self.home.add_key(name)

    def deps(self, **overrides: Any) -> ContainmentDeps:
        """The world's ports as ContainmentDeps; ``overrides`` replace any of them."""
        values: dict[str, Any] = {
            "accounts": self.accounts,
            "sessions": self.sessions,
            "secrets": self.secrets,
            "incidents": self.incidents,
            "notifier": self.notifier,
            "clock": self.clock,
            "policy": self.policy,
            "observe": lambda event, **_fields: self.events.append(event),
        }
        values.update(overrides)
        return ContainmentDeps(**values)

    def contain(self, key: LeakedKey, **overrides: Any) -> Outcome:
        """The domain's containment of ``key`` on this world, received now."""
        return contain(key, self.deps(**overrides), received_at=self.clock.now())

    def contained(
        self,
        key_id: str,
        notifier: Notifier | None = None,
        *,
        user_name: str | None = "alice",
        **fields: Any,
    ) -> Incident:
        """The incident of ``key_id``, reported as IAM user ``user_name``'s key in the home
        account and contained, notified through ``notifier`` (the world's own by default).
        ``fields`` are other fields of the report (evidence, source, principal_type)."""
        fields.setdefault("principal_type", PrincipalType.IAM_USER)
        key = leaked(key_id, account_id=self.home_account_id, user_name=user_name, **fields)
        overrides = {} if notifier is None else {"notifier": notifier}
        return self.contain(key, **overrides).incident
