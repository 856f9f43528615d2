"""Figures 7 and 8: the responder at AWS's latency and IAM's write rate (bench/aws_model.py).

- **Figure 7, a batch of distinct keys.** One SQS event of ``batch_keys`` Health events, each
  naming a different user's key, through the real handler; the time from the invocation to the
  last key Inactive, beside ``batch_keys`` UpdateAccessKey calls in a row from one client of the
  same model (in the same run, on other users' keys). Median of ``batch_rounds`` rounds.
- **Figure 8, a storm.** ``keys`` Health events, one per key, wait in the stack's LeakQueue;
  ``workers`` threads for each SQS event source of ResponderFunction in template.yaml each run
  the real handler the way Lambda's event source mapping runs one instance of it: receive up to
  10 messages, build the Lambda SQS event, invoke, delete the records not in
  ``batchItemFailures``, leave the others. All of them share one account's IAM write budget.
  Reported: the time until every key is Inactive beside ``keys``/R, the time until every key is
  replaced and its owner notified beside the time every IAM write of the storm takes at R, the
  calls per key, and what must be zero: keys left Active, messages lost, keys with more than one
  replacement, messages in the DLQ.

Both run on in-process moto with template.yaml's resources (bench/stack.py) and the Slack
stand-in answering the notices, every client and every Slack call at the model's latency.
``python -m bench.storm_bench [--quick]`` runs these two figures alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import statistics
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from bench import stack as st
from bench.aws_model import (
    DEFAULT_IAM_WRITE_RATE,
    AwsModel,
    ModelConfig,
    ModelFactory,
    ModelUtcClock,
    Timeline,
    is_iam_write,
)
from bench.calls import load_handler
from bench.containment_bench import Report, moto_stack
from bench.table import render, row
from leak_sandbox.lambda_local import LocalContext
from leak_sandbox.slack_standin import SlackStandIn
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event
from leak_sandbox.worker import lambda_sqs_event

SECURITY_CHANNEL = "C0SECURITY1"
TEAM = "T0SANDBOX1"
# The template's visibility timeout (six times the responder's 60 s timeout), in model seconds.
QUEUE_VISIBILITY = 360.0
# An event source mapping long-polls. moto's long poll wakes when a message is sent, and checks
# for messages made visible again (a failed record) once a second: real seconds.
LONG_POLL = 1
_KEY_ID = re.compile(r"AKIA[0-9A-Z]{16}")


@dataclass(frozen=True)
class StormConfig:
    keys: int = 1000  # figure 8: leaked keys, one message each
    workers: int = 10  # figure 8: handler instances at once (the template's MaximumConcurrency)
    iam_write_rate: float = DEFAULT_IAM_WRITE_RATE  # account-wide IAM writes per model second
    scale: float = 0.2  # real seconds per model second
    batch_keys: int = 10  # figure 7
    batch_rounds: int = 5
    retry_after: int = 5  # model s: a failed record is visible again after this
    seed: int = 20261128

    @property
    def timeout(self) -> float:
        """Model seconds the storm may take before it is reported as failed: five times the
        time its IAM writes need at R (five writes per key), plus two minutes."""
        return 5 * self.keys * 5 / self.iam_write_rate + 120


QUICK_STORM = StormConfig(keys=60, workers=5, scale=0.1)


# -- harness --------------------------------------------------------------------------------------
def slack_env(standin: SlackStandIn) -> dict[str, str]:
    """The responder's Slack settings for the stand-in: its API URL (the stand-in needs a token
    to be present, not a real one, so no token secret is read) and the security channel."""
    return {
        "SLACK_API_URL": standin.api_url,
        "SLACK_SECURITY_CHANNEL": SECURITY_CHANNEL,
        "SLACK_TEAM_ID": TEAM,
    }


@contextmanager
def modelled_stack(cfg: StormConfig, standin: SlackStandIn) -> Iterator[st.Stack]:
    with quick_moto_sqs(), moto_stack(cfg.seed, member_role=False) as stack:
        env = {**st.FAKE_CREDENTIALS, **stack.env, **slack_env(standin)}
        with st.patched_env(env):
            yield stack


@contextmanager
def quick_moto_sqs() -> Iterator[None]:
    """moto's SQS, answering the same, in a fraction of its CPU time.

    moto reads its clock through datetime arithmetic once or twice per message per scan, scans
    the whole queue several times for each attribute GetQueueAttributes is asked for, and
    computes every attribute of the queue again for each message ReceiveMessage returns (to
    read the retention period). On a queue of 1,000 messages a receive took 0.4 s of CPU, all of
    it holding the GIL that every modelled call waits for: the bench's cost would leak into the
    model's time. For the figures' duration, the clock is ``time.time()`` (what moto's computes),
    attributes are computed once per call, and the retention period is read directly.
    """
    import moto.sqs.models

    sqs_models: Any = moto.sqs.models  # module attributes are replaced below
    backend: Any = sqs_models.SQSBackend
    saved = (
        sqs_models.unix_time,
        sqs_models.unix_time_millis,
        backend.get_queue_attributes,
        backend.is_message_valid_based_on_retention_period,
    )
    unix_time, unix_time_millis, get_queue_attributes, _ = saved

    def clock(dt: Any = None) -> float:
        return time.time() if dt is None else float(unix_time(dt))

    def clock_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(unix_time_millis(dt))

    def attributes(self: Any, queue_name: str, names: list[str]) -> dict[str, Any]:
        queue = self.get_queue(queue_name)
        valid = {"All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES}
        if not names or "All" in names or any(n not in valid for n in names):
            return dict(get_queue_attributes(self, queue_name, names))  # moto's own answer
        computed = queue.attributes
        return {n: computed[n] for n in names if computed.get(n) is not None}

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        period = float(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > time.time())

    sqs_models.unix_time = clock
    sqs_models.unix_time_millis = clock_millis
    backend.get_queue_attributes = attributes
    backend.is_message_valid_based_on_retention_period = retained
    try:
        yield
    finally:
        sqs_models.unix_time, sqs_models.unix_time_millis = saved[0], saved[1]
        backend.get_queue_attributes = saved[2]
        backend.is_message_valid_based_on_retention_period = saved[3]


class ModelContext(LocalContext):
    """Lambda's context for the responder, its time left counted in model seconds."""

    def __init__(self, model: AwsModel, timeout_s: int) -> None:
        base = lambda_context(timeout_s=timeout_s)
        super().__init__(base.function_name, base.invoked_function_arn, timeout_s)
        self._model = model
        self._model_deadline = model.clock() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._model_deadline - self._model.clock()) * 1000))


@contextmanager
def modelled_handler(model: AwsModel) -> Iterator[tuple[Any, threading.local]]:
    """The real handler module; ``responder_for`` answers each thread's own responder
    (``local.responder``), as each Lambda instance has its own. The urgent call's pacer
    (``adapters.aws.pacing``, whose clock and sleep are module settings for this) waits in model
    time."""
    from leak_responder.adapters.aws import pacing
    from leak_responder.observability import logger

    paced = (pacing.SLEEP, pacing.CLOCK)
    pacing.SLEEP, pacing.CLOCK = model.wait, model.clock
    handler = load_handler()
    local = threading.local()
    original = handler.responder_for
    setattr(handler, "responder_for", lambda _settings: local.responder)  # noqa: B010 (a module)
    output: Any = logger.registered_handler
    stream = output.stream
    with open(os.devnull, "w") as devnull:
        # Log records are formatted, as in Lambda, but not printed; so are metrics, which
        # Powertools prints every 100 values even when they are disabled (and never clears
        # then), and which all the bench's threads share.
        output.setStream(devnull)
        try:
            with redirect_stdout(devnull), warnings.catch_warnings():
                # Powertools warns on every invocation that recorded no metric (a resume).
                warnings.filterwarnings("ignore", "No application metrics to publish")
                yield handler, local
        finally:
            output.setStream(stream)
            setattr(handler, "responder_for", original)  # noqa: B010
            pacing.SLEEP, pacing.CLOCK = paced


def make_users(iam: Any, prefix: str, count: int) -> list[tuple[str, str]]:
    """(user, key ID) for ``count`` users with one key each, tagged with their Slack ID."""
    made = []
    for i in range(count):
        user = f"{prefix}-{i}"
        iam.create_user(UserName=user, Tags=[{"Key": "slack-user-id", "Value": f"U{i:09d}"}])
        made.append((user, str(iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"])))
    return made


def build(model: AwsModel, timeline: Timeline) -> Any:
    """The responder as ``responder_for`` builds it, over the model's clients, on its clock.

    Its clock (leases, claims, recorded times) and its pause between retried writes run in model
    time, like every AWS call: a three-minute lease lasts three model minutes.
    """
    from leak_responder.settings import Settings
    from leak_responder.wiring import build_responder

    responder = build_responder(Settings.from_env(), ModelFactory(model, st.REGION, timeline))
    responder.deps = dataclasses.replace(
        responder.deps, clock=ModelUtcClock(model), pause=model.wait
    )
    return responder


def in_model_time(event: dict[str, Any], model: AwsModel) -> dict[str, Any]:
    """The event with SQS's timestamps (real, from moto) on the model's clock."""
    for record in event["Records"]:
        attributes = record["attributes"]
        for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            if attributes.get(name):
                at = model.utc_of(int(attributes[name]) / 1000)
                attributes[name] = str(int(at.timestamp() * 1000))
    return event


def warm_up(handler: Any, stack: st.Stack, model: AwsModel, user: str, key: str) -> None:
    """One whole incident: every client built, slack_sdk loaded, as in a warm Lambda."""
    result = handler.lambda_handler(
        sqs_event([st.health_body(key, user)], stack.queue_arn), ModelContext(model, stack.timeout)
    )
    if result != {"batchItemFailures": []}:
        raise RuntimeError(f"warm-up invocation failed: {result}")


def model_config(cfg: StormConfig, seed: int) -> ModelConfig:
    return ModelConfig(scale=cfg.scale, iam_write_rate=cfg.iam_write_rate, seed=seed)


# -- figure 7 -------------------------------------------------------------------------------------
def figure_batch(cfg: StormConfig) -> Report:
    model = AwsModel(model_config(cfg, cfg.seed))
    timeline = Timeline(model)
    last, first, whole, floors = [], [], [], []
    with (
        SlackStandIn(team_id=TEAM, latency=model.slack_delay) as standin,
        modelled_stack(cfg, standin) as stack,
        modelled_handler(model) as (handler, local),
    ):
        iam = boto3.client("iam", region_name=st.REGION)  # setup, outside the model
        local.responder = build(model, timeline)
        floor_iam = ModelFactory(model, st.REGION, Timeline(model))("iam")
        (warm_user, warm_key), (floor_user, _) = make_users(iam, "warm", 2)
        warm_up(handler, stack, model, warm_user, warm_key)
        floor_iam.get_user(UserName=floor_user)
        for r in range(cfg.batch_rounds):
            users = make_users(iam, f"batch-{r}", cfg.batch_keys)
            floor_users = make_users(iam, f"floor-{r}", cfg.batch_keys)
            model.wait(2.0)  # the budget refills between rounds: each starts alike
            bodies = [st.health_body(k, u) for u, k in users]
            event = in_model_time(sqs_event(bodies, stack.queue_arn), model)
            start = model.model_time()
            result = handler.lambda_handler(event, ModelContext(model, stack.timeout))
            end = model.model_time()
            inactive = [timeline.inactive_at.get(k) for _, k in users]
            if result != {"batchItemFailures": []} or None in inactive:
                raise RuntimeError(f"figure 7: round {r} did not contain every key: {result}")
            times = [t - start for t in inactive if t is not None]
            last.append(max(times))
            first.append(min(times))
            whole.append(end - start)
            model.wait(2.0)
            start = model.model_time()
            for user, key in floor_users:
                floor_iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
            floors.append(model.model_time() - start)
        throttled = sum(model.throttled.values())
        overrun = _overrun(model)
    h, f = statistics.median(last), statistics.median(floors)
    n = cfg.batch_keys
    report = Report()
    report.rows.append(
        row(
            f"7. modelled AWS: batch of {n} distinct keys, invocation → last key Inactive "
            f"(model s, median of {cfg.batch_rounds})",
            f"{h:.2f}",
            f"{f:.2f} ({n} UpdateAccessKey in a row, one client, same model)",
            h / f,
            "≤ 1.2x",
            h / f <= 1.2,
        )
    )
    report.notes.append(
        f"figure 7: invocation → first key Inactive {statistics.median(first):.2f} model s, "
        f"→ handler returned {statistics.median(whole):.2f} model s (medians); per round, last "
        f"key Inactive: {', '.join(f'{t:.2f}' for t in last)}; floor: "
        f"{', '.join(f'{t:.2f}' for t in floors)}; IAM writes throttled: {throttled}; "
        f"{overrun}"
    )
    return report


# -- figure 8 -------------------------------------------------------------------------------------
class SlackPosts:
    """The Slack stand-in's latency, recording when each chat.postMessage is answered."""

    def __init__(self, model: AwsModel) -> None:
        self.model = model
        self._lock = threading.Lock()
        self.answered: list[float] = []  # model s

    def delay(self, method: str) -> float:
        seconds = self.model.slack_delay(method)
        if method == "chat.postMessage":
            with self._lock:
                self.answered.append(self.model.model_time() + seconds / self.model.scale)
        return seconds

    def reset(self) -> None:
        with self._lock:
            self.answered.clear()


@dataclass
class Worker:
    """One handler instance polling one event source, as Lambda's SQS event source mapping
    runs one: receive up to 10, invoke, delete what succeeded, leave what failed."""

    name: str
    source: st.QueueSource
    responder: Any
    sqs: Any
    busy: bool = False
    invocations: int = 0
    errors: int = 0  # invocations that raised: the whole batch is retried
    failed_records: int = 0  # records in batchItemFailures
    durations: list[float] = field(default_factory=list)  # model s per invocation
    received: Counter[str] = field(default_factory=Counter)  # message ID -> receives


@dataclass
class Storm:
    model: AwsModel
    handler: Any
    local: threading.local
    retry_after: int  # model seconds (the model's SQS client scales it)
    timeout: int  # the function's, model seconds
    stop: threading.Event = field(default_factory=threading.Event)

    def run_worker(self, worker: Worker) -> None:
        self.local.responder = worker.responder
        while not self.stop.is_set():
            answer = worker.sqs.receive_message(
                QueueUrl=worker.source.url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=LONG_POLL,
            )
            messages = answer.get("Messages") or []
            if not messages:
                continue
            worker.busy = True
            try:
                self._invoke(worker, messages)
            finally:
                worker.busy = False

    def _invoke(self, worker: Worker, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            worker.received[message["MessageId"]] += 1
        event = in_model_time(lambda_sqs_event(messages, worker.source.arn, st.REGION), self.model)
        started = self.model.model_time()
        worker.invocations += 1
        try:
            result = self.handler.lambda_handler(event, ModelContext(self.model, self.timeout))
            failed = {str(item["itemIdentifier"]) for item in result["batchItemFailures"]}
        except Exception:  # a function error: Lambda retries the whole batch
            worker.errors += 1
            failed = {m["MessageId"] for m in messages}
        worker.durations.append(self.model.model_time() - started)
        worker.failed_records += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            worker.sqs.delete_message_batch(
                QueueUrl=worker.source.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        retry = [m for m in messages if m["MessageId"] in failed]
        if retry:
            worker.sqs.change_message_visibility_batch(
                QueueUrl=worker.source.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"],
                     "VisibilityTimeout": self.retry_after}
                    for i, m in enumerate(retry)
                ],
            )  # fmt: skip


def _overrun(model: AwsModel) -> str:
    """How far the bench's own CPU time (moto's, under the GIL) leaked into the model."""
    worst = ", ".join(f"{op} {late:.1f}" for (_, op), late in model.overrun_by.most_common(4))
    return (
        f"calls moto answered later than their modelled latency: {model.overruns} of "
        f"{sum(model.attempts.values())}, {model.overrun:.1f} model s late in all"
        + (f" (most: {worst})" if worst else "")
    )


def _real_seconds(model_seconds: float, scale: float) -> int:
    """SQS takes whole seconds of real time: at least one."""
    return max(1, math.ceil(model_seconds * scale))


_DEPTH = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def _queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages on the queue: visible, in flight or delayed."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(_DEPTH))
    return sum(int(attrs["Attributes"].get(name, 0)) for name in _DEPTH)


def _warm_all(
    model: AwsModel, handler: Any, local: threading.local, stack: st.Stack, workers: list[Worker]
) -> None:
    """Every worker's responder through one incident, at once, the write budget suspended."""
    iam = boto3.client("iam", region_name=st.REGION)
    users = make_users(iam, "warm", len(workers))

    def warm(worker: Worker, user: str, key: str) -> None:
        local.responder = worker.responder
        warm_up(handler, stack, model, user, key)
        worker.sqs.get_queue_attributes(QueueUrl=worker.source.url, AttributeNames=["QueueArn"])

    model.limit_writes = False
    try:
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            for done in [pool.submit(warm, w, *users[n]) for n, w in enumerate(workers)]:
                done.result()
    finally:
        model.limit_writes = True


def figure_storm(cfg: StormConfig) -> Report:
    model = AwsModel(model_config(cfg, cfg.seed + 1))
    timeline = Timeline(model)  # the responder's calls
    esm = Timeline(model)  # the event source mappings'
    posts = SlackPosts(model)
    real_started = time.perf_counter()
    with (
        SlackStandIn(team_id=TEAM, latency=posts.delay) as standin,
        modelled_stack(cfg, standin) as stack,
        modelled_handler(model) as (handler, local),
    ):
        iam = boto3.client("iam", region_name=st.REGION)  # setup and checks, outside the model
        sqs = boto3.client("sqs", region_name=st.REGION)
        visibility = _real_seconds(QUEUE_VISIBILITY, cfg.scale)
        for source in stack.sources:
            sqs.set_queue_attributes(
                QueueUrl=source.url, Attributes={"VisibilityTimeout": str(visibility)}
            )
        workers = [
            Worker(f"{source.logical_id}-{n}", source, build(model, timeline),
                   ModelFactory(model, st.REGION, esm)("sqs"))
            for source in stack.sources
            for n in range(cfg.workers)
        ]  # fmt: skip
        # Warm before the storm is queued: a responder that sees reports waiting may act on it.
        _warm_all(model, handler, local, stack, workers)
        leftover = sum(_queue_depth(sqs, source.url) for source in stack.sources)
        if leftover:
            raise RuntimeError(f"the warm-up left {leftover} messages on the responder's queues")
        keys = make_users(iam, "storm", cfg.keys)
        leak_queue = sqs.get_queue_url(QueueName=stack.queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        for i in range(0, len(keys), 10):
            sqs.send_message_batch(
                QueueUrl=leak_queue,
                Entries=[
                    {"Id": str(n), "MessageBody": st.health_body(key, user)}
                    for n, (user, key) in enumerate(keys[i : i + 10])
                ],
            )
        storm = Storm(model, handler, local, cfg.retry_after, stack.timeout)
        threads = [
            threading.Thread(target=storm.run_worker, args=(w,), name=w.name, daemon=True)
            for w in workers
        ]
        model.restart()
        timeline.reset()
        esm.reset()
        posts.reset()
        standin.reset()
        storm_started = time.perf_counter()
        for thread in threads:
            thread.start()
        timed_out = _watch(stack, workers, sqs, cfg)
        storm.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        storm_real = time.perf_counter() - storm_started
        ended = model.model_time()
        checks = _verify(stack, keys)
        slack_calls = Counter(c["method"] for c in standin.calls())
    real_total = time.perf_counter() - real_started
    return _storm_report(
        cfg, model, timeline, esm, posts, workers, keys, checks, slack_calls,
        timed_out=timed_out, ended=ended, storm_real=storm_real, real_total=real_total,
        visibility=visibility,
        sources=[s.logical_id for s in stack.sources], timeout=stack.timeout,
    )  # fmt: skip


def _watch(stack: st.Stack, workers: list[Worker], sqs: Any, cfg: StormConfig) -> bool:
    """Until every queue the responder polls is drained and every worker idle (whether or not
    every key is done: nothing more would happen), or the timeout. True if it timed out."""
    deadline = time.monotonic() + cfg.timeout * cfg.scale
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if any(w.busy for w in workers):
            continue
        depth = sum(_queue_depth(sqs, source.url) for source in stack.sources)
        if depth == 0 and not any(w.busy for w in workers):
            return False
    return True


def _verify(stack: st.Stack, keys: list[tuple[str, str]]) -> dict[str, Any]:
    """The end state, read straight from moto (outside the model)."""
    from leak_responder.domain.tags import is_replacement_tag

    iam = boto3.client("iam", region_name=st.REGION)
    sqs = boto3.client("sqs", region_name=st.REGION)
    ddb = boto3.client("dynamodb", region_name=st.REGION)
    deserialize = TypeDeserializer().deserialize
    incidents: dict[str, dict[str, Any]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=stack.table, ConsistentRead=True):
        for item in page["Items"]:
            doc = {k: deserialize(v) for k, v in item.items()}
            incidents[str(doc.get("key_id"))] = doc
    dead: set[str] = set()
    reasons: Counter[str] = Counter()
    dead_messages = 0
    while True:
        got = sqs.receive_message(
            QueueUrl=stack.dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            break
        dead_messages += len(got)
        for message in got:
            dead.update(_KEY_ID.findall(message.get("Body", "")))
            attributes: dict[str, Any] = message.get("MessageAttributes") or {}
            reason = (attributes.get("reason") or {}).get("StringValue")
            reasons[_KEY_ID.sub("AKIA…", str(reason))[:160]] += 1
    left_active, unreplaced, more_than_one, lost, not_notified = [], [], [], [], []
    for user, key in keys:
        listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        status = {m["AccessKeyId"]: m["Status"] for m in listed}
        if status.get(key) != "Inactive":
            left_active.append(key)
        active_others = [k for k, s in status.items() if k != key and s == "Active"]
        tags = iam.list_user_tags(UserName=user)["Tags"]
        replacements = [t for t in tags if is_replacement_tag(str(t["Value"]))]
        if len(active_others) > 1 or len(replacements) > 1:
            more_than_one.append(user)
        if not active_others:
            unreplaced.append(user)
        incident = incidents.get(key)
        if incident is None and key not in dead:
            lost.append(key)
        if incident is None or incident.get("notification_status") != "sent":
            not_notified.append(key)
    storm_keys = {key for _, key in keys}
    return {
        "left_active": left_active,
        "unreplaced": unreplaced,
        "more_than_one": more_than_one,
        "lost": lost,
        "not_notified": not_notified,
        "dlq": dead_messages,
        "dlq_reasons": reasons.most_common(3),
        "queue_left": sum(_queue_depth(sqs, source.url) for source in stack.sources),
        "incidents": len(storm_keys & incidents.keys()),
    }


def _storm_report(
    cfg: StormConfig,
    model: AwsModel,
    timeline: Timeline,
    esm: Timeline,
    posts: SlackPosts,
    workers: list[Worker],
    keys: list[tuple[str, str]],
    checks: dict[str, Any],
    slack_calls: Counter[str],
    *,
    timed_out: bool,
    ended: float,
    storm_real: float,
    real_total: float,
    visibility: int,
    sources: list[str],
    timeout: int,
) -> Report:
    n, r = cfg.keys, cfg.iam_write_rate
    inactive = [timeline.inactive_at.get(k) for _, k in keys]
    created = [min(timeline.created_at[u]) for u, _ in keys if timeline.created_at.get(u)]
    all_inactive = None not in inactive
    t_inactive = max(t for t in inactive if t is not None) if any(inactive) else float("nan")
    iam_writes_ok = sum(
        count - timeline.failed[(s, op)]
        for (s, op), count in timeline.calls.items()
        if s == "iam" and is_iam_write(op)
    )
    writes_per_key = iam_writes_ok / n
    writes_floor = n * writes_per_key / r
    replaced_notified = len(created) == n and not checks["not_notified"]
    t_done = max([*created, *posts.answered]) if created else float("nan")
    by_service = timeline.by_service()
    iam_calls = by_service.pop("iam", 0)
    iam_attempts = sum(c for (s, _), c in model.attempts.items() if s == "iam")
    throttled = sum(c for (s, _), c in model.throttled.items() if s == "iam")
    other = ", ".join(f"{s} {c / n:.1f}" for s, c in sorted(by_service.items()))
    label = f"{n} keys, {cfg.workers} workers, IAM writes {r:g}/s"
    must_be_zero = [
        ("keys left Active", len(checks["left_active"])),
        ("messages lost", len(checks["lost"])),
        ("keys with more than one replacement", len(checks["more_than_one"])),
        ("DLQ messages", checks["dlq"]),
    ]
    report = Report()
    report.rows += [
        row(f"8. modelled AWS, storm ({label}): all keys Inactive (model s)",
            f"{t_inactive:.0f}" + ("" if all_inactive else f" ({inactive.count(None)} never)"),
            f"{n / r:.0f} (N/R)", t_inactive / (n / r), "≤ 1.2x",
            all_inactive and not timed_out and t_inactive / (n / r) <= 1.2),
        row("8. storm: all keys replaced and notified (model s)",
            f"{t_done:.0f}" + ("" if replaced_notified else
                               f" ({n - len(created)} not replaced, "
                               f"{len(checks['not_notified'])} not notified)"),
            f"{writes_floor:.0f} (every IAM write at R: {n} x {writes_per_key:.1f} / {r:g})",
            t_done / writes_floor if writes_floor else None, "—",
            replaced_notified and not timed_out),
        row("8. storm: calls per key, IAM / other",
            f"IAM {iam_calls / n:.1f} ({iam_attempts / n:.1f} attempts, "
            f"{throttled / n:.1f} throttled) / {sum(by_service.values()) / n:.1f} ({other})",
            "—", None, "—", True),
    ]  # fmt: skip
    for name, count in must_be_zero:
        report.rows.append(row(f"8. storm: {name}", f"{count}", "0", None, "= 0", count == 0))
    durations = [d for w in workers for d in w.durations]
    received: Counter[str] = sum((w.received for w in workers), Counter())
    redelivered = sum(1 for c in received.values() if c > 1)
    esm_calls = ", ".join(f"{op} {c}" for (_, op), c in sorted(esm.calls.items()))
    seen = sorted(t for t in inactive if t is not None)
    deciles = (
        ", ".join(f"{seen[min(len(seen) - 1, len(seen) * q // 10)]:.0f}" for q in range(1, 10))
        if seen
        else "-"
    )
    report.notes += [
        f"storm: keys Inactive by model s, deciles 10%..90%: {deciles}; last {t_inactive:.0f}",
        f"storm: {'TIMED OUT after ' if timed_out else ''}{ended:.0f} model s "
        f"({storm_real:.0f} s real at scale {cfg.scale:g}; {real_total:.0f} s real with setup "
        f"and checks); {sum(w.invocations for w in workers)} invocations, "
        f"{sum(w.errors for w in workers)} raised, "
        f"{sum(w.failed_records for w in workers)} records in batchItemFailures, "
        f"{redelivered} messages received more than once; longest invocation "
        f"{max(durations, default=0):.1f} model s (the function's timeout, {timeout} s, is not "
        f"enforced), median {statistics.median(durations) if durations else 0:.1f}",
        f"storm: IAM write attempts throttled {throttled} of "
        f"{sum(c for (s, op), c in model.attempts.items() if s == 'iam' and is_iam_write(op))}; "
        f"successful IAM writes per key {writes_per_key:.2f}; keys without a replacement "
        f"{len(checks['unreplaced'])}; incidents {checks['incidents']}; messages left in the "
        f"queue {checks['queue_left']}; Slack calls {dict(sorted(slack_calls.items()))}; "
        f"{_overrun(model)}",
        *(
            [f"storm: DLQ reasons (most common): {checks['dlq_reasons']}"]
            if checks["dlq_reasons"]
            else []
        ),
        f"storm: {cfg.workers} workers on each SQS event source of ResponderFunction "
        f"({', '.join(sources)}); their SQS calls: {esm_calls}; queue visibility timeout "
        f"{visibility} s real ({visibility / cfg.scale:.0f} model s, the template's 360), a "
        f"failed record visible again after {cfg.retry_after} model s; SQS timers the "
        f"responder sets (DelaySeconds, VisibilityTimeout) are model seconds too",
    ]
    return report


# -- entry ----------------------------------------------------------------------------------------
def run(cfg: StormConfig = StormConfig(), storm: bool = True) -> Report:
    report = Report()
    started = time.perf_counter()
    parts = [figure_batch, figure_storm] if storm else [figure_batch]
    for part in parts:
        done = part(cfg)
        report.rows += done.rows
        report.notes += done.notes
    report.notes.append(
        f"figures 7-8 took {time.perf_counter() - started:.0f} s real; model: scale "
        f"{cfg.scale:g} real s per model s, IAM writes {cfg.iam_write_rate:g}/s (burst "
        f"{model_config(cfg, 0).burst:g}), config {cfg}"
    )
    return report


def main(argv: list[str]) -> int:
    defaults = StormConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.storm_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--storm-keys", type=int, help=f"({defaults.keys})")
    parser.add_argument("--storm-workers", type=int, help=f"({defaults.workers})")
    parser.add_argument("--iam-write-rate", type=float, help=f"({defaults.iam_write_rate:g})")
    parser.add_argument("--model-scale", type=float, help=f"({defaults.scale:g})")
    args = parser.parse_args(argv)
    cfg = storm_config(args)
    report = run(cfg)
    print(render(report.rows))
    print()
    for note in report.notes:
        print(f"- {note}")
    return 0 if all(r["ok"] for r in report.rows) else 1


def storm_config(args: argparse.Namespace) -> StormConfig:
    from dataclasses import replace

    cfg = QUICK_STORM if args.quick else StormConfig()
    for option, name in (
        ("storm_keys", "keys"),
        ("storm_workers", "workers"),
        ("iam_write_rate", "iam_write_rate"),
        ("model_scale", "scale"),
    ):
        value = getattr(args, option, None)
        if value is not None:
            cfg = replace(cfg, **{name: value})
    return cfg


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
