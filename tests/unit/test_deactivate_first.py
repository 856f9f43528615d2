"""Deactivate first (issue 15): every key of a batch is Inactive before any incident of the
batch is recorded or goes further, and while reports wait on the queues each incident's later
steps go to the resume queue, so waiting keys are deactivated before them.

The responder runs on a world of fakes (testkit.world) with a resume queue that records what it
is given; the per-key state machine underneath is the real one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from leak_responder.adapters.aws.dlq import DeadLetterQueue
from leak_responder.domain.errors import TransientError
from leak_responder.domain.model import (
    MAX_DEFERRALS,
    IncidentStatus,
    NotificationStatus,
    Resumption,
    Step,
)
from leak_responder.responder import (
    DEFER_WHEN_WAITING,
    FINISH_MARGIN_MS,
    START_MARGIN_MS,
    Responder,
)
from leak_responder.sources.resume import parse_resumption, resumption_body
from leak_sandbox.testkit.events import health_event
from leak_sandbox.testkit.fakes import FakeKeyAdmin, FakeResumeQueue
from leak_sandbox.testkit.lambda_shapes import sqs_event, sqs_record
from leak_sandbox.testkit.sqs import RecordingSqsClient
from leak_sandbox.testkit.world import World

HOME = "123456789012"
LEAK_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-LeakQueue"
RESUME_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-ResumeQueue"
DLQ_URL = f"https://sqs.us-east-1.amazonaws.com/{HOME}/leak-responder-LeakDLQ"
# Writes that are not the urgent one: none may come before the last key of a batch is Inactive.
LATER_WRITES = {"CreateAccessKey", "PutUserPolicy", "TagUser", "DeleteAccessKey"}


class Stage:
    def __init__(self, waiting: int = 0, users: int = 3) -> None:
        self.world = World(home_account_id=HOME)
        self.keys = {f"user-{i}": self.world.user(f"user-{i}") for i in range(users)}
        self.queue = FakeResumeQueue(waiting)
        self.dlq = RecordingSqsClient()
        self.responder = Responder(
            self.world.deps(),
            DeadLetterQueue(self.dlq, DLQ_URL),
            5,
            resume_queue=self.queue,
            resume_queue_arn=RESUME_QUEUE,
        )

    def reports(self, users: list[str] | None = None) -> dict[str, Any]:
        names = users or list(self.keys)
        bodies = [json.dumps(health_event(self.keys[u], u, HOME)) for u in names]
        return sqs_event(bodies, LEAK_QUEUE)

    def run(self, event: dict[str, Any]) -> list[str]:
        result = self.responder.handle_batch(event)
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    def resumes(self, resumptions: list[Resumption] | None = None) -> dict[str, Any]:
        """The queued resumes as the resume queue's event source would hand them over."""
        items = self.queue.sent if resumptions is None else resumptions
        return sqs_event([resumption_body(r) for r in items], RESUME_QUEUE)

    def writes(self) -> list[tuple[str, tuple[object, ...]]]:
        return [c for c in self.world.home.calls if c[0] in LATER_WRITES | {"UpdateAccessKey"}]


def _last_deactivation_before_any_later_write(calls: list[tuple[str, tuple[object, ...]]]) -> bool:
    deactivations = [i for i, c in enumerate(calls) if c[0] == "UpdateAccessKey"]
    later = [i for i, c in enumerate(calls) if c[0] in LATER_WRITES]
    return bool(deactivations) and (not later or max(deactivations) < min(later))


# --- one batch: first moves first -------------------------------------------------------------


def test_every_key_of_a_batch_is_inactive_before_any_other_write() -> None:
    # Given three reports in one batch, and nothing else waiting
    stage = Stage(waiting=0)

    # When the batch is handled
    assert stage.run(stage.reports()) == []

    # Then all three keys went Inactive before any incident was recorded or replaced
    assert _last_deactivation_before_any_later_write(stage.writes())
    events = stage.world.events
    last_deactivated = max(i for i, e in enumerate(events) if e == "deactivated")
    assert last_deactivated < events.index("incident opened")
    # And every incident was finished in place: one replacement each, nothing handed on
    assert stage.queue.sent == []
    for user, key in stage.keys.items():
        incident = stage.world.incidents.get(HOME, key)
        assert incident is not None and incident.status == IncidentStatus.CONTAINED, user
        assert incident.new_key_id
        assert len(stage.world.home.users[user].keys) == 2


def test_a_batch_alone_on_the_queues_finishes_in_place() -> None:
    # Given a batch of three and nothing else unfinished: SQS counts only these three
    stage = Stage(waiting=3)
    assert stage.run(stage.reports()) == []
    assert stage.queue.asked == 1
    assert stage.queue.sent == []
    assert all(i.done(Step.REPLACED) for i in stage.world.incidents.items.values())


def test_a_batch_of_one_never_asks_how_many_wait() -> None:
    stage = Stage(waiting=500, users=1)
    assert stage.run(stage.reports()) == []
    assert stage.queue.asked == 0
    assert stage.queue.sent == []


def test_the_responder_without_a_resume_queue_finishes_in_place() -> None:
    stage = Stage(waiting=500)
    stage.responder.resume_queue = None
    assert stage.run(stage.reports()) == []
    assert _last_deactivation_before_any_later_write(stage.writes())
    assert all(i.done(Step.REPLACED) for i in stage.world.incidents.items.values())


# --- while reports wait: later steps handed on ------------------------------------------------


def test_while_reports_wait_the_batch_is_deactivated_recorded_and_handed_on() -> None:
    # Given a batch of three while another report is unfinished (SQS counts the batch's own
    # three as in flight too)
    stage = Stage(waiting=3 + DEFER_WHEN_WAITING)

    # When it is handled
    assert stage.run(stage.reports()) == []

    # Then each key is Inactive and its incident recorded, and nothing else was written
    assert [c[0] for c in stage.writes()] == ["UpdateAccessKey"] * 3
    for key in stage.keys.values():
        incident = stage.world.incidents.get(HOME, key)
        assert incident is not None and incident.done(Step.DEACTIVATED)
        assert not incident.done(Step.REPLACED)
        assert stage.world.home.key(key).status == "Inactive"
    # And one resume per incident went to the resume queue, at once
    assert sorted(r.key_id for r in stage.queue.sent) == sorted(stage.keys.values())
    assert {r.deferrals for r in stage.queue.sent} == {0}
    assert {r.delay_seconds for r in stage.queue.sent} == {0}
    assert stage.world.notifier.sent == []

    # When the resumes arrive and nothing waits any more
    stage.queue.depth = 0
    handed = list(stage.queue.sent)
    stage.queue.sent.clear()
    assert stage.run(stage.resumes(handed)) == []

    # Then each incident is finished exactly once: replaced, tagged, revoked, notified
    for user, key in stage.keys.items():
        incident = stage.world.incidents.get(HOME, key)
        assert incident is not None
        assert incident.status == IncidentStatus.CONTAINED
        assert incident.done(Step.SESSIONS_REVOKED) and incident.done(Step.TAGGED)
        assert incident.new_key_id and incident.secret_name
        assert incident.sighting_count == 1
        assert incident.notification_status == NotificationStatus.SENT
        assert len(stage.world.home.users[user].keys) == 2
    assert stage.queue.sent == []


def test_a_resume_delivered_twice_makes_one_replacement() -> None:
    stage = Stage(waiting=50)
    stage.run(stage.reports())
    handed = list(stage.queue.sent)
    stage.queue.depth = 0
    stage.run(stage.resumes(handed))
    stage.run(stage.resumes(handed))
    for user in stage.keys:
        assert len(stage.world.home.users[user].keys) == 2
    assert [c[0] for c in stage.world.home.calls].count("CreateAccessKey") == 3


def test_a_resume_is_put_back_later_each_time_while_reports_wait_then_runs() -> None:
    # Given one handed-on incident, and reports that keep waiting
    stage = Stage(waiting=50, users=2)
    stage.run(stage.reports())
    (first, _second) = stage.queue.sent
    current = [first]
    delays = []
    # When its resume keeps arriving while reports wait
    for _ in range(MAX_DEFERRALS):
        stage.queue.sent.clear()
        stage.run(stage.resumes(current))
        (current_resume,) = stage.queue.sent
        delays.append(current_resume.delay_seconds)
        current = [current_resume]
    # Then it was put back each time, later each time, and never replaced meanwhile
    assert delays == sorted(delays) and delays[0] > 0 and len(set(delays)) == len(delays)
    assert current[0].deferrals == MAX_DEFERRALS
    assert "CreateAccessKey" not in [c[0] for c in stage.world.home.calls]
    # And after the last deferral it runs although reports still wait
    stage.queue.sent.clear()
    stage.run(stage.resumes(current))
    assert stage.queue.sent == []
    incident = stage.world.incidents.get(HOME, first.key_id)
    assert incident is not None and incident.done(Step.REPLACED)


def test_a_throttled_resume_backs_off_through_the_queue_instead_of_failing() -> None:
    # Given a handed-on incident whose CreateAccessKey is throttled
    stage = Stage(waiting=50, users=2)
    stage.run(stage.reports())
    (first, _) = stage.queue.sent
    stage.queue.sent.clear()
    stage.queue.depth = 0
    admin: FakeKeyAdmin = stage.world.home
    original = admin.create_key

    def throttled(user_name: str) -> Any:
        raise TransientError("iam:CreateAccessKey: Throttling")

    admin.create_key = throttled  # type: ignore[method-assign]
    # When its resume runs, Then the record succeeds and the resume is queued again, later
    assert stage.run(stage.resumes([first])) == []
    (again,) = stage.queue.sent
    assert (again.incident_id, again.deferrals) == (first.incident_id, 1)
    assert again.delay_seconds >= 2
    # And once IAM answers, the next delivery finishes it
    admin.create_key = original  # type: ignore[method-assign]
    stage.queue.sent.clear()
    assert stage.run(stage.resumes([again])) == []
    incident = stage.world.incidents.get(HOME, first.key_id)
    assert incident is not None and incident.new_key_id and incident.done(Step.DELIVERED)


def test_a_throttled_resume_past_its_deferrals_is_retried_by_the_queue() -> None:
    stage = Stage(waiting=50, users=2)
    stage.run(stage.reports())
    (first, _) = stage.queue.sent
    stage.queue.depth = 0
    last = Resumption(first.account_id, first.key_id, first.incident_id, MAX_DEFERRALS)

    def throttled(user_name: str) -> Any:
        raise TransientError("iam:CreateAccessKey: Throttling")

    stage.world.home.create_key = throttled  # type: ignore[method-assign]
    event = stage.resumes([last])
    assert stage.run(event) == [event["Records"][0]["messageId"]]


def test_when_the_resume_queue_refuses_the_batch_finishes_in_place() -> None:
    # Given reports waiting, and a resume queue that refuses
    stage = Stage(waiting=50)
    stage.queue.refuse = True
    # When a batch is handled, Then nothing is lost: every incident is finished here
    assert stage.run(stage.reports()) == []
    assert _last_deactivation_before_any_later_write(stage.writes())
    for user, key in stage.keys.items():
        incident = stage.world.incidents.get(HOME, key)
        assert incident is not None and incident.done(Step.REPLACED), user
        assert len(stage.world.home.users[user].keys) == 2


def test_when_the_queue_depth_is_unknown_the_batch_finishes_in_place() -> None:
    stage = Stage(waiting=50)

    def unknown() -> int:
        raise TransientError("sqs:GetQueueAttributes: Throttling")

    stage.queue.waiting = unknown  # type: ignore[method-assign]
    assert stage.run(stage.reports()) == []
    assert stage.queue.sent == []
    assert all(i.done(Step.REPLACED) for i in stage.world.incidents.items.values())


# --- a key that fails to start ----------------------------------------------------------------


def test_a_key_that_fails_to_start_does_not_leave_the_batchs_other_keys_unrecorded() -> None:
    # Given a batch where the second report's deactivation is throttled past botocore's retries
    stage = Stage(waiting=0)
    users = list(stage.keys)
    admin = stage.world.home
    original = admin.deactivate

    def deactivate(user_name: str, key_id: str) -> None:
        if user_name == users[1]:
            raise TransientError("iam:UpdateAccessKey: Throttling")
        original(user_name, key_id)

    admin.deactivate = deactivate  # type: ignore[method-assign]
    event = stage.reports()
    # When it is handled, Then only that record is retried
    failed = stage.run(event)
    assert failed == [event["Records"][1]["messageId"]]
    # And the other keys are Inactive and their incidents finished
    for user in (users[0], users[2]):
        incident = stage.world.incidents.get(HOME, stage.keys[user])
        assert incident is not None and incident.done(Step.REPLACED), user
    assert stage.world.incidents.get(HOME, stage.keys[users[1]]) is None


def test_a_crash_between_the_passes_resumes_on_redelivery() -> None:
    # Given a batch whose keys were deactivated, then the worker died before recording them
    stage = Stage(waiting=0)
    event = stage.reports()
    records = [SQSRecord(r) for r in event["Records"]]
    for record in records:
        stage.responder._prepare(record)  # the first pass only
    assert stage.world.incidents.items == {}
    # When the batch is delivered again
    redelivered = {
        "Records": [
            {**r, "attributes": {**r["attributes"], "ApproximateReceiveCount": "2"}}
            for r in event["Records"]
        ]
    }
    assert stage.run(redelivered) == []
    # Then each key has one incident, one sighting and one replacement
    for user, key in stage.keys.items():
        incident = stage.world.incidents.get(HOME, key)
        assert incident is not None and incident.sighting_count == 1
        assert len(stage.world.home.users[user].keys) == 2


# --- what is read as a resume ------------------------------------------------------------------


def test_a_resume_from_any_other_queue_is_dead_lettered() -> None:
    stage = Stage(waiting=0, users=1)
    (key,) = stage.keys.values()
    body = resumption_body(Resumption(HOME, key, "abc"))
    stage.responder.handle_record(SQSRecord(sqs_record(body, LEAK_QUEUE)))
    (message,) = stage.dlq.sent
    assert message.reason
    assert stage.world.home.calls == []


def test_a_resume_for_no_incident_is_dead_lettered_with_its_reason() -> None:
    stage = Stage(waiting=0, users=1)
    (key,) = stage.keys.values()
    body = resumption_body(Resumption(HOME, key, "abc"))
    stage.responder.handle_record(SQSRecord(sqs_record(body, RESUME_QUEUE)))
    (message,) = stage.dlq.sent
    assert message.reason and "no incident" in message.reason
    assert stage.world.home.calls == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"schema": "leak-responder.resume/v2"}',
        '{"schema": "leak-responder.resume/v1", "account_id": "1", "key_id": "AKIA", '
        '"incident_id": "x"}',
        '{"schema": "leak-responder.resume/v1", "account_id": "123456789012", '
        '"key_id": "AKIAIOSFODNN7EXAMPLE", "incident_id": ""}',
        '{"schema": "leak-responder.resume/v1", "account_id": "123456789012", '
        '"key_id": "AKIAIOSFODNN7EXAMPLE", "incident_id": "x", "deferrals": -1}',
        '{"schema": "leak-responder.resume/v1", "account_id": "123456789012", '
        '"key_id": "AKIAIOSFODNN7EXAMPLE", "incident_id": "x", "deferrals": true}',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_a_malformed_resume_is_dead_lettered_at_once(body: str) -> None:
    stage = Stage(waiting=0, users=1)
    stage.responder.handle_record(SQSRecord(sqs_record(body, RESUME_QUEUE)))
    (message,) = stage.dlq.sent
    assert message.reason
    assert stage.world.home.calls == []


def test_a_resume_round_trips_and_caps_its_deferrals() -> None:
    r = Resumption(HOME, "AKIAIOSFODNN7EXAMPLE", "abc", 3)  # pragma: allowlist secret
    assert parse_resumption(resumption_body(r)) == r
    huge = json.loads(resumption_body(r)) | {"deferrals": 10**9}
    assert parse_resumption(json.dumps(huge)).deferrals == MAX_DEFERRALS


def test_a_resume_of_a_closed_incident_changes_nothing() -> None:
    stage = Stage(waiting=50, users=2)
    stage.run(stage.reports())
    (first, _) = stage.queue.sent
    incident = stage.world.incidents.get(HOME, first.key_id)
    assert incident is not None
    from dataclasses import replace

    stage.world.incidents.save(replace(incident, status=IncidentStatus.REACTIVATED))
    stage.queue.depth = 0
    calls_before = list(stage.world.home.calls)
    assert stage.run(stage.resumes([first])) == []
    assert stage.world.home.calls == calls_before


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_no_key_is_started_with_too_little_of_the_invocation_left() -> None:
    # Given a batch handed over with less time left than a throttled first move may need
    stage = Stage(waiting=0)
    event = stage.reports()
    # When it is handled, Then no key is touched and every record goes back to the queue
    result = stage.responder.handle_batch(event, _Context(START_MARGIN_MS - 1))  # type: ignore[arg-type]
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    assert failed == [r["messageId"] for r in event["Records"]]
    assert stage.world.home.calls == []
    assert stage.world.incidents.items == {}
    # And with time enough, the same batch is contained
    assert stage.responder.handle_batch(event, _Context(60_000)) == {"batchItemFailures": []}  # type: ignore[arg-type]


class _Draining(_Context):
    """Time left drops below the finishing margin once the first pass is over."""

    def __init__(self, stage: Stage) -> None:
        super().__init__(60_000)
        self.stage = stage

    def get_remaining_time_in_millis(self) -> int:
        moves = sum(1 for c in self.stage.world.home.calls if c[0] == "UpdateAccessKey")
        return FINISH_MARGIN_MS - 1 if moves == len(self.stage.keys) else 60_000


def test_later_steps_are_handed_on_when_the_invocation_runs_short() -> None:
    # Given a batch, nothing waiting, and an invocation that runs short after the first pass
    stage = Stage(waiting=0)
    result = stage.responder.handle_batch(stage.reports(), _Draining(stage))  # type: ignore[arg-type]
    # Then every key is Inactive and recorded, and the rest went to the resume queue
    assert result == {"batchItemFailures": []}
    assert [c[0] for c in stage.writes()] == ["UpdateAccessKey"] * 3
    assert sorted(r.key_id for r in stage.queue.sent) == sorted(stage.keys.values())
