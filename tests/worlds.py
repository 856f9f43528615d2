"""A world of in-memory fakes for the containment workflow: a home account, a member account,
and every port, wired as ContainmentDeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leak_responder.domain.containment import ContainmentDeps, Outcome, contain
from leak_responder.domain.model import Evidence, LeakedKey, Source
from leak_responder.domain.protection import Policy
from tests.fakes import (
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


@dataclass
class World:
    clock: FixedClock = field(default_factory=FixedClock)
    home: FakeKeyAdmin = field(init=False)
    member: FakeKeyAdmin = field(init=False)
    accounts: FakeAccounts = field(init=False)
    sessions: FakeSessionLocator = field(default_factory=FakeSessionLocator)
    secrets: FakeSecretStore = field(default_factory=FakeSecretStore)
    incidents: InMemoryIncidentStore = field(default_factory=InMemoryIncidentStore)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    policy: Policy = field(default_factory=Policy)
    events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = FakeKeyAdmin(HOME, self.clock)
        self.member = FakeKeyAdmin(MEMBER, self.clock)
        self.accounts = FakeAccounts(self.home, {MEMBER: self.member})

    def deps(self, **overrides: Any) -> ContainmentDeps:
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
        return contain(key, self.deps(**overrides), received_at=self.clock.now())


def leaked(key_id: str, **kwargs: Any) -> LeakedKey:
    kwargs.setdefault("account_id", HOME)
    kwargs.setdefault("source", Source.HEALTH)
    kwargs.setdefault("evidence", Evidence(url="https://github.com/org/repo/blob/main/x.env"))
    return LeakedKey(key_id=key_id, observed_at=OBSERVED, **kwargs)
