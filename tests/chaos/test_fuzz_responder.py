"""Property-based fuzz of the responder's record handler: whatever an SQS message holds, it is
handled, or dead-lettered once with a reason, or (below the last receive only) handed back
with a retryable error; and no secret key it carries reaches a log line, the DLQ or a notice.

The handler is the real ``Responder`` on the test kit's in-memory World; its DLQ is the real
adapter (``DeadLetterQueue``: redaction, cutting) over an SQS client that refuses what SQS
refuses (``testkit.sqs``); each body arrives as the SQS event source mapping delivers it
(``testkit.lambda_shapes``); log lines are captured as Powertools writes them
(``testkit.logs``). Hypothesis runs derandomized, without an example database, on a fixed
budget, so every run tries the same messages.
"""

from __future__ import annotations

import copy
import json
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leak_responder.adapters.aws.dlq import DeadLetterQueue
from leak_responder.domain.errors import TransientError
from leak_responder.domain.model import KEY_ID_PATTERN, Incident
from leak_responder.responder import Responder
from leak_sandbox.testkit.events import SampleEvents
from leak_sandbox.testkit.fakes import FakeKey, RecordingNotifier
from leak_sandbox.testkit.lambda_shapes import sqs_record
from leak_sandbox.testkit.logs import captured_logs
from leak_sandbox.testkit.sqs import RecordingSqsClient
from leak_sandbox.testkit.world import World

HOME = "123456789012"  # the account the sample events name
LEAK_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-LeakQueue"
SCANNER_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-ScannerQueue"
DLQ_URL = f"https://sqs.us-east-1.amazonaws.com/{HOME}/leak-responder-LeakDLQ"
MAX_RECEIVES = 5  # template.yaml's Queue/Leaks/MaxReceiveCount
RECEIVE_COUNTS = (1, 2, MAX_RECEIVES - 1, MAX_RECEIVES)

SAMPLES = SampleEvents.find(Path(__file__).resolve().parent)
NAMES = SAMPLES.names()
SCANNER_SAMPLE = "scanner_v1"

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------------------ secrets

_B64 = string.ascii_letters + string.digits + "+/"

# A secret key: 40 characters of its alphabet. Each one has a "/" (as about half of real ones
# do), so none is also a valid IAM user or role name, which the responder logs by design.
secret_keys = st.tuples(
    st.text(alphabet=_B64, min_size=39, max_size=39), st.integers(min_value=0, max_value=39)
).map(lambda parts: parts[0][: parts[1]] + "/" + parts[0][parts[1] :])

# Ways a secret is written where a field's value goes: alone, in a URL's userinfo (with its
# "/"), after its name in a config line, quoted in prose.
placements: st.SearchStrategy[Callable[[str], str]] = st.sampled_from(
    [
        lambda s: s,
        lambda s: f"https://ci:{s}@git.example.com/org/repo.git",
        lambda s: f"aws_secret_access_key={s}",
        lambda s: f"the key {s} was found",
        lambda s: f"https://{s}@github.com/org/repo",
    ]
)

# ---------------------------------------------------------------------- JSON tree editing

Path_ = tuple[str | int, ...]


def tree_paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every subtree and leaf under ``node``, by the keys and indexes that reach it."""
    items: list[tuple[str | int, Any]] = []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    for key, child in items:
        yield (*prefix, key)
        yield from tree_paths(child, (*prefix, key))


def replaced(document: Any, path: Path_, value: Any) -> Any:
    changed = copy.deepcopy(document)
    if not path:
        return value
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return changed


def removed(document: Any, path: Path_) -> Any:
    changed = copy.deepcopy(document)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return changed


def key_id_paths(node: Any) -> list[Path_]:
    return [
        path
        for path in tree_paths(node)
        if isinstance(value_at(node, path), str) and KEY_ID_PATTERN.fullmatch(value_at(node, path))
    ]


def value_at(node: Any, path: Path_) -> Any:
    for key in path:
        node = node[key]
    return node


SAMPLE_KEYS = sorted(
    {value_at(doc, p) for doc in (SAMPLES.load(n) for n in NAMES) for p in key_id_paths(doc)}
)

# Values of the wrong kind for any field: nothing, numbers, containers, long text.
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    st.text(max_size=40),
    st.sampled_from([1_000, 70_000]).map(lambda n: "é" * n),
    st.just(""),
)

# Key IDs that are almost right.
bad_key_ids = st.one_of(
    st.sampled_from(
        [
            "akiaq7zsleaktest0001",
            "AKIA",
            "AKIAQ7ZSLEAKTEST000",
            "AKIAQ7ZSLEAKTEST00011",
            "AKIAQ7ZSLEAKTEST000\n",
            " AKIAQ7ZSLEAKTEST0001",  # pragma: allowlist secret
            "AKIA" + "\u0661" * 16,
            "AKIAQ7ZSLEAKTEST00-1",
            "ABIAQ7ZSLEAKTEST0001",
            "AKIA" + "Q" * 200,
        ]
    ),
    st.text(max_size=24),
    secret_keys,
)

# --------------------------------------------------------------------------- the harness


@dataclass
class Message:
    kind: str
    body: str
    receive_count: int = 1
    queue_arn: str = LEAK_QUEUE
    secrets: tuple[str, ...] = ()
    notifier_fails: bool = False
    transient_iam: bool = False


EVIDENCE_GAP = "secret kept in evidence"
NORMALISER_CRASH = "dead-lettered after a normaliser crash"


@dataclass
class Tally:
    """What became of each message fuzzed."""

    outcomes: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def exactly_right(self) -> int:
        return self.total - self.outcomes[EVIDENCE_GAP] - self.outcomes[NORMALISER_CRASH]

    def summary(self) -> str:
        return (
            f"{self.total} messages fuzzed, {self.exactly_right} ended exactly right "
            f"({dict(self.outcomes)}); by kind {dict(self.kinds)}"
        )


def stage(message: Message) -> tuple[Responder, World, RecordingSqsClient]:
    """A fresh world: every key the samples name belongs to a user of the home account."""
    world = World(
        home_account_id=HOME, notifier=RecordingNotifier(fail_times=int(message.notifier_fails))
    )
    for number, key in enumerate(SAMPLE_KEYS):
        user = world.home.add_user(f"owner-{number}", {"slack-user-id": f"U0OWNER{number:03d}"})
        user.keys[key] = FakeKey(key, "Active", world.clock.now())
    world.clock.advance(minutes=5)
    if message.transient_iam:

        def throttled(user_name: str, key_id: str) -> None:
            raise TransientError("iam:UpdateAccessKey: Throttling")

        world.home.deactivate = throttled  # type: ignore[method-assign]
    sqs = RecordingSqsClient()
    responder = Responder(
        world.deps(),
        DeadLetterQueue(sqs, DLQ_URL),
        MAX_RECEIVES,
        scanner_queue_arn=SCANNER_QUEUE,
    )
    return responder, world, sqs


def deliver(message: Message, tally: Tally) -> None:
    """One message through the real record handler, and every invariant checked."""
    responder, world, sqs = stage(message)
    record = SQSRecord(sqs_record(message.body, message.queue_arn, message.receive_count))
    raised: Exception | None = None
    with captured_logs() as logs:
        try:
            responder.handle_record(record)
        except Exception as exc:  # judged below: only a retryable error may escape
            raised = exc
    last = message.receive_count >= MAX_RECEIVES
    what = f"{message.kind} at receive {message.receive_count}"

    assert sqs.refused == [], f"{what}: SQS refused the dead letter ({sqs.refused})"
    if raised is not None:
        assert isinstance(raised, TransientError), f"{what}: {raised!r} escaped"
        assert not last, f"{what}: {raised!r} escaped on the last receive"
        assert sqs.sent == [], f"{what}: dead-lettered and retried"
        outcome = "retried"
    else:
        assert len(sqs.sent) <= 1, f"{what}: dead-lettered {len(sqs.sent)} times"
        outcome = "dead-lettered" if sqs.sent else "handled"
    for sent in sqs.sent:
        assert sent.reason and sent.reason.strip(), f"{what}: dead-lettered without a reason"

    lines = logs.text()
    gap = False
    for secret in message.secrets:
        assert secret not in lines, f"{what}: a secret in a log line"
        for sent in sqs.sent:
            assert secret not in (sent.reason or ""), f"{what}: a secret in the DLQ reason"
            assert secret not in sent.body, f"{what}: a secret in the DLQ body"
        for incident in world.notifier.sent:
            if secret in repr(incident):
                # Known gap (see test_a_secret_in_evidence_never_reaches_the_notice): evidence
                # text is kept as the source wrote it. Anywhere else in a notice is a failure.
                assert secret not in repr(without_evidence(incident)), f"{what}: secret in a notice"
                gap = True
    if outcome == "dead-lettered" and (sqs.sent[0].reason or "").startswith("not read: "):
        # The responder did right (at once, with a reason), but a normaliser crashed on the
        # message instead of rejecting it: a finding for that normaliser.
        outcome = NORMALISER_CRASH
    tally.outcomes[EVIDENCE_GAP if gap else outcome] += 1
    tally.kinds[message.kind] += 1


def without_evidence(incident: Incident) -> Incident:
    return replace(incident, sightings=tuple(replace(s, evidence={}) for s in incident.sightings))


@pytest.fixture
def tally(record_property: Callable[[str, object], None]) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    record_property("messages_fuzzed", counts.total)
    record_property("exactly_right", counts.exactly_right)
    record_property("outcomes", dict(counts.outcomes))
    print(counts.summary())  # shown with -s or -rP: the counts a report quotes


receive_counts = st.sampled_from(RECEIVE_COUNTS)
queues = st.sampled_from([LEAK_QUEUE, LEAK_QUEUE, SCANNER_QUEUE])

# ------------------------------------------------------------------------ sample mutations


MUTATIONS = ("wrong type", "wrong type", "removed field", "added field", "secret")


@st.composite
def mutated_samples(draw: st.DrawFn) -> Message:
    """A sample event with up to three edits: a subtree or leaf replaced by a value of the
    wrong kind or by a secret, a field removed, a field added."""
    document = SAMPLES.load(draw(st.sampled_from(NAMES)))
    secrets: list[str] = []
    edits: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        paths = list(tree_paths(document))
        if not paths:
            break
        edit = draw(st.sampled_from(MUTATIONS))
        edits.append(edit)
        if edit == "removed field":
            document = removed(document, draw(st.sampled_from(paths)))
        elif edit == "added field":
            parents = [()] + [p for p in paths if isinstance(value_at(document, p), dict)]
            parent = draw(st.sampled_from(parents))
            document = replaced(document, (*parent, draw(st.text(max_size=12))), draw(wrong_values))
        elif edit == "secret":
            secret = draw(secret_keys)
            secrets.append(secret)
            document = replaced(document, draw(st.sampled_from(paths)), draw(placements)(secret))
        else:
            document = replaced(document, draw(st.sampled_from(paths)), draw(wrong_values))
    return Message(
        "sample, " + (" + ".join(sorted(set(edits))) or "as it is"),
        json.dumps(document),
        draw(receive_counts),
        draw(queues),
        tuple(secrets),
        notifier_fails=draw(st.booleans()),
        transient_iam=draw(st.integers(0, 9)) == 0,
    )


def test_mutations_of_every_sample_event(tally: Tally) -> None:
    @FUZZ
    @given(mutated_samples())
    def run(message: Message) -> None:
        deliver(message, tally)

    run()
    assert tally.total >= 100


def test_every_sample_as_it_is_and_wrapped_in_sns(tally: Tally) -> None:
    # Every sample at every receive count, from either queue; then inside an SNS notification,
    # which no source sends this queue: always dead-lettered.
    for name in NAMES:
        event = SAMPLES.load(name)
        sns = {
            "Type": "Notification",
            "MessageId": "5f0e2a9c-1111-2222-3333-444455556666",
            "TopicArn": f"arn:aws:sns:us-east-1:{HOME}:leak-alerts",
            "Message": json.dumps(event),
            "Timestamp": "2026-11-28T09:14:03.000Z",
            "SignatureVersion": "1",
        }
        for count in RECEIVE_COUNTS:
            for queue in (LEAK_QUEUE, SCANNER_QUEUE):
                deliver(Message("sample", json.dumps(event), count, queue), tally)
            before = tally.outcomes["dead-lettered"]
            deliver(Message("SNS envelope", json.dumps(sns), count), tally)
            assert tally.outcomes["dead-lettered"] == before + 1


@st.composite
def samples_with_bad_key_ids(draw: st.DrawFn) -> Message:
    name = draw(st.sampled_from([n for n in NAMES if key_id_paths(SAMPLES.load(n))]))
    document = SAMPLES.load(name)
    bad = draw(bad_key_ids)
    for path in draw(st.lists(st.sampled_from(key_id_paths(document)), min_size=1, unique=True)):
        document = replaced(document, path, bad)
    secrets = (bad,) if len(bad) == 40 and "/" in bad else ()
    return Message("bad key id", json.dumps(document), draw(receive_counts), LEAK_QUEUE, secrets)


def test_bad_key_ids(tally: Tally) -> None:
    @FUZZ
    @given(samples_with_bad_key_ids())
    def run(message: Message) -> None:
        deliver(message, tally)

    run()
    assert tally.total >= 100


# --------------------------------------------------------------- scanner messages and secrets


@st.composite
def scanner_messages_with_secrets(draw: st.DrawFn) -> Message:
    document = SAMPLES.load(SCANNER_SAMPLE)
    secrets = draw(st.lists(secret_keys, min_size=1, max_size=3, unique=True))
    for secret in secrets:
        where = draw(
            st.sampled_from(["existing field", "new field", "new nested field", "field name"])
        )
        value = draw(placements)(secret)
        if where == "existing field":
            document = replaced(document, draw(st.sampled_from(list(tree_paths(document)))), value)
        elif where == "new field":
            document[draw(st.sampled_from(["note", "secret_access_key", "extra", "Token"]))] = value
        elif where == "new nested field":
            location = document.get("location")
            target = location if isinstance(location, dict) else document
            target[draw(st.sampled_from(["detail", "password", "snippet"]))] = value
        else:
            document[secret] = draw(wrong_values)
    return Message(
        "scanner message with a secret",
        json.dumps(document),
        draw(receive_counts),
        draw(st.sampled_from([LEAK_QUEUE, SCANNER_QUEUE])),
        tuple(secrets),
        notifier_fails=draw(st.booleans()),
    )


def test_scanner_messages_carrying_secrets(tally: Tally) -> None:
    @FUZZ
    @given(scanner_messages_with_secrets())
    def run(message: Message) -> None:
        deliver(message, tally)

    run()
    assert tally.total >= 100


@pytest.mark.parametrize("field_name", ["schema", "source", "detail-type"])
def test_a_secret_as_the_field_a_reason_quotes(field_name: str, tally: Tally) -> None:
    @settings(FUZZ, max_examples=30)
    @given(secret_keys, placements, st.sampled_from(NAMES), receive_counts)
    def run(secret: str, place: Callable[[str], str], name: str, count: int) -> None:
        document = {**SAMPLES.load(name), field_name: place(secret)}
        deliver(
            Message(f"secret as {field_name}", json.dumps(document), count, LEAK_QUEUE, (secret,)),
            tally,
        )

    run()


# ----------------------------------------------------------------------------- raw bodies


@st.composite
def raw_bodies(draw: st.DrawFn) -> Message:
    how = draw(st.sampled_from(["bytes", "latin-1", "text", "json scalar", "json array"]))
    if how == "bytes":
        body = draw(st.binary(max_size=300)).decode("utf-8", errors="replace")
        kind = "random bytes (invalid UTF-8 replaced)"
    elif how == "latin-1":
        body = draw(st.binary(max_size=300)).decode("latin-1")
        kind = "random bytes read as Latin-1"
    elif how == "text":
        body = draw(st.text(max_size=300))
        kind = "random text"
    elif how == "json scalar":
        body = json.dumps(draw(wrong_values))
        kind = "JSON scalar"
    else:
        body = json.dumps(draw(st.lists(wrong_values, max_size=4)))
        kind = "JSON array"
    return Message(kind, body, draw(receive_counts), draw(queues))


def test_raw_bodies(tally: Tally) -> None:
    @FUZZ
    @given(raw_bodies())
    def run(message: Message) -> None:
        deliver(message, tally)
        # Nothing here is a message the responder can read: each is dead-lettered.
        assert tally.outcomes["handled"] == 0

    run()
    assert tally.total >= 100


def deep_body(shape: str, depth: int) -> str:
    if shape == "arrays":
        return "[" * depth + "]" * depth
    if shape == "objects":
        return '{"a":' * depth + "1" + "}" * depth
    if shape == "unbalanced":
        return "[" * depth
    # A valid event with a deeply nested extra field.
    nested = '{"a":' * depth + '"x"' + "}" * depth
    return json.dumps(SAMPLES.load("health_credentials_exposed"))[:-1] + f', "extra": {nested}}}'


def test_deeply_nested_bodies(tally: Tally) -> None:
    for shape in ("arrays", "objects", "unbalanced", "inside an event"):
        for depth in (500, 990, 5_000, 10_000):
            body = deep_body(shape, depth)
            before = Counter(tally.outcomes)
            for count in RECEIVE_COUNTS:
                deliver(Message(f"nested {depth} deep ({shape})", body, count), tally)
            added = tally.outcomes - before
            # Never retried: a body too deep to read is dead-lettered on its first receive;
            # a valid event with a deep extra field the decoder can read is acted on.
            assert added["retried"] == 0
            if shape != "inside an event":
                assert added["dead-lettered"] == len(RECEIVE_COUNTS)


SIZE = 256 * 1024


def large_body(kind: str) -> str:
    if kind == "a long field":
        return json.dumps({**SAMPLES.load("scanner_v1"), "note": "a" * (SIZE - 1000)})
    if kind == "a long non-ASCII field":
        event = SAMPLES.load("health_credentials_exposed")
        event["detail"]["note"] = "é" * (SIZE // 2 - 1000)
        return json.dumps(event, ensure_ascii=False)
    if kind == "many fields, cut":
        event = SAMPLES.load("health_credentials_exposed")
        event["detail"].update({f"k{i}": i for i in range(SIZE // 14)})
        return json.dumps(event)[:SIZE]
    if kind == "secret-shaped runs":
        return ("x/" * 20 + " ") * (SIZE // 41)
    return "{" * SIZE


def test_256_kb_bodies(tally: Tally) -> None:
    for kind in (
        "a long field",
        "a long non-ASCII field",
        "many fields, cut",
        "secret-shaped runs",
        "brackets",
    ):
        body = large_body(kind)
        assert len(body.encode()) >= SIZE - 1000
        for count in RECEIVE_COUNTS:
            deliver(Message(f"256 KB: {kind}", body, count), tally)


# Found by this fuzz: clip made URLs safe but kept secret-shaped text in evidence.
def test_a_secret_in_evidence_never_reaches_the_notice(tally: Tally) -> None:
    # A scanner that reports the secret as the file's path (a bug), or an event whose finding
    # id or URL holds one: the evidence goes into the incident, the notice and Slack.
    secret = "wJa1/" * 8
    document = SAMPLES.load(SCANNER_SAMPLE)
    document["location"]["path"] = secret
    deliver(Message("secret as evidence", json.dumps(document), secrets=(secret,)), tally)
    assert tally.outcomes[EVIDENCE_GAP] == 0
