"""A quarantine event met again after containment must not take the replacement for the leak.

Found by the burst benchmark (bench/, figure 3): a CloudTrail quarantine event names only the
user, so a redelivery, or one arriving after another source contained the key, expanded to the
user's *replacement* key, deactivated it and made a second replacement.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leak_responder.domain.containment import ContainmentDeps, contain, expand
from leak_responder.domain.model import LeakedKey, QuarantinedUser, Source
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


def test_quarantine_event_leaves_a_key_made_after_it_alone() -> None:
    # AWS quarantined alice for a key it found leaked; a key an administrator made for her
    # afterwards (her policy denies her making one) is not that key.
    clock = FixedClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    iam = FakeKeyAdmin(HOME, clock)
    iam.add_user("alice")
    leaked = iam.add_key("alice")
    clock.advance(minutes=1)
    report = QuarantinedUser("alice", "AWSCompromisedKeyQuarantineV3", clock.now(), HOME)
    clock.advance(minutes=5)
    iam.add_key("alice")
    assert [k.key_id for k in expand(report, FakeAccounts(iam, {}))] == [leaked]


def test_quarantine_event_contains_an_older_key_not_tagged_as_ours() -> None:
    clock = FixedClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    iam = FakeKeyAdmin(HOME, clock)
    iam.add_user("alice", tags={"unrelated": "tag"})
    first, second = iam.add_key("alice"), iam.add_key("alice")
    clock.advance(minutes=10)
    report = QuarantinedUser("alice", "AWSCompromisedKeyQuarantineV3", clock.now(), HOME)
    assert sorted(k.key_id for k in expand(report, FakeAccounts(iam, {}))) == sorted(
        [first, second]
    )


def test_quarantine_after_another_source_contained_spares_the_replacement() -> None:
    # Given alice's key contained (and replaced) on a Health event, ten minutes before AWS
    # attaches its quarantine policy
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
    health = LeakedKey(leaked_key, Source.HEALTH, clock.now(), HOME, "alice")
    replacement = contain(health, deps, received_at=clock.now()).incident.new_key_id
    assert replacement
    # When the quarantine event arrives afterwards
    clock.advance(minutes=10)
    report = QuarantinedUser("alice", "AWSCompromisedKeyQuarantineV3", clock.now(), HOME)
    # Then the replacement, older than the event but tagged as ours, is not taken for the leak
    assert expand(report, accounts) == []
    assert iam.key(replacement).status == "Active"
