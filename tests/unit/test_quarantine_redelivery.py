"""A quarantine event met again after containment must not take the replacement for the leak.

AWS's CloudTrail quarantine event names only the user, so the responder treats each of the
user's active keys as leaked. A redelivered or late event, or one arriving after another source
already contained the key, would otherwise find the responder's own replacement key among them.
"""

from __future__ import annotations

from datetime import timedelta

from leak_responder.domain.containment import expand
from leak_responder.domain.model import QuarantinedUser
from leak_sandbox.testkit.world import HOME, World, leaked


def quarantine(world: World, after: timedelta = timedelta(0)) -> QuarantinedUser:
    return QuarantinedUser(
        "alice", "AWSCompromisedKeyQuarantineV3", world.clock.now() + after, HOME
    )


def test_redelivered_quarantine_event_spares_our_replacement() -> None:
    # Given alice's key, quarantined by AWS, contained by the responder seconds later
    world = World()
    world.home.add_user("alice")
    leaked_key = world.home.add_key("alice")
    world.clock.advance(minutes=1)
    report = quarantine(world)
    world.clock.advance(seconds=2)
    (key,) = expand(report, world.accounts)
    replacement = world.contain(key).incident.new_key_id
    assert key.key_id == leaked_key
    assert replacement
    # When the same quarantine event is delivered again
    world.clock.advance(minutes=5)
    # Then it expands to nothing: the leaked key is Inactive, the replacement is ours
    assert expand(report, world.accounts) == []
    assert world.home.key(replacement).status == "Active"


def test_quarantine_after_another_source_contained_spares_the_replacement() -> None:
    # Given alice's key contained (and replaced) on a Health event, ten minutes before AWS
    # attaches its quarantine policy
    world = World()
    world.home.add_user("alice")
    leaked_key = world.home.add_key("alice")
    replacement = world.contain(leaked(leaked_key, user_name="alice")).incident.new_key_id
    assert replacement
    # When the quarantine event arrives afterwards
    world.clock.advance(minutes=10)
    # Then the replacement, older than the event but tagged as ours, is not taken for the leak
    assert expand(quarantine(world), world.accounts) == []
    assert world.home.key(replacement).status == "Active"


def test_quarantine_event_leaves_a_key_made_after_it_alone() -> None:
    # AWS quarantined alice for a key it found leaked; a key an administrator made for her
    # afterwards (her policy denies her making one) is not that key.
    world = World()
    world.home.add_user("alice")
    leaked_key = world.home.add_key("alice")
    world.clock.advance(minutes=1)
    report = quarantine(world)
    world.clock.advance(minutes=5)
    world.home.add_key("alice")
    assert [k.key_id for k in expand(report, world.accounts)] == [leaked_key]


def test_quarantine_event_contains_an_older_key_not_tagged_as_ours() -> None:
    world = World()
    world.home.add_user("alice", tags={"unrelated": "tag"})
    first, second = world.home.add_key("alice"), world.home.add_key("alice")
    world.clock.advance(minutes=10)
    keys = expand(quarantine(world), world.accounts)
    assert sorted(k.key_id for k in keys) == sorted([first, second])
