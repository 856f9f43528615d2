"""The chaos tier's harness: the real responder handler on template.yaml's resources in moto, Slack
configured against the stand-in, AWS calls recorded (and faulted) where botocore hands our
adapters their answer, SQS redelivery with the queue's visibility timeout, and the end state of
an incident checked against what containment promises.

Nothing here is autouse: the fuzz tests that share this folder opt in by fixture name.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import botocore.session
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.client import BaseClient
from botocore.loaders import create_loader
from moto import mock_aws

from leak_responder.adapters.aws.incidents import from_item
from leak_responder.adapters.clock import UtcClock
from leak_responder.domain.model import Incident
from leak_responder.settings import Settings
from leak_sandbox.provisioner import provision
from leak_sandbox.slack_standin import SlackStandIn, dm_channel_for
from leak_sandbox.testkit.fakes import fake_secret
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_record
from leak_sandbox.testkit.world import OWNER_SLACK, TEAM
from tests.handlers import load_handler

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
HOME = "123456789012"  # moto's default account
SECURITY = "C0SECURITY1"
BOT_TOKEN_SECRET = "slack/bot-token"
VISIBILITY_TIMEOUT = timedelta(seconds=360)  # LeakQueue's, template.yaml
MAX_RECEIVE_COUNT = 5  # template.yaml's Queue/Leaks/MaxReceiveCount


@dataclass
class ChaosStack:
    """template.yaml's resources in moto (one per test module), and the Slack stand-in."""

    table: str
    queue_arn: str
    dlq_url: str
    env: dict[str, str]
    standin: SlackStandIn

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


@contextlib.contextmanager
def chaos_stack_context() -> Iterator[ChaosStack]:
    """The stack, in moto (``mock_aws``) and the process environment, for as long as it is open."""
    with pytest.MonkeyPatch.context() as mp, mock_aws(), SlackStandIn(team_id=TEAM) as standin:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "SLACK_SIGNING_SECRET_SECRET"):
            mp.delenv(name, raising=False)
        # Each case builds its responder afresh (a cold container: new boto3 session, new
        # clients), but botocore's service models, read-only JSON, are read once per process.
        loaders: dict[Any, Any] = {}

        def shared_loader(*args: Any, **kwargs: Any) -> Any:
            key = (args, tuple(sorted(kwargs.items())))
            if key not in loaders:
                loaders[key] = create_loader(*args, **kwargs)
            return loaders[key]

        mp.setattr(botocore.session, "create_loader", shared_loader)
        provisioned = provision(
            ROOT / "template.yaml",
            boto3.session.Session(region_name=REGION),
            stack_name=f"chaos-{uuid.uuid4().hex[:8]}",
        )
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=BOT_TOKEN_SECRET, SecretString="xoxb-" + fake_secret()
        )
        env = {
            name: value
            for name, value in provisioned.functions["ResponderFunction"].environment.items()
            if not name.startswith("SLACK_")
        }
        env.update(
            AWS_REGION=REGION,
            POWERTOOLS_METRICS_NAMESPACE="LeakResponderChaos",
            POWERTOOLS_LOG_LEVEL="CRITICAL",
            SLACK_BOT_TOKEN_SECRET=BOT_TOKEN_SECRET,
            SLACK_API_URL=standin.api_url,
            SLACK_SECURITY_CHANNEL=SECURITY,
            SLACK_TEAM_ID=TEAM,
        )
        for name, value in env.items():
            mp.setenv(name, value)
        yield ChaosStack(
            table=provisioned.name("IncidentsTable"),
            queue_arn=provisioned.arn("LeakQueue"),
            dlq_url=provisioned.url("LeakDLQ"),
            env=env,
            standin=standin,
        )


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[ChaosStack]:
    with chaos_stack_context() as stack:
        yield stack


# ------------------------------------------------------------------------- time and waits


class ShiftedClock:
    """Moves the handler's UtcClock forward, as the time SQS waits before a redelivery passes;
    the domain reads leases through it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


@pytest.fixture
def shifted_clock(monkeypatch: pytest.MonkeyPatch) -> ShiftedClock:
    clock = ShiftedClock()
    monkeypatch.setattr(UtcClock, "now", lambda self: clock.now())
    return clock


@pytest.fixture
def slack_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What slack_sdk's retry handlers asked to sleep (Retry-After, back-off), instead of
    sleeping: the retry still happens, the test does not wait for it."""
    import slack_sdk.http_retry.builtin_handlers as builtin
    import slack_sdk.http_retry.handler as handler

    waits: list[float] = []
    fake_time = SimpleNamespace(sleep=waits.append)
    monkeypatch.setattr(builtin, "time", fake_time)
    monkeypatch.setattr(handler, "time", fake_time)
    return waits


# --------------------------------------------------------------------------- AWS calls


def label(client: BaseClient, operation: str) -> str:
    return f"{client.meta.service_model.signing_name}:{operation}"


class AwsCalls:
    """Every botocore call in the process passes ``BaseClient._make_api_call`` (tests/aws_calls.py),
    above botocore's own retries: an error raised here is what reaches our adapters after those
    retries are spent. Calls are recorded only while ``recording`` is set (the handler runs), so
    the test's own set-up and checks are neither counted nor faulted.

    ``around`` (when set) replaces the call: it gets the position, the label, and a callable that
    makes the real call, and decides what the adapter sees.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.original: Callable[[BaseClient, str, Any], Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
        self.sequence: list[str] = []
        self.recording = False
        self.created: dict[str, str] = {}  # CreateAccessKey answers seen: key ID -> its secret
        self.around: Callable[[int, str, BaseClient, str, Any, Callable[[], Any]], Any] | None = (
            None
        )
        calls = self

        def call(client: BaseClient, operation: str, params: Any) -> Any:
            if not calls.recording:
                return calls.original(client, operation, params)
            position = len(calls.sequence)
            name = label(client, operation)
            calls.sequence.append(name)

            def through() -> Any:
                answer = calls.original(client, operation, params)
                if name == "iam:CreateAccessKey":
                    key = answer["AccessKey"]
                    calls.created[key["AccessKeyId"]] = key["SecretAccessKey"]
                return answer

            if calls.around is None:
                return through()
            return calls.around(position, name, client, operation, params, through)

        monkeypatch.setattr(BaseClient, "_make_api_call", call)


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    return AwsCalls(monkeypatch)


# ------------------------------------------------------------------------------ one case

_users = itertools.count(1)


@dataclass
class Leak:
    """One IAM user with a leaked key, tagged with the owner's Slack ID."""

    user: str
    key_id: str


def new_leak(stack: ChaosStack, prefix: str = "u") -> Leak:
    iam = stack.client("iam")
    user = f"{prefix}{next(_users):04d}-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user, Tags=[{"Key": "slack-user-id", "Value": OWNER_SLACK}])
    key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return Leak(user, key_id)


def fresh_case(stack: ChaosStack) -> None:
    """What one case must not inherit from the one before: Slack's record, queued dead letters,
    cached secrets."""
    stack.standin.reset()
    sqs = stack.client("sqs")
    for message in dead_letters(stack):  # PurgeQueue is allowed once a minute only
        sqs.delete_message(QueueUrl=stack.dlq_url, ReceiptHandle=message["ReceiptHandle"])
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def responder_module() -> ModuleType:
    """The real handler (functions/responder/app.py), its responder rebuilt from this
    environment."""
    module = load_handler("responder")
    module.responder_for.cache_clear()
    return module


def no_pause(waits: list[float]) -> Callable[[float], None]:
    return waits.append


def quiet_waits(module: ModuleType, waits: list[float]) -> None:
    """The domain's patient writes (``record_done_outside``) wait 0.25-2 s between tries; the
    waits are recorded instead of slept, so a throttled write is retried at once."""
    responder = module.responder_for(Settings.from_env())
    responder.deps = replace(responder.deps, pause=no_pause(waits))


@dataclass
class Delivery:
    """One SQS message and its deliveries: the same MessageId and SentTimestamp each time, the
    receive count going up, as SQS redelivers after the visibility timeout."""

    record: dict[str, Any]
    receives: int = 0
    acknowledged: bool = False
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, body: str, queue_arn: str) -> Delivery:
        return cls(sqs_record(body, queue_arn))

    def next_event(self) -> dict[str, Any]:
        self.receives += 1
        record = json.loads(json.dumps(self.record))
        record["attributes"]["ApproximateReceiveCount"] = str(self.receives)
        return {"Records": [record]}


def invoke(module: ModuleType, delivery: Delivery, calls: AwsCalls | None = None) -> bool:
    """One delivery through the handler; True when the message is acknowledged (deleted)."""
    event = delivery.next_event()
    if calls is not None:
        calls.recording = True
    try:
        result = module.lambda_handler(event, lambda_context())
    except Exception as exc:  # the whole invocation failed: SQS redelivers the batch
        delivery.errors.append(f"{type(exc).__name__}: {exc}")
        return False
    finally:
        if calls is not None:
            calls.recording = False
    delivery.acknowledged = not result["batchItemFailures"]
    return delivery.acknowledged


def deliver_until_done(
    module: ModuleType, delivery: Delivery, clock: ShiftedClock, calls: AwsCalls | None = None
) -> None:
    """Deliver, and redeliver after the visibility timeout, until the message is acknowledged or
    has had its last receive (the handler dead-letters it then)."""
    while not invoke(module, delivery, calls) and delivery.receives < MAX_RECEIVE_COUNT:
        clock.advance(VISIBILITY_TIMEOUT)


# ---------------------------------------------------------------------------- the end state


@dataclass
class EndState:
    leaked_status: str | None
    active_keys: list[str]
    incident: Incident | None
    stored_secret: dict[str, str] | None
    dms: int
    security_copies: int
    dead_letters: list[dict[str, Any]]

    def problems(self, leak: Leak, created: dict[str, str]) -> list[str]:
        """What differs from a contained incident: [] when the case ended exactly right."""
        found: list[str] = []
        if self.leaked_status != "Inactive":
            found.append(f"leaked key is {self.leaked_status}")
        new_key = self.incident.new_key_id if self.incident else None
        if new_key is None:
            found.append("no replacement recorded on the incident")
        if self.active_keys != ([new_key] if new_key else []):
            found.append(f"active keys {self.active_keys} != [recorded replacement {new_key}]")
        if new_key:
            secret = self.stored_secret or {}
            if secret.get("AccessKeyId") != new_key:
                found.append("the stored secret is not the replacement's")
            elif new_key not in created or secret.get("SecretAccessKey") != created[new_key]:
                found.append("the stored secret key is not the one IAM answered with")
        if self.dms != 1:
            found.append(f"{self.dms} DMs")
        if self.security_copies != 1:
            found.append(f"{self.security_copies} security-channel copies")
        if self.dead_letters:
            reasons = [m.get("MessageAttributes", {}).get("reason") for m in self.dead_letters]
            found.append(f"{len(self.dead_letters)} dead letters: {reasons}")
        return found


def dead_letters(stack: ChaosStack) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=stack.dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        ).get("Messages", [])
        new = [m for m in got if m["MessageId"] not in {o["MessageId"] for o in out}]
        if not new:
            return out
        out.extend(new)


def end_state(stack: ChaosStack, leak: Leak) -> EndState:
    iam = stack.client("iam")
    keys = iam.list_access_keys(UserName=leak.user)["AccessKeyMetadata"]
    status = {k["AccessKeyId"]: k["Status"] for k in keys}
    item = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.table,
            Key={"pk": {"S": f"{HOME}#{leak.key_id}"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    incident = from_item(item) if item else None
    secret = None
    if incident and incident.secret_name:
        value = stack.client("secretsmanager").get_secret_value(SecretId=incident.secret_name)
        secret = json.loads(value["SecretString"])
    posts = stack.standin.calls("chat.postMessage")
    return EndState(
        leaked_status=status.get(leak.key_id),
        active_keys=sorted(k for k, s in status.items() if s == "Active"),
        incident=incident,
        stored_secret=secret,
        dms=sum(1 for p in posts if p["params"]["channel"] == dm_channel_for(OWNER_SLACK)),
        security_copies=sum(1 for p in posts if p["params"]["channel"] == SECURITY),
        dead_letters=dead_letters(stack),
    )


class SerialisedAws:
    """Each AWS request atomic, as the real services are per request: moto's backends hold no
    lock of their own (a conditional PutItem checks, then writes, in two Python steps), so two
    threads could both pass one condition, which DynamoDB never allows. The lock is held for one
    request only; between requests the threads interleave freely, and ``jitter`` (called before
    each request, outside the lock) varies how.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, jitter: Callable[[], None]) -> None:
        self.lock = threading.Lock()
        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        self.labels: list[str] = []
        self.created: dict[str, str] = {}  # CreateAccessKey answers: key ID -> its secret
        serialised = self

        def call(client: BaseClient, operation: str, params: Any) -> Any:
            jitter()
            name = label(client, operation)
            with serialised.lock:
                serialised.labels.append(name)
                answer = original(client, operation, params)
                if name == "iam:CreateAccessKey":
                    key = answer["AccessKey"]
                    serialised.created[key["AccessKeyId"]] = key["SecretAccessKey"]
                return answer

        monkeypatch.setattr(BaseClient, "_make_api_call", call)
