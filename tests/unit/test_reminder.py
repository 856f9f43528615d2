"""The scheduled reminder on fakes: pending notices, reminders per period, one escalation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from leak_responder.domain.model import Incident, IncidentStatus, NotificationStatus, Step, iso
from leak_responder.domain.reminder import ReminderDeps, ReminderPolicy, run_reminders
from leak_sandbox.testkit.fakes import FakeReminderNotifier as FakeSlack
from leak_sandbox.testkit.fakes import InMemoryIncidentStore
from leak_sandbox.testkit.world import OWNER_SLACK, World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack(OWNER_SLACK)


def deps(
    world: World, slack: FakeSlack, store: InMemoryIncidentStore | None = None
) -> ReminderDeps:
    return ReminderDeps(
        incidents=store or world.incidents,
        notifier=slack,
        clock=world.clock,
        policy=ReminderPolicy.from_hours(24, 72),
        accounts=world.accounts,
    )


def notified_incident(world: World, slack: FakeSlack) -> Incident:
    key = world.user("alice")
    incident = world.contained(key, slack)
    assert incident.notification_status == NotificationStatus.SENT
    slack.notified.clear()
    return incident


def stored(world: World, incident: Incident) -> Incident:
    return world.incidents.get_by_id(incident.incident_id)


def test_pending_notice_is_delivered_exactly_once(world: World, slack: FakeSlack) -> None:
    # Given a key contained while Slack was down
    slack.down = True
    key = world.user("alice")
    incident = world.contained(key, slack)
    assert incident.notification_status == NotificationStatus.PENDING
    # When the reminder runs while Slack is still down, nothing is lost
    report = run_reminders(deps(world, slack))
    assert report.failed == [incident.incident_id]
    assert stored(world, incident).notification_status == NotificationStatus.PENDING
    # And once Slack is back, the first run delivers, the next ones do not repeat it
    slack.down = False
    assert run_reminders(deps(world, slack)).delivered == [incident.incident_id]
    assert run_reminders(deps(world, slack)).delivered == []
    assert slack.notified == [incident.incident_id]
    after = stored(world, incident)
    assert after.notification_status == NotificationStatus.SENT
    assert after.done(Step.NOTIFIED)
    assert (after.slack_channel, after.owner_slack_id) == ("D0OWNER", OWNER_SLACK)
    assert after.security_channel_ts == "1700000000.999999"
    # Nor does a redelivery of the original event
    world.contained(key, slack)
    assert slack.notified == [incident.incident_id]


def test_no_reminder_before_the_period(world: World, slack: FakeSlack) -> None:
    notified_incident(world, slack)
    world.clock.advance(hours=23)
    report = run_reminders(deps(world, slack))
    assert slack.reminded == [] and report.reminded == []


def test_reminds_once_per_period(world: World, slack: FakeSlack) -> None:
    incident = notified_incident(world, slack)
    world.clock.advance(hours=25)
    run_reminders(deps(world, slack))
    run_reminders(deps(world, slack))
    assert slack.reminded == [incident.incident_id]
    assert stored(world, incident).reminded_at == "2026-11-29T13:00:00Z"
    world.clock.advance(hours=24)
    run_reminders(deps(world, slack))
    assert slack.reminded == [incident.incident_id] * 2


def test_escalates_once_after_the_second_period(world: World, slack: FakeSlack) -> None:
    incident = notified_incident(world, slack)
    for _ in range(4):  # every 24 h for four days
        world.clock.advance(hours=24)
        run_reminders(deps(world, slack))
    assert slack.escalated == [incident.incident_id]
    assert stored(world, incident).escalated_at == "2026-12-01T12:00:00Z"
    assert len(slack.reminded) == 4


def test_escalation_that_posts_a_new_copy_records_it(world: World, slack: FakeSlack) -> None:
    incident = notified_incident(world, slack)
    current = stored(world, incident)
    world.incidents.save(replace(current, security_channel_ts=None))
    slack.copy_ts = "1700000001.000001"
    world.clock.advance(hours=73)
    run_reminders(deps(world, slack))
    assert stored(world, incident).security_channel_ts == "1700000001.000001"


def test_failed_reminder_is_retried_next_run(world: World, slack: FakeSlack) -> None:
    incident = notified_incident(world, slack)
    world.clock.advance(hours=25)
    slack.down = True
    assert run_reminders(deps(world, slack)).failed == [incident.incident_id]
    assert stored(world, incident).reminded_at is None
    slack.down = False
    world.clock.advance(hours=1)
    run_reminders(deps(world, slack))
    assert slack.reminded == [incident.incident_id]


def test_closed_incidents_are_left_alone(world: World, slack: FakeSlack) -> None:
    incident = notified_incident(world, slack)
    current = stored(world, incident)
    world.incidents.save(replace(current, status=IncidentStatus.DELETED))
    world.clock.advance(hours=100)
    run_reminders(deps(world, slack))
    assert slack.reminded == [] and slack.escalated == []


def test_notice_attempts_are_capped(world: World, slack: FakeSlack) -> None:
    slack.down = True
    incident = world.contained(world.user("alice"), slack)
    current = stored(world, incident)
    world.incidents.save(replace(current, notification_attempts=48))
    slack.down = False
    report = run_reminders(deps(world, slack))
    assert report.skipped == [incident.incident_id]
    assert slack.notified == []


def test_a_concurrent_writer_wins_and_nothing_is_sent_twice(world: World, slack: FakeSlack) -> None:
    slack.down = True
    incident = world.contained(world.user("alice"), slack)
    slack.down = False

    class Racing(InMemoryIncidentStore):
        """Another sender (a redelivery to the responder) claims the notice between our read
        and our claim."""

        def __init__(self, inner: InMemoryIncidentStore) -> None:
            super().__init__()
            self.items = inner.items
            self.raced = False

        def save(self, incident: Incident) -> Incident:
            if not self.raced:
                self.raced = True
                theirs = replace(
                    self.items[incident.pk],
                    claims={"notify": f"another-sender|{iso(world.clock.now())}"},
                )
                super().save(theirs)
            return super().save(incident)

    report = run_reminders(deps(world, slack, Racing(world.incidents)))
    assert report.skipped == [incident.incident_id]
    assert slack.notified == []


def test_an_unrelated_concurrent_write_does_not_stop_delivery(
    world: World, slack: FakeSlack
) -> None:
    slack.down = True
    incident = world.contained(world.user("alice"), slack)
    slack.down = False

    class Bumping(InMemoryIncidentStore):
        """Another writer (a new sighting) saves the incident between our read and our claim."""

        def __init__(self, inner: InMemoryIncidentStore) -> None:
            super().__init__()
            self.items = inner.items
            self.bumped = False

        def save(self, incident: Incident) -> Incident:
            if not self.bumped:
                self.bumped = True
                current = self.items[incident.pk]
                super().save(replace(current, sighting_count=current.sighting_count + 1))
            return super().save(incident)

    report = run_reminders(deps(world, slack, Bumping(world.incidents)))
    assert report.delivered == [incident.incident_id]
    assert len(slack.notified) == 1


def test_an_old_key_deleted_by_hand_closes_the_incident(world: World, slack: FakeSlack) -> None:
    # Given a contained incident whose old key someone deleted in the console
    incident = notified_incident(world, slack)
    world.home.delete_key("alice", incident.key_id)
    world.clock.advance(hours=80)
    # When the reminder runs
    report = run_reminders(deps(world, slack))
    # Then nobody is pinged again and the incident says what happened
    assert report.closed == [incident.incident_id]
    assert slack.reminded == []
    assert slack.escalated == []
    closed = stored(world, incident)
    assert closed.status == IncidentStatus.DELETED
    assert closed.closed_by == "outside leak-responder"
    assert run_reminders(deps(world, slack)).closed == []


def test_an_old_key_still_there_is_reminded_about(world: World, slack: FakeSlack) -> None:
    incident = notified_incident(world, slack)
    world.clock.advance(hours=25)
    report = run_reminders(deps(world, slack))
    assert report.closed == []
    assert slack.reminded == [incident.incident_id]
