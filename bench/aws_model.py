"""A latency and rate model of AWS (and Slack) for the bench, laid over moto.

moto answers in about a millisecond; AWS does not. ``AwsModel`` makes every call of a boto3
client it is installed on last as long as the service would take (a lognormal latency per
service, seeded), and holds IAM writes to an account-wide token bucket that answers
``Throttling`` beyond it, as IAM does. It works with botocore's event hooks on each client, so
the code under test, botocore's retry handler and its error parsing run unchanged:

- ``before-send.<service>`` (registered first, ahead of moto's own ``before-send`` handler):
  an IAM write over the account's budget waits its latency and gets IAM's real error response
  (HTTP 400, ``<Code>Throttling</Code>``, ``Rate exceeded``). botocore emits ``before-send`` to
  every handler and keeps the first response, so moto would still act on the refused request:
  the hook points that request nowhere moto answers before returning. Any other request sets
  its deadline (now + its latency) and returns None, and moto answers it.
- ``needs-retry.<service>`` (once per attempt, after the answer): sleeps until that deadline. A
  call therefore lasts its modelled latency, moto's own processing time included, rather than
  latency plus moto.
- The SDK's own back-off between retries is scaled to model time like every other wait (see
  ``scale`` below); botocore's retry decisions and its retry quota are its own.

**Time scale.** ``scale`` is real seconds per model second: with ``scale=0.2`` every sleep is
multiplied by 0.2 and the IAM write rate by 5, so a storm of many model minutes fits in the
bench. Every figure is reported in model seconds (real seconds / ``scale``). SQS timers sent
through a modelled client (DelaySeconds, VisibilityTimeout) are read as model seconds and sent
as the whole real seconds SQS counts; ``ModelUtcClock`` is the responder's clock in model time.
``sleep`` and ``now`` are injectable, so the model is testable without real time.

``ModelFactory`` is the responder's ``ClientFactory`` with the model installed on every client it
builds, and a ``Timeline`` that records, in model time, when each key's
``UpdateAccessKey(Status=Inactive)`` succeeded, when ``CreateAccessKey`` succeeded for each user,
and how many calls each service/operation took (``after-call`` hooks: one per API call, however
many attempts it took).

Where the defaults come from (``DEFAULT_LATENCIES``, ``DEFAULT_IAM_WRITE_RATE``): see
``SOURCES`` below, which ``python -m bench`` prints in docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import math
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.retries import standard

from leak_responder.adapters.aws.clients import CLIENT_CONFIG, URGENT_CLIENT_CONFIG, ClientFactory


@dataclass(frozen=True)
class Latency:
    """A lognormal latency: ``median`` model seconds, ``spread`` the sigma of its logarithm
    (0.3: the 90th percentile is 1.47x the median, the 99th 2.0x; 0: always the median)."""

    median: float
    spread: float = 0.3

    def sample(self, rng: random.Random) -> float:
        if self.spread <= 0:
            return self.median
        return self.median * math.exp(self.spread * rng.gauss(0.0, 1.0))


# Latency kinds: IAM splits into writes and reads; every other service is its botocore service
# id (hyphenated, as in event names); "slack" is the Slack Web API (the stand-in sleeps it).
IAM_WRITE = "iam-write"
IAM_READ = "iam-read"
SLACK = "slack"
OTHER = "other"

DEFAULT_LATENCIES: Mapping[str, Latency] = {
    IAM_WRITE: Latency(0.120),
    IAM_READ: Latency(0.060),
    "sts": Latency(0.040),
    "secrets-manager": Latency(0.040),
    "dynamodb": Latency(0.008),
    "sqs": Latency(0.010),
    SLACK: Latency(0.150),
    OTHER: Latency(0.060),  # CloudTrail LookupEvents and anything else: assumed like a read
}

# IAM publishes no request rate; see SOURCES. One second's worth of burst.
DEFAULT_IAM_WRITE_RATE = 10.0

SOURCES = """\
- **IAM request rates.** AWS publishes no number. "IAM and AWS STS quotas"
  (docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html) lists object and size
  quotas only. The AWS Knowledge Center article "How do I resolve API throttling or 'Rate
  exceeded' errors for IAM and AWS STS?" (repost.aws/knowledge-center/iam-sts-throttling-error)
  says every caller in the account (console, CLI, applications) counts toward one maximum rate
  for the account, that the error is `Throttling: Rate exceeded` with HTTP 400, and that the
  rate cannot be increased. The AWS Security Blog post "How to monitor and query IAM resources
  at scale - Part 2" says IAM and STS each throttle with token buckets refilled every second,
  whose size and refill rate depend on the API, with several buckets possibly applying to one
  API. **Our assumption:** one account-wide bucket for IAM writes (every IAM operation except
  Get\\*, List\\*, Generate\\*, Simulate\\*), refilled continuously at R per second, holding B
  tokens; reads are never throttled. R = 10 writes/s and B = R are round numbers of our own,
  not AWS's; change them with `--iam-write-rate`.
- **Latencies.** AWS publishes no per-call latencies for IAM, STS, Secrets Manager or SQS, and
  Slack none for its Web API: IAM writes 120 ms, IAM reads 60 ms, STS 40 ms, Secrets Manager
  40 ms, SQS 10 ms, Slack 150 ms and 60 ms for anything else (CloudTrail) are issue 15's
  working assumptions, not measurements. DynamoDB's 8 ms stands for the DynamoDB Developer
  Guide's "single-digit millisecond performance at any scale". Each is the median of a
  lognormal with sigma 0.3 (p90 = 1.47x the median), our assumption; the RNG is seeded.
- **Not modelled.** Slack's own rate limits (its rate-limit guide: chat.postMessage allows
  about one message per second per channel), DynamoDB and Secrets Manager throttling, STS
  rates, Lambda ending an invocation at its timeout (60 s in template.yaml: the context's time
  left counts model seconds, and the longest invocation is in the notes), cold starts.
"""


def is_iam_write(operation: str) -> bool:
    """Every IAM operation but Get*, List*, Generate* and Simulate* writes."""
    return not operation.startswith(("Get", "List", "Generate", "Simulate"))


def latency_kind(service_id: str, operation: str, known: Mapping[str, Latency]) -> str:
    if service_id == "iam":
        return IAM_WRITE if is_iam_write(operation) else IAM_READ
    return service_id if service_id in known else OTHER


IAM_THROTTLING_BODY = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>{request_id}</RequestId></ErrorResponse>"
)
# Where a refused request is pointed so that moto's before-send handler does not act on it: no
# moto backend matches this host (.invalid is reserved, RFC 2606), and nothing is ever sent
# there, because our response comes first.
_REFUSED_URL = "https://refused-by-bench-model.invalid/"


# SQS parameters that are timers, per operation (in the request or in each of its Entries).
# ReceiveMessage's WaitTimeSeconds is not one: it bounds a wait, whatever answers first.
_SQS_TIMERS: Mapping[str, tuple[str, ...]] = {
    "SendMessage": ("DelaySeconds",),
    "SendMessageBatch": ("DelaySeconds",),
    "ChangeMessageVisibility": ("VisibilityTimeout",),
    "ChangeMessageVisibilityBatch": ("VisibilityTimeout",),
    "ReceiveMessage": ("VisibilityTimeout",),
}
# Calls that wait on purpose (a long poll), whose overrun is no cost of the bench's.
_WAITS = frozenset({"ReceiveMessage"})


class _Body:
    """The raw body botocore reads a response from (``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def iam_throttling_response(url: str) -> AWSResponse:
    """What IAM answers a request over its rate: HTTP 400 and its XML error."""
    request_id = str(uuid.uuid4())
    body = IAM_THROTTLING_BODY.format(request_id=request_id).encode()
    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = request_id
    headers["Content-Type"] = "text/xml"
    headers["Content-Length"] = str(len(body))
    return AWSResponse(url, 400, headers, _Body(body))


class TokenBucket:
    """``rate`` tokens per second of ``now()``, at most ``burst`` held; starts full.
    Thread-safe: one bucket is shared by every client of an account."""

    def __init__(self, rate: float, burst: float, now: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._now = now
        self._lock = threading.Lock()
        self._tokens = burst
        self._at = now()

    def take(self) -> bool:
        """One token if there is one; False (and nothing taken) if not."""
        with self._lock:
            at = self._now()
            self._tokens = min(self.burst, self._tokens + (at - self._at) * self.rate)
            self._at = at
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def fill(self) -> None:
        with self._lock:
            self._tokens = self.burst
            self._at = self._now()


@dataclass(frozen=True)
class ModelConfig:
    scale: float = 1.0  # real seconds per model second
    iam_write_rate: float | None = DEFAULT_IAM_WRITE_RATE  # per model second; None: unlimited
    iam_write_burst: float | None = None  # tokens; None: one second's worth (the rate)
    latencies: Mapping[str, Latency] = field(default_factory=lambda: dict(DEFAULT_LATENCIES))
    seed: int = 0

    @property
    def burst(self) -> float:
        if self.iam_write_burst is not None:
            return self.iam_write_burst
        return max(1.0, self.iam_write_rate or 1.0)


class AwsModel:
    """Latencies and the IAM write budget, shared by every client it is installed on."""

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or ModelConfig()
        if self.config.scale <= 0:
            raise ValueError("scale must be positive")
        self._sleep = sleep
        self._now = now
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._epoch = self._start = now()
        self._anchor = datetime.now(UTC)  # the model's UTC clock starts at the real time
        self.limit_writes = True  # False: the IAM write budget is not enforced (warm-ups)
        self.attempts: Counter[tuple[str, str]] = Counter()  # every attempt, throttled too
        self.throttled: Counter[tuple[str, str]] = Counter()
        # Attempts moto took longer to answer than their modelled latency (its CPU time, under
        # the GIL shared with every other thread), and by how much in total, in model seconds:
        # how far the bench's own cost leaks into its figures.
        self.overruns = 0
        self.overrun = 0.0
        self.overrun_by: Counter[tuple[str, str]] = Counter()  # model s late, per operation

    # -- time ---------------------------------------------------------------------------------
    @property
    def scale(self) -> float:
        return self.config.scale

    def model_time(self) -> float:
        """Model seconds since the model was made (or ``restart``ed)."""
        return (self._now() - self._start) / self.scale

    def clock(self) -> float:
        """Model seconds since the model was made, never reset: a clock for pacing."""
        return (self._now() - self._epoch) / self.scale

    def utc(self) -> datetime:
        """The model's wall clock: UTC, running at the model's pace since it was made."""
        return self._anchor + timedelta(seconds=self.clock())

    def utc_of(self, epoch_seconds: float) -> datetime:
        """The model's UTC for a real timestamp (one moto stamped, say)."""
        elapsed = epoch_seconds - self._anchor.timestamp()
        return self._anchor + timedelta(seconds=elapsed / self.scale)

    def wait(self, model_seconds: float) -> None:
        if model_seconds > 0:
            self._sleep(model_seconds * self.scale)

    def restart(self) -> None:
        """Model time 0 from now; every bucket full; counters cleared."""
        with self._lock:
            self._start = self._now()
            for bucket in self._buckets.values():
                bucket.fill()
            self.attempts.clear()
            self.throttled.clear()
            self.overruns = 0
            self.overrun = 0.0
            self.overrun_by.clear()

    # -- latency and budget -------------------------------------------------------------------
    def sample(self, kind: str) -> float:
        """One latency of ``kind``, in model seconds."""
        latencies = self.config.latencies
        latency = latencies.get(kind) or latencies[OTHER]
        with self._lock:  # random.Random.gauss keeps state between calls: not thread-safe
            return latency.sample(self._rng)

    def slack_delay(self, _method: str = "") -> float:
        """One Slack Web API latency in real seconds: what the Slack stand-in waits per call."""
        return self.sample(SLACK) * self.scale

    def bucket(self, account: str) -> TokenBucket | None:
        rate = self.config.iam_write_rate
        if rate is None:
            return None
        with self._lock:
            if account not in self._buckets:
                self._buckets[account] = TokenBucket(
                    rate / self.scale, self.config.burst, self._now
                )
            return self._buckets[account]

    # -- the hooks ----------------------------------------------------------------------------
    def install(self, client: Any, account: str) -> None:
        """Model every call ``client`` makes; its IAM writes count against ``account``."""
        events = client.meta.events
        service_id = client.meta.service_model.service_id.hyphenize()
        known = self.config.latencies
        pending = threading.local()  # the deadline of this thread's request on this client

        def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
            operation = event_name.rsplit(".", 1)[-1]
            kind = latency_kind(service_id, operation, known)
            latency = self.sample(kind) * self.scale
            with self._lock:
                self.attempts[(service_id, operation)] += 1
            limited = kind == IAM_WRITE and self.limit_writes
            bucket = self.bucket(account) if limited else None
            if bucket is not None and not bucket.take():
                with self._lock:
                    self.throttled[(service_id, operation)] += 1
                self._sleep(latency)
                url = request.url
                request.url = _REFUSED_URL  # moto must not act on what IAM refused
                return iam_throttling_response(url)
            pending.deadline = self._now() + latency
            pending.operation = operation
            return None

        def after_attempt(**_: Any) -> None:
            deadline = getattr(pending, "deadline", None)
            pending.deadline = None
            if deadline is not None:
                remaining = deadline - self._now()
                if remaining > 0:
                    self._sleep(remaining)
                elif pending.operation not in _WAITS:
                    with self._lock:
                        self.overruns += 1
                        self.overrun -= remaining / self.scale
                        self.overrun_by[(service_id, pending.operation)] -= remaining / self.scale

        events.register_first(f"before-send.{service_id}", before_send)
        events.register_first(f"needs-retry.{service_id}", after_attempt)
        self._scale_sdk_backoff(client, service_id)
        if service_id == "sqs":
            events.register_first("provide-client-params.sqs", self._sqs_timers)

    def _sqs_timers(self, params: dict[str, Any], model: Any, **_: Any) -> dict[str, Any] | None:
        """SQS's own timers, given in model seconds, as the whole real seconds SQS (and moto)
        count: DelaySeconds and VisibilityTimeout of a message, scaled and rounded up or down
        at random in proportion (a 2 s delay at scale 0.2 is 1 s real 40% of the time), so that
        on average they last what they say in model time."""
        fields = _SQS_TIMERS.get(model.name)
        if not fields:
            return None
        scaled = copy.deepcopy(params)
        for target in scaled.get("Entries", [scaled]):
            for name in fields:
                if isinstance(target.get(name), int):
                    target[name] = self._real_whole_seconds(target[name])
        return scaled

    def _real_whole_seconds(self, model_seconds: int) -> int:
        real = model_seconds * self.scale
        whole = math.floor(real)
        with self._lock:
            return whole + (1 if self._rng.random() < real - whole else 0)

    def _scale_sdk_backoff(self, client: Any, service_id: str) -> None:
        """botocore's standard retry handler, its back-off waited in model time.

        botocore sleeps whatever its ``needs-retry`` handler returns, in real seconds. The
        handler is registered again here, wrapped: the back-off it computes is slept through
        the model (``wait``), and botocore is told to retry at once. Which errors are retried,
        how often, and the client's retry quota stay botocore's own.
        """
        retries = client.meta.config.retries or {}
        if retries.get("mode", "legacy") != "standard":
            return
        unique_id = f"retry-config-{service_id}"
        event = f"needs-retry.{service_id}"
        events = client.meta.events
        events.unregister(event, unique_id=unique_id)
        handler = standard.register_retry_handler(
            client, max_attempts=retries.get("total_max_attempts")
        )
        events.unregister(event, unique_id=unique_id)

        def needs_retry(**kwargs: Any) -> float | None:
            delay = handler.needs_retry(**kwargs)
            if delay is None:
                return None
            self.wait(float(delay))
            return 0.0

        events.register(event, needs_retry, unique_id=unique_id)


class ModelUtcClock:
    """The responder's ``Clock`` port (``now()``, aware UTC) in model time: leases, claims and
    the timestamps it records run at the model's pace, as they would against AWS."""

    def __init__(self, model: AwsModel) -> None:
        self._model = model

    def now(self) -> datetime:
        return self._model.utc()


class Timeline:
    """What modelled clients did, in model time. Thread-safe; shared by many factories."""

    _PARAMS = "bench_model_params"

    def __init__(self, model: AwsModel) -> None:
        self.model = model
        self._lock = threading.Lock()
        self.inactive_at: dict[str, float] = {}  # key ID -> first UpdateAccessKey(Inactive)
        self.created_at: dict[str, list[float]] = defaultdict(list)  # user -> CreateAccessKey
        self.calls: Counter[tuple[str, str]] = Counter()  # (service, operation) -> API calls
        self.failed: Counter[tuple[str, str]] = Counter()  # of which ended in an error

    def reset(self) -> None:
        with self._lock:
            self.inactive_at.clear()
            self.created_at.clear()
            self.calls.clear()
            self.failed.clear()

    def install(self, client: Any) -> None:
        events = client.meta.events
        service_id = client.meta.service_model.service_id.hyphenize()

        def provide(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context[self._PARAMS] = {
                k: params[k] for k in ("AccessKeyId", "Status", "UserName") if k in params
            }

        def after_call(http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
            at = self.model.model_time()
            operation = model.name
            ok = 200 <= int(http_response.status_code) < 300
            params = context.get(self._PARAMS, {})
            with self._lock:
                self.calls[(service_id, operation)] += 1
                if not ok:
                    self.failed[(service_id, operation)] += 1
                    return
                if service_id != "iam":
                    return
                if operation == "UpdateAccessKey" and params.get("Status") == "Inactive":
                    self.inactive_at.setdefault(str(params.get("AccessKeyId")), at)
                elif operation == "CreateAccessKey":
                    self.created_at[str(params.get("UserName"))].append(at)

        events.register(f"provide-client-params.{service_id}", provide)
        events.register(f"after-call.{service_id}", after_call)

    def by_service(self) -> Counter[str]:
        with self._lock:
            counts: Counter[str] = Counter()
            for (service, _operation), n in self.calls.items():
                counts[service] += n
            return counts


class ModelFactory(ClientFactory):
    """The responder's ``ClientFactory`` with the model (and a ``Timeline``) on every client.

    An IAM write counts against the account the client acts in: the caller's own for clients
    without credentials, the assumed role's account otherwise (asked of STS once per set of
    credentials, through a client the model is not installed on).
    """

    def __init__(
        self,
        model: AwsModel,
        region: str,
        timeline: Timeline | None = None,
        *,
        account: str | None = None,
        config: Config = CLIENT_CONFIG,
        urgent_config: Config = URGENT_CLIENT_CONFIG,
    ) -> None:
        super().__init__(boto3.session.Session(region_name=region), region, config, urgent_config)
        self.model = model
        self.timeline = timeline or Timeline(model)
        self._accounts: dict[str | None, str] = {} if account is None else {None: account}
        self._lock = threading.Lock()

    def __call__(
        self, service: str, creds: dict[str, str] | None = None, *, urgent: bool = False
    ) -> Any:
        client = super().__call__(service, creds, urgent=urgent)
        self.model.install(client, self.account_of(creds))
        self.timeline.install(client)
        return client

    def account_of(self, creds: dict[str, str] | None) -> str:
        key = creds["AccessKeyId"] if creds else None
        with self._lock:
            known = self._accounts.get(key)
        if known is None:
            sts = super().__call__("sts", creds)
            known = str(sts.get_caller_identity()["Account"])
            with self._lock:
                self._accounts[key] = known
        return known
