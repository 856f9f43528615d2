"""Races: several workers containing the same key at once.

Each worker is a Lambda container of its own: a responder built by the real wiring
(``wiring.build_responder``, what ``functions/responder/app.py`` builds on its first invocation)
with its own boto3 clients and Slack client. The handler module's single cached responder is not
used here because one container handles one batch at a time (its BatchProcessor holds the batch),
so N concurrent invocations are N containers. The workers receive the same SQS message (as SQS
does when a visibility timeout lapses mid-flight) and messages of other sources naming the same
key (Health and Trusted Advisor with the user, a scanner finding without), all released at once
by a barrier. AWS is moto with every request made atomic (``SerialisedAws``: DynamoDB's
conditional writes and IAM's two-key limit are then as strict as the real services'), Slack the
stand-in over HTTP. What failed is redelivered, as SQS does after the visibility timeout, until
acknowledged or dead-lettered.

Every round must end with one incident, one replacement (one CreateAccessKey, its secret
stored), one DM and one security-channel copy, every source's sighting recorded, the key
Inactive and no dead letters. Rounds are seeded: the seed picks the workers' messages and the
jitter before each of their AWS calls, so a round is repeatable in what it asks for (the
scheduler still decides the exact interleaving, and the invariants must hold for any).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from leak_responder.domain.model import Source
from leak_responder.responder import Responder
from leak_responder.settings import Settings
from leak_responder.wiring import build_responder
from leak_sandbox.testkit.events import health_event, trusted_advisor_event
from leak_sandbox.testkit.lambda_shapes import lambda_context
from tests.chaos.conftest import (
    HOME,
    MAX_RECEIVE_COUNT,
    VISIBILITY_TIMEOUT,
    ChaosStack,
    Delivery,
    Leak,
    SerialisedAws,
    ShiftedClock,
    end_state,
    fresh_case,
    new_leak,
)

SAMPLES = Path(__file__).resolve().parents[1] / "events"
MAX_WORKERS = 8


@dataclass(frozen=True)
class Round:
    seed: int
    workers: int

    @property
    def id(self) -> str:
        return f"seed{self.seed}-{self.workers}workers"


ROUNDS = [Round(1, 4), Round(2, 6), Round(3, 8), Round(4, 5), Round(5, 8)]


def bodies(leak: Leak) -> dict[Source, str]:
    scanner = json.loads((SAMPLES / "scanner_v1.json").read_text())
    scanner.update(key_id=leak.key_id, account_id=HOME)
    return {
        Source.HEALTH: json.dumps(health_event(leak.key_id, leak.user, HOME)),
        Source.TRUSTEDADVISOR: json.dumps(trusted_advisor_event(leak.key_id, leak.user, HOME)),
        Source.SCANNER: json.dumps(scanner),
    }


class Jitter:
    """A pause of up to 2 ms before each AWS call, drawn from the calling worker's own seeded
    generator: different rounds ask for different interleavings."""

    def __init__(self) -> None:
        self.generators: dict[int, random.Random] = {}

    def seed(self, seed: int) -> None:
        self.generators[threading.get_ident()] = random.Random(seed)

    def __call__(self) -> None:
        rng = self.generators.get(threading.get_ident())
        if rng is not None:
            time.sleep(rng.random() * 0.002)


@pytest.fixture(scope="module")
def containers(chaos_stack: ChaosStack) -> list[Responder]:
    """Warm containers, one per worker, built once by the real wiring."""
    built = []
    for _ in range(MAX_WORKERS):
        responder = build_responder(Settings.from_env())
        # The domain's patient writes wait 0.25-2 s between tries; a fiftieth of that here.
        responder.deps = replace(responder.deps, pause=lambda s: time.sleep(s / 50))
        built.append(responder)
    return built


def run_wave(work: list[tuple[Responder, Delivery]], jitter: Jitter, seed: int) -> list[Delivery]:
    """Every (container, delivery) at once; the messages that were not acknowledged."""
    # Receive counts move in the order SQS hands the copies out, before anyone starts.
    events = [delivery.next_event() for _, delivery in work]
    context: Any = lambda_context()
    barrier = threading.Barrier(len(work))
    failed: list[Delivery] = []
    lock = threading.Lock()

    def worker(index: int, responder: Responder, delivery: Delivery) -> None:
        jitter.seed(seed * 100 + index)
        barrier.wait()
        try:
            result = responder.handle_batch(events[index], context)
            ok = not result["batchItemFailures"]
        except Exception as exc:  # the whole invocation failed: SQS redelivers the batch
            delivery.errors.append(f"{type(exc).__name__}: {exc}")
            ok = False
        if not ok:
            with lock:
                if all(d is not delivery for d in failed):
                    failed.append(delivery)

    threads = [
        threading.Thread(target=worker, args=(i, r, d), name=f"worker-{i}")
        for i, (r, d) in enumerate(work)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return failed


def first_wave(round_: Round, leak: Leak, queue_arn: str) -> list[Delivery]:
    """What each worker receives first. The Health message goes to two workers at once (one
    message, one MessageId, received twice: SQS delivers at least once); the Trusted Advisor and
    scanner messages to one each; every other worker gets a message of its own carrying one of
    the three bodies again (EventBridge delivers at least once too, and sources repeat
    themselves), chosen by the seed. No message is held by more than two workers at once: its
    receive count would otherwise climb past what SQS's visibility timeout allows in one go."""
    rng = random.Random(round_.seed)
    by_source = bodies(leak)
    health, advisor, scanner = (
        Delivery.of(by_source[source], queue_arn)
        for source in (Source.HEALTH, Source.TRUSTEDADVISOR, Source.SCANNER)
    )
    picks = [health, health, advisor, scanner]
    while len(picks) < round_.workers:
        body = by_source[rng.choice(sorted(by_source))]
        picks.append(Delivery.of(body, queue_arn))
    rng.shuffle(picks)
    return picks


@pytest.mark.parametrize("round_", ROUNDS, ids=[r.id for r in ROUNDS])
def test_workers_racing_on_one_key(
    round_: Round,
    chaos_stack: ChaosStack,
    containers: list[Responder],
    shifted_clock: ShiftedClock,
    slack_waits: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh_case(chaos_stack)
    leak = new_leak(chaos_stack, "race")
    jitter = Jitter()
    aws = SerialisedAws(monkeypatch, jitter)
    pending = first_wave(round_, leak, chaos_stack.queue_arn)
    received = len(pending)

    wave = 0
    while pending:
        failed = run_wave(list(zip(containers, pending, strict=False)), jitter, round_.seed + wave)
        wave += 1
        # A message that failed is visible again after the visibility timeout, once, however
        # many workers held it; on its last receive the handler dead-letters it instead.
        pending = [d for d in failed if d.receives < MAX_RECEIVE_COUNT]
        received += len(pending)
        shifted_clock.advance(VISIBILITY_TIMEOUT)

    state = end_state(chaos_stack, leak)
    assert state.problems(leak, aws.created) == []
    assert aws.labels.count("iam:CreateAccessKey") == 1, "one replacement, created once"
    assert one_incident_for(chaos_stack, leak)
    incident = state.incident
    assert incident is not None
    assert {s.source for s in incident.sightings} == {
        Source.HEALTH,
        Source.TRUSTEDADVISOR,
        Source.SCANNER,
    }
    # Each delivery counts its sighting once, when it reaches the record (one that lost every
    # race for the record before that is redelivered and counts then).
    assert len(incident.sightings) == 3
    assert 3 <= incident.sighting_count <= received
    assert incident.status.value == "contained"


def one_incident_for(stack: ChaosStack, leak: Leak) -> bool:
    items = stack.client("dynamodb").scan(
        TableName=stack.table,
        FilterExpression="key_id = :k",
        ExpressionAttributeValues={":k": {"S": leak.key_id}},
    )["Items"]
    return len(items) == 1
