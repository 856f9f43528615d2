"""Adversarial review of "Deactivate first" (docs/architecture.md): the batch's two passes, the
resume queue, ``begin``/``finish``/``resume``, the abandoned claim and the urgent IAM client.

The tests under "DEFECTS" each failed on the code the review attacked (docs/reliability.md lists
them with their fixes); the others are attacks that held, kept as regressions.

Most tests run the real responder and containment on the in-memory world (testkit.world) with a
resume queue that records what it is given; one race runs the real wiring on moto.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.endpoint
import botocore.retries.bucket
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leak_responder.adapters.aws.clients import CLIENT_CONFIG, URGENT_CLIENT_CONFIG, ClientFactory
from leak_responder.adapters.aws.dlq import DeadLetterQueue
from leak_responder.adapters.aws.iam import IamKeyAdmin
from leak_responder.adapters.aws.pacing import FLOOR_SECONDS, URGENT_BUDGET_SECONDS, UrgentPacer
from leak_responder.domain.containment import REPLACE_LEASE, begin
from leak_responder.domain.errors import AccessDeniedError, TransientError
from leak_responder.domain.incidents import take_lease
from leak_responder.domain.model import (
    MAX_DEFERRALS,
    IncidentStatus,
    NotificationStatus,
    Resumption,
    Step,
)
from leak_responder.responder import START_MARGIN_MS, Responder
from leak_responder.settings import Settings
from leak_responder.sources.resume import RESUME_SCHEMA, resumption_body
from leak_responder.wiring import build_responder
from leak_sandbox.testkit.events import health_event
from leak_sandbox.testkit.fakes import FakeResumeQueue
from leak_sandbox.testkit.lambda_shapes import sqs_event, sqs_record
from leak_sandbox.testkit.sqs import RecordingSqsClient
from leak_sandbox.testkit.world import World, leaked
from tests.chaos.conftest import (
    VISIBILITY_TIMEOUT,
    ChaosStack,
    Leak,
    SerialisedAws,
    ShiftedClock,
    end_state,
    fresh_case,
    new_leak,
)

HOME = "123456789012"
SAMPLE_KEY = "AKIAQ7ZSLEAKTEST0005"  # pragma: allowlist secret
LEAK_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-LeakQueue"
SCANNER_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-ScannerQueue"
RESUME_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-ResumeQueue"
DLQ_URL = f"https://sqs.us-east-1.amazonaws.com/{HOME}/leak-responder-LeakDLQ"
ROOT = Path(__file__).resolve().parents[2]
MULTI = ROOT / "tests" / "events" / "health_compromised_multiple_entities.json"
IAM_CALLS = (
    "deactivate",
    "activate",
    "key_usage",
    "list_keys",
    "create_key",
    "delete_key",
    "tag_user",
    "user_tags",
    "attached_policy_names",
    "principal_arn",
    "revoke_sessions",
)


# ------------------------------------------------------------------------------- the harness


class Stage:
    def __init__(self, waiting: int = 0, users: int = 3, max_receive_count: int = 5) -> None:
        self.world = World(home_account_id=HOME)
        self.keys = {f"user-{i}": self.world.user(f"user-{i}") for i in range(users)}
        self.queue = FakeResumeQueue(waiting)
        self.dlq = RecordingSqsClient()
        self.responder = Responder(
            self.world.deps(pause=lambda _s: None),
            DeadLetterQueue(self.dlq, DLQ_URL),
            max_receive_count,
            resume_queue=self.queue,
            resume_queue_arn=RESUME_QUEUE,
        )

    def reports(self, users: list[str] | None = None, receive_count: int = 1) -> dict[str, Any]:
        names = users or list(self.keys)
        bodies = [json.dumps(health_event(self.keys[u], u, HOME)) for u in names]
        return sqs_event(bodies, LEAK_QUEUE, receive_count)

    def run(self, event: dict[str, Any]) -> list[str]:
        result = self.responder.handle_batch(event)
        return [str(f["itemIdentifier"]) for f in result["batchItemFailures"]]

    def incident_of(self, user: str) -> Any:
        # Read past any wrapper a test put on the store's methods.
        return self.world.incidents.items.get(f"{HOME}#{self.keys[user]}")

    def creates(self) -> Counter[str]:
        return Counter(str(a[0]) for n, a in self.world.home.calls if n == "CreateAccessKey")


def multi_key_body(keys: list[str]) -> str:
    """One Health event naming several keys and no user (the responder looks each owner up)."""
    event = json.loads(MULTI.read_text())
    event["account"] = HOME
    event["detail"]["affectedAccount"] = HOME
    event["detail"]["eventMetadata"] = {}
    event["detail"]["affectedEntities"] = [{"entityValue": k, "status": "IMPAIRED"} for k in keys]
    return json.dumps(event)


def throttle_user(stage: Stage, method: str, user: str) -> None:
    original = getattr(stage.world.home, method)

    def throttled(user_name: str, *args: Any) -> Any:
        if user_name == user:
            raise TransientError(f"iam:{method}: Throttling")
        return original(user_name, *args)

    setattr(stage.world.home, method, throttled)


@pytest.fixture(autouse=True)
def _shared_retry_policies_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a client rewrites these module-level Configs' retries (see the defect below):
    whatever this module builds, they are put back as they were."""
    for config in (CLIENT_CONFIG, URGENT_CLIENT_CONFIG):
        monkeypatch.setattr(config, "retries", dict(config.retries))  # type: ignore[attr-defined]


# ================================================= DEFECTS (each failed before its fix)

# --- 1. the first pass runs outside BatchProcessor's per-record isolation ---------------------


@pytest.mark.parametrize("damage", ["no-attributes", "sent-timestamp-out-of-range"])
def test_one_malformed_record_does_not_strand_the_keys_deactivated_before_it(damage: str) -> None:
    stage = Stage()
    event = stage.reports()
    last = event["Records"][2]
    if damage == "no-attributes":
        del last["attributes"]
    else:
        last["attributes"]["SentTimestamp"] = "9" * 30
    try:
        stage.run(event)
    finally:
        # Whatever happens to the bad record, a key made Inactive has its incident.
        for user in ("user-0", "user-1"):
            assert stage.world.home.key(stage.keys[user]).status == "Inactive"
            assert stage.incident_of(user) is not None, f"{user}: Inactive, no incident"


def test_an_unexpected_error_reading_the_queue_depth_finishes_the_batch_in_place() -> None:
    stage = Stage(waiting=50)

    def broken() -> int:
        return int({"ApproximateNumberOfMessages": "n/a"}["ApproximateNumberOfMessages"])

    stage.queue.waiting = broken  # type: ignore[method-assign]
    try:
        assert stage.run(stage.reports()) == []
    finally:
        for user in stage.keys:
            assert stage.incident_of(user) is not None, f"{user}: Inactive, no incident"


# --- 2. deferred incidents that are neither handed on nor finished ---------------------------


def test_a_failing_key_does_not_strand_the_deferred_incidents_of_its_record() -> None:
    stage = Stage(waiting=50, users=2)
    first, second = stage.keys.values()
    store = stage.world.incidents
    create = store.create

    def contended(incident: Any) -> Any:
        if incident.key_id == second:
            raise TransientError("dynamodb:PutItem: ProvisionedThroughputExceededException")
        return create(incident)

    store.create = contended  # type: ignore[method-assign]
    record = sqs_record(multi_key_body([first, second]), LEAK_QUEUE, receive_count=5)
    assert stage.run({"Records": [record]}) == []  # last receive: dead-lettered
    assert stage.dlq.sent and stage.dlq.sent[0].reason
    incident = store.get(HOME, first)
    assert incident is not None and incident.done(Step.DEACTIVATED)
    # Then the first key's later steps are either queued or done
    queued = [r.key_id for r in stage.queue.sent]
    assert first in queued or incident.done(Step.REPLACED), "deferred, never handed on"


def test_when_the_queue_refuses_one_failing_incident_does_not_strand_the_others() -> None:
    stage = Stage(waiting=50, users=2)
    stage.queue.refuse = True
    first, second = stage.keys.values()
    throttle_user(stage, "create_key", "user-0")
    record = sqs_record(multi_key_body([first, second]), LEAK_QUEUE, receive_count=5)
    stage.run({"Records": [record]})
    other = stage.world.incidents.get(HOME, second)
    assert other is not None
    assert other.done(Step.REPLACED) and other.done(Step.NOTIFIED)


# --- 3. what a resume names --------------------------------------------------------------------


def test_a_resume_naming_another_incident_is_dead_lettered() -> None:
    stage = Stage(waiting=50, users=2)
    stage.run(stage.reports())
    handed = stage.queue.sent[0]
    stage.queue.sent.clear()
    stage.queue.depth = 0
    forged = Resumption(handed.account_id, handed.key_id, "no-such-incident")
    assert stage.run(sqs_event([resumption_body(forged)], RESUME_QUEUE)) == []
    assert stage.creates() == Counter(), "the forged resume replaced a key"
    (message,) = stage.dlq.sent
    assert message.reason


# --- 4. the urgent IAM client ------------------------------------------------------------------


def _throttled(request: Any, **_: Any) -> Any:
    response: Any = AWSResponse(request.url, 400, {}, None)  # type: ignore[arg-type]
    response._content = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        b"<Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
    return response


class _Sleeps:
    """botocore.endpoint's ``time`` with ``sleep`` recorded instead of slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def throttled_urgent_iam(monkeypatch: pytest.MonkeyPatch) -> tuple[Callable[[], Any], _Sleeps]:
    """(a fresh urgent IAM client whose every answer is Throttling, the sleeps botocore asks
    for). The adaptive mode's token bucket is let through (it only adds waits)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    sleeps = _Sleeps()
    monkeypatch.setattr(botocore.endpoint, "time", sleeps)
    monkeypatch.setattr(
        botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True
    )
    factory = ClientFactory(region="us-east-1")

    def client() -> Any:
        iam = factory("iam", urgent=True)
        iam.meta.events.register("before-send", _throttled)
        return iam

    return client, sleeps


def _deactivate(iam: Any) -> int:
    """One throttled UpdateAccessKey; how many requests it made."""
    made = [0]

    def count(**_: Any) -> None:
        made[0] += 1

    iam.meta.events.register("before-send", count)
    with pytest.raises(Exception, match="Throttling"):
        iam.update_access_key(UserName="u", AccessKeyId=SAMPLE_KEY, Status="Inactive")
    iam.meta.events.unregister("before-send", count)
    return made[0]


def _responder_timeout() -> int:
    text = (ROOT / "template.yaml").read_text()
    block = text.split("  ResponderFunction:", 1)[1]
    return int(block.split("Timeout:", 1)[1].split()[0])


def _urgent_admin(
    iam: Any, sleeps: list[float], clock: list[float]
) -> tuple[IamKeyAdmin, UrgentPacer]:
    """An IAM adapter whose urgent client is ``iam``, paced on a fake clock."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    pacer = UrgentPacer(sleep=sleep, clock=lambda: clock[0])
    return IamKeyAdmin(iam, "123456789012", urgent=lambda: iam, pacer=pacer), pacer


def test_a_throttled_urgent_call_gives_up_inside_the_responders_timeout(
    throttled_urgent_iam: tuple[Callable[[], Any], _Sleeps],
) -> None:
    # Found by this review: with botocore's retries (ten, adaptive) one fully throttled
    # UpdateAccessKey waited 65.5 s at median draws, past the 60 s timeout on its own.
    client, botocore_sleeps = throttled_urgent_iam
    sleeps: list[float] = []
    admin, _ = _urgent_admin(client(), sleeps, [0.0])
    with pytest.raises(TransientError):
        admin.deactivate("u", SAMPLE_KEY)
    timeout = _responder_timeout()
    # Then the key gives up within its budget, so a batch of ten such keys still fits
    assert botocore_sleeps.slept == []  # one attempt per request: the pacer retries
    assert sum(sleeps) <= URGENT_BUDGET_SECONDS
    # And its worst case (the budget, then one last request's timeouts) fits in the margin the
    # responder keeps before starting a key, with the batch's second pass after it
    config: Any = URGENT_CLIENT_CONFIG
    worst = URGENT_BUDGET_SECONDS + config.connect_timeout + config.read_timeout
    assert worst * 1000 < START_MARGIN_MS < timeout * 1000
    assert len(sleeps) >= 4  # and it did keep trying meanwhile


def test_the_urgent_client_still_retries_after_a_burst_of_throttling(
    throttled_urgent_iam: tuple[Callable[[], Any], _Sleeps],
) -> None:
    # Found by this review: botocore's retry quota, per client, stopped retrying at all after
    # ten fully throttled deactivations.
    client, _ = throttled_urgent_iam
    iam = client()
    made = [0]

    def count(**_: Any) -> None:
        made[0] += 1

    iam.meta.events.register("before-send", count)
    sleeps: list[float] = []
    admin, _ = _urgent_admin(iam, sleeps, [0.0])
    per_call = []
    for _ in range(30):
        before = made[0]
        with pytest.raises(TransientError):
            admin.deactivate("u", SAMPLE_KEY)
        per_call.append(made[0] - before)
    assert min(per_call) > 1, f"requests per deactivation: {per_call}"


def test_the_pace_adapts_to_throttling_and_recovers() -> None:
    # Given a pacer and a call that IAM refuses twice, then accepts
    sleeps: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    pacer = UrgentPacer(sleep=sleep, clock=lambda: clock[0], draw=lambda: 1.0)
    answers = iter([TransientError("t"), TransientError("t"), "ok"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert pacer.run(call) == "ok"
    # Then each refusal doubled the wait, and the success halved it
    assert sleeps == [FLOOR_SECONDS, 2 * FLOOR_SECONDS]
    assert pacer.delay == FLOOR_SECONDS
    assert (pacer.tries, pacer.throttled) == (3, 2)


def test_building_a_client_leaves_the_shared_retry_policy_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setattr(URGENT_CLIENT_CONFIG, "retries", {"mode": "adaptive", "max_attempts": 10})
    ClientFactory(region="us-east-1")("iam", urgent=True)
    assert URGENT_CLIENT_CONFIG.retries == {"mode": "adaptive", "max_attempts": 10}  # type: ignore[attr-defined]


# --- 5. the abandoned claim ----------------------------------------------------------------------


def test_a_claim_abandoned_before_any_key_was_created_blames_no_key() -> None:
    stage = Stage(waiting=0, users=1)
    stage.world.home.add_key("user-0")  # the owner's own second key, in use
    original = stage.world.home.attached_policy_names
    calls = [0]

    def once(user_name: str) -> list[str]:
        calls[0] += 1
        if calls[0] == 1:
            raise TransientError("iam:ListAttachedUserPolicies: Throttling")
        return original(user_name)

    stage.world.home.attached_policy_names = once  # type: ignore[method-assign]
    event = stage.reports()
    assert len(stage.run(event)) == 1
    assert stage.run(stage.reports(receive_count=2)) == []
    assert stage.creates() == Counter()
    incident = stage.incident_of("user-0")
    assert "interrupted" not in (incident.replacement_note or "")


# --- 6. a good replacement thrown away -----------------------------------------------------------

# The calls between CreateAccessKey and the record of the stored secret, in the worker that still
# holds the new key's secret in memory.
BETWEEN_CREATE_AND_STORE = ("iam.tag_user", "iam.principal_arn", "secrets.store")


@pytest.mark.parametrize("label", BETWEEN_CREATE_AND_STORE)
def test_a_throttled_step_after_create_access_key_keeps_the_created_key(label: str) -> None:
    faults = Faults()
    probe = faulted_stage(50, faults)
    drive(probe, probe.reports())
    position = faults.labels.index(label, faults.labels.index("iam.create_key"))
    stage = faulted_stage(50, Faults(position, "transient"))
    drive(stage, stage.reports())
    assert end_problems(stage, one_create=False) == []
    assert max(stage.creates().values()) == 1, "the created key was deleted and made again"
    assert "DeleteAccessKey" not in [c[0] for c in stage.world.home.calls]


# ============================================================================ WHAT HELD

# --- faults at every port call, in a batch of three, with and without defer ------------------


class Faults:
    """Wraps every port method; the call at ``at`` fails once (``kind``)."""

    def __init__(self, at: int | None = None, kind: str = "transient") -> None:
        self.at, self.kind, self.count = at, kind, 0
        self.labels: list[str] = []

    def wrap(self, obj: Any, names: Sequence[str], prefix: str) -> None:
        for name in names:
            setattr(obj, name, self._wrapped(getattr(obj, name), f"{prefix}.{name}"))

    def _wrapped(self, call: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            position = self.count
            self.count += 1
            self.labels.append(label)
            if position != self.at:
                return call(*args, **kwargs)
            if self.kind == "after":  # took effect, the answer was lost
                call(*args, **kwargs)
                raise TransientError(f"{label}: timed out")
            if self.kind == "denied":
                raise AccessDeniedError(f"{label}: AccessDenied")
            raise TransientError(f"{label}: Throttling")

        return wrapped


def faulted_stage(waiting: int, faults: Faults) -> Stage:
    stage = Stage(waiting=waiting)
    faults.wrap(stage.world.home, IAM_CALLS, "iam")
    faults.wrap(stage.world.incidents, ("get", "create", "save"), "ddb")
    faults.wrap(stage.world.secrets, ("store",), "secrets")
    faults.wrap(stage.world.notifier, ("notify",), "slack")
    faults.wrap(stage.queue, ("waiting", "send"), "sqs")
    return stage


def _again(record: dict[str, Any], receives: int) -> dict[str, Any]:
    copied = copy.deepcopy(record)
    copied["attributes"]["ApproximateReceiveCount"] = str(receives)
    return copied


def drive(stage: Stage, reports: dict[str, Any]) -> list[str]:
    """SQS around the responder: failed records come back after the visibility timeout, handed
    on resumes arrive on the resume queue; reports wait only during the first batch."""
    leak = [(r, 1) for r in reports["Records"]]
    resumes: list[tuple[dict[str, Any], int]] = []
    crashes: list[str] = []
    for round_ in range(30):
        if round_:
            stage.queue.depth = 0
        resumes += [(sqs_record(resumption_body(r), RESUME_QUEUE), 1) for r in stage.queue.sent]
        stage.queue.sent.clear()
        if not (leak or resumes):
            break
        for name in ("leak", "resume"):
            held = leak if name == "leak" else resumes
            if not held:
                continue
            batch = [_again(r, n) for r, n in held]
            try:
                failed = set(stage.run({"Records": batch}))
            except Exception as exc:  # the invocation failed: every record comes back
                crashes.append(f"{type(exc).__name__}: {exc}")
                failed = {r["messageId"] for r in batch}
            kept = [(r, n + 1) for r, n in held if r["messageId"] in failed and n < 5]
            if name == "leak":
                leak = kept
            else:
                resumes = kept
        stage.world.clock.advance(seconds=361)
    return crashes


def end_problems(stage: Stage, *, one_create: bool = True) -> list[str]:
    found = []
    creates = stage.creates()
    notices = Counter(i.key_id for i in stage.world.notifier.sent)
    for user, key_id in stage.keys.items():
        if stage.world.home.key(key_id).status != "Inactive":
            found.append(f"{user}: not Inactive")
        incident = stage.incident_of(user)
        if incident is None:
            found.append(f"{user}: no incident")
            continue
        active = [
            k.key_id for k in stage.world.home.users[user].keys.values() if k.status == "Active"
        ]
        if not incident.done(Step.REPLACED) or active != [incident.new_key_id]:
            found.append(f"{user}: replacement {incident.new_key_id}, active {active}")
        if one_create and creates[user] > 1:
            found.append(f"{user}: {creates[user]} CreateAccessKey")
        if notices[key_id] != 1:
            found.append(f"{user}: {notices[key_id]} notices")
    found += [f"dead letter: {m.reason}" for m in stage.dlq.sent]
    return found


def _clean_calls(waiting: int) -> list[str]:
    faults = Faults()
    stage = faulted_stage(waiting, faults)
    assert drive(stage, stage.reports()) == []
    assert end_problems(stage) == []
    return faults.labels


# Documented limits (tests/chaos/test_fault_matrix.py EXPECTED): an answer lost after the call
# took effect for CreateAccessKey (an unprovable extra key) or a notice (sent twice).
LOST_ANSWER_LIMITS = {"iam.create_key", "slack.notify"}


@pytest.mark.parametrize("waiting", [0, 50], ids=["in-place", "handed-on"])
@pytest.mark.parametrize("kind", ["transient", "after"])
def test_one_fault_at_any_port_call_of_a_batch_ends_right(waiting: int, kind: str) -> None:
    labels = _clean_calls(waiting)
    for position, label in enumerate(labels):
        if kind == "after" and label in LOST_ANSWER_LIMITS:
            continue
        stage = faulted_stage(waiting, Faults(position, kind))
        crashes = drive(stage, stage.reports())
        # A second CreateAccessKey (the first deleted) is the defect of BETWEEN_CREATE_AND_STORE.
        problems = end_problems(stage, one_create=label not in BETWEEN_CREATE_AND_STORE)
        assert (crashes, problems) == ([], []), f"{position} {label}"


def test_persistent_throttling_of_a_resume_ends_in_the_dlq_with_a_reason_not_a_loop() -> None:
    stage = Stage(waiting=50, users=2)
    throttle_user(stage, "create_key", "user-0")
    throttle_user(stage, "create_key", "user-1")
    stage.run(stage.reports())
    deferrals, deliveries = [], 0
    pending = [(sqs_record(resumption_body(r), RESUME_QUEUE), 1) for r in stage.queue.sent]
    while pending and deliveries < 100:
        stage.queue.sent.clear()
        deliveries += 1
        failed = set(stage.run({"Records": [_again(r, n) for r, n in pending]}))
        deferrals += [r.deferrals for r in stage.queue.sent]
        pending = [(r, n + 1) for r, n in pending if r["messageId"] in failed and n < 5]
        pending += [(sqs_record(resumption_body(r), RESUME_QUEUE), 1) for r in stage.queue.sent]
        stage.world.clock.advance(seconds=361)
    assert not pending and max(deferrals) == MAX_DEFERRALS
    # Lambda stops a recursive SQS loop after 16 hops; report + 8 put-backs + the last stay under.
    assert 1 + MAX_DEFERRALS + 1 < 16
    assert len(stage.dlq.sent) == 2 and all(m.reason for m in stage.dlq.sent)
    for user in stage.keys:
        assert stage.world.home.key(stage.keys[user]).status == "Inactive"


# --- hostile input ----------------------------------------------------------------------------

HOSTILE_BODIES = [
    json.dumps({"schema": RESUME_SCHEMA, "account_id": 123456789012, "key_id": "x"}),
    json.dumps(
        {
            "schema": RESUME_SCHEMA,
            "account_id": "\uff11" * 12,  # fullwidth digits pass ACCOUNT_ID_PATTERN's \d
            "key_id": SAMPLE_KEY,
            "incident_id": "i",
        }
    ),
    '{"schema": "leak-responder.resume/v1", "schema": "other"}',
    json.dumps({"schema": RESUME_SCHEMA, "deferrals": 10**400}),
    json.dumps({"schema": [RESUME_SCHEMA]}),
    json.dumps({"Records": []}),
    (ROOT / "tests" / "events" / "scanner_v1.json").read_text(),
    (ROOT / "tests" / "events" / "health_credentials_exposed.json").read_text(),
    '{"schema": "leak-responder.resume/v1", "account_id": "123456789012", '
    '"key_id": SAMPLE_KEY, "incident_id": "\\ud800"}',
    "",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_a_hostile_body_on_the_resume_queue_is_dead_lettered_untouched(body: str) -> None:
    stage = Stage(users=1)
    assert stage.run(sqs_event([body], RESUME_QUEUE)) == []
    (message,) = stage.dlq.sent
    assert message.reason
    assert stage.world.home.calls == []


@pytest.mark.parametrize("queue", [LEAK_QUEUE, SCANNER_QUEUE])
def test_a_resume_on_a_report_queue_is_dead_lettered(queue: str) -> None:
    stage = Stage(users=1)
    stage.responder.scanner_queue_arn = SCANNER_QUEUE
    (key,) = stage.keys.values()
    body = resumption_body(Resumption(HOME, key, "x"))
    assert stage.run(sqs_event([body], queue)) == []
    assert len(stage.dlq.sent) == 1 and stage.world.home.calls == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.fixed_dictionaries(
        {"schema": st.just(RESUME_SCHEMA)},
        optional={
            "account_id": json_values | st.just(HOME),
            "key_id": json_values | st.just(SAMPLE_KEY),
            "incident_id": json_values,
            "deferrals": json_values,
        },
    )
)
def test_any_resume_body_is_run_put_back_or_dead_lettered_never_raised(
    fields: dict[str, Any],
) -> None:
    stage = Stage(waiting=50, users=1)
    event = sqs_event([json.dumps(fields)], RESUME_QUEUE)
    assert stage.run(event) == []
    assert len(stage.dlq.sent) + len(stage.queue.sent) == 1
    assert all(r.deferrals <= MAX_DEFERRALS for r in stage.queue.sent)
    assert stage.world.home.calls == []


def test_a_record_that_is_not_a_dict_among_reports_leaves_no_key_unrecorded() -> None:
    stage = Stage()
    event = stage.reports()
    event["Records"].append("not a record")
    with pytest.raises(TypeError):  # BatchProcessor itself cannot report it: the batch fails
        stage.run(event)
    assert all(stage.incident_of(u) is not None for u in stage.keys)


def test_duplicate_message_ids_in_one_batch_deferred_make_one_replacement_each() -> None:
    stage = Stage(waiting=50)
    event = stage.reports()
    event["Records"].append(copy.deepcopy(event["Records"][0]))
    assert stage.run(event) == []
    stage.queue.depth = 0
    assert stage.run(sqs_event([resumption_body(r) for r in stage.queue.sent], RESUME_QUEUE)) == []
    assert max(stage.creates().values()) == 1
    assert stage.incident_of("user-0").sighting_count == 2


def test_a_non_leak_responder_error_starting_one_key_fails_only_its_record() -> None:
    stage = Stage(waiting=50)
    original = stage.world.home.deactivate

    def bug(user_name: str, key_id: str) -> None:
        if user_name == "user-1":
            raise KeyError("a bug")
        original(user_name, key_id)

    stage.world.home.deactivate = bug  # type: ignore[method-assign]
    event = stage.reports()
    assert stage.run(event) == [event["Records"][1]["messageId"]]
    assert stage.incident_of("user-0") and stage.incident_of("user-2")
    assert sorted(r.key_id for r in stage.queue.sent) == sorted(
        [stage.keys["user-0"], stage.keys["user-2"]]
    )


def test_a_resume_of_a_closed_or_alert_only_incident_writes_nothing_to_iam() -> None:
    stage = Stage(waiting=50, users=3)
    stage.run(stage.reports())
    handed = list(stage.queue.sent)
    for resumption, status in zip(
        handed,
        (IncidentStatus.DELETED, IncidentStatus.REACTIVATED, IncidentStatus.ALERT_ONLY),
        strict=True,
    ):
        incident = stage.world.incidents.get(HOME, resumption.key_id)
        assert incident is not None
        stage.world.incidents.save(replace(incident, status=status))
    stage.queue.sent.clear()
    stage.queue.depth = 0
    before = len(stage.world.home.calls)
    assert stage.run(sqs_event([resumption_body(r) for r in handed], RESUME_QUEUE)) == []
    assert [c[0] for c in stage.world.home.calls[before:]] == []


# --- two workers at once ----------------------------------------------------------------------


def serialised(stage: Stage, seed: int) -> None:
    """Each port call atomic (as DynamoDB's conditional write and IAM's two-key limit are),
    with a seeded jitter between calls."""
    lock = threading.RLock()
    rng = random.Random(seed)

    def wrap(obj: Any, names: Sequence[str]) -> None:
        for name in names:
            call = getattr(obj, name)

            def atomic(*args: Any, _call: Callable[..., Any] = call, **kwargs: Any) -> Any:
                time.sleep(rng.random() * 0.001)
                with lock:
                    return _call(*args, **kwargs)

            setattr(obj, name, atomic)

    wrap(stage.world.home, IAM_CALLS)
    wrap(stage.world.incidents, ("get", "create", "save"))
    wrap(stage.world.secrets, ("store",))
    wrap(stage.world.notifier, ("notify",))
    wrap(stage.queue, ("waiting", "send"))


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("waiting", [0, 50], ids=["in-place", "handed-on"])
def test_workers_on_overlapping_batches_and_twice_delivered_resumes(
    seed: int, waiting: int
) -> None:
    stage = Stage(waiting=waiting, users=4)
    serialised(stage, seed)
    users = list(stage.keys)
    at_once(
        [lambda: stage.run(stage.reports(users[:3])), lambda: stage.run(stage.reports(users[1:]))]
    )
    stage.queue.depth = 0
    handed = list(stage.queue.sent)
    stage.queue.sent.clear()
    resumes = sqs_event([resumption_body(r) for r in handed], RESUME_QUEUE)
    # the resumes twice at once, racing the original reports delivered again
    at_once(
        [
            lambda: stage.run(copy.deepcopy(resumes)),
            lambda: stage.run(copy.deepcopy(resumes)),
            lambda: stage.run(stage.reports(users, receive_count=2)),
        ]
    )
    for _ in range(3):  # what was put back or failed comes back after the lease
        stage.world.clock.advance(seconds=400)
        again = list(stage.queue.sent)
        stage.queue.sent.clear()
        if again:
            stage.run(sqs_event([resumption_body(r) for r in again], RESUME_QUEUE))
        stage.run(stage.reports(users, receive_count=3))
    assert end_problems(stage) == []


def test_an_abandoned_claim_is_taken_by_one_of_two_workers_at_once() -> None:
    stage = Stage(waiting=0, users=1)
    throttle_user(stage, "create_key", "user-0")
    stage.run(stage.reports())
    incident = stage.incident_of("user-0")
    assert incident.claims["replace"].startswith("abandoned|")
    serialised(stage, 1)
    now = stage.world.clock.now()
    leases = at_once(
        [
            lambda: take_lease(
                stage.world.incidents,
                incident,
                "replace",
                now,
                REPLACE_LEASE,
                lambda i: i.done(Step.REPLACED),
            )
            for _ in range(4)
        ]
    )
    assert sum(1 for lease in leases if lease.mine) == 1


def test_started_finish_runs_once() -> None:
    world = World(home_account_id=HOME)
    key = world.user("alice")
    report = leaked(key, user_name="alice", account_id=HOME)
    started = begin(report, world.deps(), received_at=world.clock.now())
    assert started.finish().incident.status == IncidentStatus.CONTAINED
    with pytest.raises(RuntimeError):
        started.finish()
    assert world.notifier.sent and len(world.notifier.sent) == 1
    incident = world.incidents.get(HOME, key)
    assert incident is not None and incident.notification_status == NotificationStatus.SENT


# --- the real wiring on moto: two workers, handed on, resumes twice, a report again -----------


def test_real_wiring_two_workers_hand_on_and_resume_twice_one_replacement_each(
    chaos_stack: ChaosStack,
    shifted_clock: ShiftedClock,
    slack_waits: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh_case(chaos_stack)
    sqs = chaos_stack.client("sqs")
    env = chaos_stack.env
    leak_url = next(u for u in env["WATCHED_QUEUE_URLS"].split(",") if "LeakQueue" in u)
    resume_url, resume_arn = env["RESUME_QUEUE_URL"], env["RESUME_QUEUE_ARN"]
    for i in range(12):  # reports waiting: the batches below are handed on
        sqs.send_message(QueueUrl=leak_url, MessageBody=f"filler {i}")
    leaks = [new_leak(chaos_stack, "defer") for _ in range(3)]
    workers = []
    for _ in range(3):
        responder = build_responder(Settings.from_env())
        responder.deps = replace(responder.deps, pause=lambda _s: None)
        workers.append(responder)
    rng = random.Random(5)
    aws = SerialisedAws(monkeypatch, lambda: time.sleep(rng.random() * 0.002))

    def body(leak: Leak) -> str:
        return json.dumps(health_event(leak.key_id, leak.user, HOME))

    report_a = [sqs_record(body(leak), chaos_stack.queue_arn) for leak in leaks[:2]]
    report_b = [sqs_record(body(leak), chaos_stack.queue_arn) for leak in leaks[1:]]
    at_once(
        [
            lambda: workers[0].handle_batch({"Records": report_a}),
            lambda: workers[1].handle_batch({"Records": report_b}),
        ]
    )
    assert "iam:CreateAccessKey" not in aws.labels, "handed on, not finished in place"
    while got := sqs.receive_message(QueueUrl=leak_url, MaxNumberOfMessages=10).get("Messages"):
        for message in got:
            sqs.delete_message(QueueUrl=leak_url, ReceiptHandle=message["ReceiptHandle"])
    resumes = []
    while got := sqs.receive_message(QueueUrl=resume_url, MaxNumberOfMessages=10).get("Messages"):
        for message in got:
            resumes.append(sqs_record(message["Body"], resume_arn))
            sqs.delete_message(QueueUrl=resume_url, ReceiptHandle=message["ReceiptHandle"])
    assert len(resumes) == 4  # leaks[1] twice
    again = [_again(r, 2) for r in report_a + report_b]
    results = at_once(
        [
            lambda: workers[0].handle_batch({"Records": copy.deepcopy(resumes)}),
            lambda: workers[1].handle_batch({"Records": copy.deepcopy(resumes)}),
            lambda: workers[2].handle_batch({"Records": again}),
        ]
    )
    for _ in range(3):  # what lost a race comes back after the visibility timeout
        if all(isinstance(r, dict) and not r["batchItemFailures"] for r in results):
            break
        shifted_clock.advance(VISIBILITY_TIMEOUT)
        results = [workers[0].handle_batch({"Records": [_again(r, 3) for r in again]})]
    assert aws.labels.count("iam:CreateAccessKey") == 3
    posts = chaos_stack.standin.calls("chat.postMessage")
    for leak in leaks:
        state = end_state(chaos_stack, leak)
        problems = [
            p for p in state.problems(leak, aws.created) if "DMs" not in p and "copies" not in p
        ]
        assert problems == [], leak
        mentions = [p for p in posts if leak.key_id in json.dumps(p["params"])]
        assert len(mentions) == 2, f"{leak.key_id}: {len(mentions)} posts (a DM and a copy)"


# --- the SQS adapter's answers: a partial SendMessageBatch, a refused GetQueueAttributes -------


class StubSqs:
    """GetQueueAttributes and SendMessageBatch as SQS answers them, or refuses."""

    def __init__(self, depth: int, *, fail_entry: str | None = None, deny_depth: bool = False):
        self.depth, self.fail_entry, self.deny_depth = depth, fail_entry, deny_depth
        self.queued: list[dict[str, Any]] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        if self.deny_depth:
            from botocore.exceptions import ClientError

            error: Any = {"Error": {"Code": "AccessDenied", "Message": "no"}}
            raise ClientError(error, "GetQueueAttributes")
        return {"Attributes": {"ApproximateNumberOfMessages": str(self.depth)}}

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        ok = [e for e in Entries if e["Id"] != self.fail_entry]
        self.queued += ok
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False}
            for e in Entries
            if e["Id"] == self.fail_entry
        ]
        return {"Successful": [{"Id": e["Id"]} for e in ok], "Failed": failed}


@pytest.mark.parametrize("fault", ["one-entry-not-queued", "depth-denied"])
def test_the_sqs_adapters_refusals_finish_in_place_and_a_queued_resume_changes_nothing(
    fault: str,
) -> None:
    from leak_responder.adapters.aws.resume_queue import SqsResumeQueue

    stage = Stage()
    sqs = StubSqs(
        50,
        fail_entry="1" if fault == "one-entry-not-queued" else None,
        deny_depth=fault == "depth-denied",
    )
    stage.responder.resume_queue = SqsResumeQueue(sqs, "https://resume", ["https://leaks"])
    reports = sqs_event(
        [multi_key_body(list(stage.keys.values()))], LEAK_QUEUE
    )  # one record, three keys: one SendMessageBatch of three entries
    assert stage.run(reports) == []
    assert end_problems(stage) == []
    assert len(sqs.queued) == (2 if fault == "one-entry-not-queued" else 0)
    if not sqs.queued:
        return
    calls = len(stage.world.home.calls)
    stage.responder.resume_queue = None
    resumes = sqs_event([e["MessageBody"] for e in sqs.queued], RESUME_QUEUE)
    assert stage.run(resumes) == []
    assert [c[0] for c in stage.world.home.calls[calls:]] == []
    assert end_problems(stage) == []
