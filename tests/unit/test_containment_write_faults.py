"""A throttled incident write right after IAM or Slack acted must not leave the world wrong.

The store fails the write that records what just happened outside (the new key's ID, the
notice's receipt) with TransientError, as DynamoDB throttling does once botocore's own retries
are spent. Then the message is redelivered, as SQS does after the visibility timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

import pytest

from leak_responder.domain.errors import TransientError
from leak_responder.domain.model import Incident, IncidentStatus, Step
from leak_sandbox.testkit.fakes import InMemoryIncidentStore
from leak_sandbox.testkit.world import World, leaked

REDELIVERY = timedelta(minutes=6)  # the queues' visibility timeout (template.yaml)


class ThrottledStore(InMemoryIncidentStore):
    """Fails ``failures`` saves of a record that ``matches``, then behaves."""

    def __init__(self, matches: Callable[[Incident], bool], failures: int) -> None:
        super().__init__()
        self.matches = matches
        self.failures = failures

    def save(self, incident: Incident) -> Incident:
        if self.failures and self.matches(incident):
            self.failures -= 1
            raise TransientError("ProvisionedThroughputExceededException on PutItem")
        return super().save(incident)


def no_wait(seconds: float) -> None:
    return None


def active_keys(world: World, user: str) -> list[str]:
    return [k for k, key in world.home.users[user].keys.items() if key.status == "Active"]


def records_new_key(incident: Incident) -> bool:
    return incident.new_key_id is not None and not incident.done(Step.REPLACED)


def test_a_new_key_that_cannot_be_recorded_is_deleted_and_replaced_on_redelivery() -> None:
    world = World()
    world.incidents = ThrottledStore(records_new_key, failures=100)  # throttled for good
    world.home.add_user("alice")
    key = leaked(world.home.add_key("alice"), user_name="alice")

    with pytest.raises(TransientError):
        world.contain(key, pause=no_wait)
    assert world.home.key(key.key_id).status == "Inactive"
    assert active_keys(world, "alice") == []  # no Active key that nobody has the secret of

    world.incidents.failures = 0
    world.clock.advance(seconds=REDELIVERY.total_seconds())
    incident = world.contain(key, pause=no_wait).incident
    assert incident.status == IncidentStatus.CONTAINED
    assert incident.replacement_note is None
    assert active_keys(world, "alice") == [incident.new_key_id]
    assert world.secrets.secrets  # the replacement's secret is stored


def test_a_brief_throttle_on_recording_the_new_key_is_waited_out() -> None:
    world = World()
    world.incidents = ThrottledStore(records_new_key, failures=2)
    world.home.add_user("alice")
    key = leaked(world.home.add_key("alice"), user_name="alice")
    waits: list[float] = []

    incident = world.contain(key, pause=waits.append).incident
    assert incident.done(Step.REPLACED) and incident.new_key_id
    assert active_keys(world, "alice") == [incident.new_key_id]
    assert len(waits) == 2


def test_a_throttled_notified_write_after_slack_answered_sends_the_notice_once() -> None:
    world = World()
    world.incidents = ThrottledStore(lambda i: i.done(Step.NOTIFIED), failures=1)
    world.home.add_user("alice")
    key = leaked(world.home.add_key("alice"), user_name="alice")

    # Had the throttle won, this delivery would fail and SQS would redeliver it: either way,
    # the owner must get one DM.
    with contextlib.suppress(TransientError):
        world.contain(key, pause=no_wait)
    world.clock.advance(seconds=REDELIVERY.total_seconds())
    again = world.contain(key, pause=no_wait)

    assert len(world.notifier.sent) == 1
    assert again.incident.done(Step.NOTIFIED)
