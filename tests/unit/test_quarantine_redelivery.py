"""A quarantine event met again after containment must not take the replacement for the leak.

Found by the burst benchmark (bench/, figure 3): a CloudTrail quarantine event names only the
user, so a redelivery, or one arriving after another source contained the key, expanded to the
user's *replacement* key, deactivated it and made a second replacement.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leak_responder.domain.containment import ContainmentDeps, contain, expand
from leak_responder.domain.model import QuarantinedUser
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


def test_redelivered_quarantine_event_spares_our_replacement() -> None:
    # Given alice's key, quarantined by AWS, contained by the responder a minute later
    clock = FixedClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    iam = FakeKeyAdmin(HOME, clock)
    iam.add_user("alice")
    leaked_key = iam.add_key("alice")
    accounts = FakeAccounts(iam, {})
    deps = ContainmentDeps(
        accounts=accounts,
        sessions=FakeSessionLocator(),
        secrets=FakeSecretStore(),
        incidents=InMemoryIncidentStore(),
        notifier=RecordingNotifier(),
        clock=clock,
    )
    clock.advance(minutes=1)
    report = QuarantinedUser("alice", "AWSCompromisedKeyQuarantineV3", clock.now(), HOME)
    clock.advance(seconds=2)  # contained, and replaced, within seconds of the event
    (key,) = expand(report, accounts)
    outcome = contain(key, deps, received_at=clock.now())
    replacement = outcome.incident.new_key_id
    assert key.key_id == leaked_key and replacement

    # When the same quarantine event is delivered again
    clock.advance(minutes=5)
    again = expand(report, accounts)

    # Then it expands to nothing: the leaked key is Inactive, the replacement is ours
    assert again == []
    assert iam.key(replacement).status == "Active"


def test_quarantine_event_still_contains_a_key_made_after_it_by_someone_else() -> None:
    clock = FixedClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    iam = FakeKeyAdmin(HOME, clock)
    iam.add_user("alice")
    report = QuarantinedUser("alice", "AWSCompromisedKeyQuarantineV3", clock.now(), HOME)
    clock.advance(minutes=5)
    newer = iam.add_key("alice")
    assert [k.key_id for k in expand(report, FakeAccounts(iam, {}))] == [newer]
