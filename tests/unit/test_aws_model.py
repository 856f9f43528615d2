"""bench/aws_model.py: the bench's latency and IAM rate model, on a fake clock (never real time)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.aws_model import (
    AwsModel,
    Latency,
    ModelConfig,
    ModelFactory,
    TokenBucket,
    is_iam_write,
)
from leak_responder.adapters.aws.errors import translate
from leak_responder.domain.errors import TransientError

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default
# No SDK retries: one attempt per call, so a throttled write fails at once.
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
# Every latency exactly its median: what the model sleeps is predictable.
EXACT = {
    "iam-write": Latency(0.120, 0),
    "iam-read": Latency(0.060, 0),
    "other": Latency(0.050, 0),
}


class FakeClock:
    """``now`` and ``sleep`` for the model: sleeping advances the clock, nothing waits."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


class FrozenClock(FakeClock):
    """Sleeps are recorded but time stands still: the bucket never refills."""

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def faked(clock: FakeClock, **config: Any) -> AwsModel:
    """A model of ``config`` that sleeps and reads the time on ``clock``."""
    return AwsModel(ModelConfig(**config), sleep=clock.sleep, now=clock.now)


def users_with_keys(count: int) -> list[tuple[str, str]]:
    iam = boto3.client("iam", region_name=REGION)
    made = []
    for i in range(count):
        iam.create_user(UserName=f"u{i}")
        made.append((f"u{i}", iam.create_access_key(UserName=f"u{i}")["AccessKey"]["AccessKeyId"]))
    return made


def model_iam(model: AwsModel, config: Config = ONE_ATTEMPT) -> tuple[ModelFactory, Any]:
    factory = ModelFactory(model, REGION, account=ACCOUNT, config=config)
    return factory, factory("iam")


# -- the token bucket -------------------------------------------------------------------------
def test_bucket_admits_rate_per_second_and_throttles_beyond() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=10, now=clock.now)
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]
    clock.t += 1.0
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]
    clock.t += 0.25  # a quarter second refills a quarter of the rate
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_throttled_requests_consume_no_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=10, now=clock.now)
    for _ in range(10):
        assert bucket.take()
    assert not any(bucket.take() for _ in range(50))  # refused 50 times at the same instant
    clock.t += 0.1  # one token's worth: still there, the refusals took nothing
    assert bucket.take()
    assert not bucket.take()


def test_model_bucket_rate_is_in_model_seconds() -> None:
    clock = FakeClock()
    model = faked(clock, scale=0.2, iam_write_rate=10)
    bucket = model.bucket(ACCOUNT)
    assert bucket is not None
    assert bucket.rate == pytest.approx(50)  # 10 per model second = 50 per real second
    assert model.bucket(ACCOUNT) is bucket  # one bucket per account, shared
    assert model.bucket("210987654321") is not bucket


def test_writes_are_everything_but_reads() -> None:
    writes = ["UpdateAccessKey", "CreateAccessKey", "TagUser", "PutUserPolicy", "DeleteAccessKey"]
    reads = ["GetUser", "ListAccessKeys", "GenerateCredentialReport", "SimulatePrincipalPolicy"]
    assert all(is_iam_write(op) for op in writes)
    assert not any(is_iam_write(op) for op in reads)


# -- through a real boto3 client under moto ------------------------------------------------------
def test_over_budget_iam_write_raises_throttling_and_is_transient(aws: None) -> None:
    clock = FrozenClock()
    model = faked(clock, iam_write_rate=2, iam_write_burst=2, latencies=EXACT)
    _, iam = model_iam(model)
    (u0, k0), (u1, k1), (u2, k2) = users_with_keys(3)
    iam.update_access_key(UserName=u0, AccessKeyId=k0, Status="Inactive")
    iam.update_access_key(UserName=u1, AccessKeyId=k1, Status="Inactive")
    with pytest.raises(ClientError) as caught:
        iam.update_access_key(UserName=u2, AccessKeyId=k2, Status="Inactive")
    assert caught.value.response["Error"]["Code"] == "Throttling"
    assert caught.value.response["Error"]["Message"] == "Rate exceeded"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert isinstance(translate(caught.value, "iam:UpdateAccessKey"), TransientError)
    # IAM refused it, so nothing changed: moto never acted on the refused request.
    listed = boto3.client("iam", region_name=REGION).list_access_keys(UserName=u2)
    assert listed["AccessKeyMetadata"][0]["Status"] == "Active"
    # The refused request still took its latency.
    assert clock.slept[-1] == pytest.approx(0.120)
    assert model.throttled[("iam", "UpdateAccessKey")] == 1


def test_sdk_retries_a_throttled_write_after_its_back_off_in_model_time(aws: None) -> None:
    clock = FakeClock()
    model = faked(clock, scale=0.5, iam_write_rate=10, iam_write_burst=1, latencies=EXACT)
    retrying = Config(retries={"mode": "standard", "max_attempts": 3})
    _, iam = model_iam(model, retrying)
    ((user, key),) = users_with_keys(1)
    bucket = model.bucket(ACCOUNT)
    assert bucket is not None and bucket.take()  # the budget spent at this very instant
    clock.slept.clear()
    # The first attempt is refused; its own latency (0.12 model s at 10 writes/s) refills a
    # token, and botocore retries after its back-off, which sleeps through the fake clock.
    answer = iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert model.throttled[("iam", "UpdateAccessKey")] == 1
    assert model.attempts[("iam", "UpdateAccessKey")] == 2
    # Two latencies and the back-off between them, every one through the model's sleep.
    assert len(clock.slept) == 3
    assert clock.slept[0] == pytest.approx(0.120 * 0.5)
    assert clock.slept[2] == pytest.approx(0.120 * 0.5)
    assert 0 <= clock.slept[1] <= 1.0 * 0.5  # botocore's first throttling back-off, scaled


def test_reads_are_never_throttled(aws: None) -> None:
    clock = FrozenClock()
    model = faked(clock, iam_write_rate=1, iam_write_burst=1, latencies=EXACT)
    _, iam = model_iam(model)
    (u0, k0), (u1, k1) = users_with_keys(2)
    iam.update_access_key(UserName=u0, AccessKeyId=k0, Status="Inactive")
    with pytest.raises(ClientError):  # the budget is spent
        iam.update_access_key(UserName=u1, AccessKeyId=k1, Status="Inactive")
    for _ in range(20):
        iam.get_user(UserName=u1)
        iam.list_access_keys(UserName=u1)
    assert sum(model.throttled.values()) == 1


def test_latency_sampled_is_scaled(aws: None) -> None:
    clock = FakeClock()
    model = faked(clock, scale=0.2, iam_write_rate=None, latencies=EXACT)
    _, iam = model_iam(model)
    ((user, key),) = users_with_keys(1)
    clock.slept.clear()
    iam.get_user(UserName=user)
    iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    # moto answers in no time on the fake clock: each call sleeps its whole latency x scale.
    assert clock.slept == [pytest.approx(0.060 * 0.2), pytest.approx(0.120 * 0.2)]
    assert model.model_time() == pytest.approx(0.060 + 0.120)


def test_lognormal_latency_is_seeded_and_around_its_median() -> None:
    a, b = (
        AwsModel(ModelConfig(seed=7), sleep=FakeClock().sleep, now=FakeClock().now)
        for _ in range(2)
    )
    samples = [a.sample("iam-write") for _ in range(2001)]
    assert samples == [b.sample("iam-write") for _ in range(2001)]
    assert sorted(samples)[1000] == pytest.approx(0.120, rel=0.05)
    assert min(samples) > 0


def test_per_key_inactive_time_is_recorded_in_model_time(aws: None) -> None:
    clock = FakeClock()
    model = faked(clock, scale=0.5, iam_write_rate=None, latencies=EXACT)
    factory, iam = model_iam(model)
    (u0, k0), (u1, k1) = users_with_keys(2)
    clock.t += 1.0  # one real second = two model seconds
    iam.update_access_key(UserName=u0, AccessKeyId=k0, Status="Inactive")
    iam.update_access_key(UserName=u1, AccessKeyId=k1, Status="Active")
    iam.create_access_key(UserName=u1)
    iam.update_access_key(UserName=u0, AccessKeyId=k0, Status="Inactive")
    timeline = factory.timeline
    assert timeline.inactive_at == {k0: pytest.approx(2.0 + 0.120)}  # the first success only
    assert timeline.created_at[u1] == [pytest.approx(2.0 + 3 * 0.120)]
    assert timeline.calls[("iam", "UpdateAccessKey")] == 3
    assert timeline.calls[("iam", "CreateAccessKey")] == 1


def test_slack_standin_waits_the_latency_it_is_given_per_method() -> None:
    from slack_sdk import WebClient

    from leak_sandbox.slack_standin import SlackStandIn

    asked: list[str] = []

    def latency(method: str) -> float:
        asked.append(method)
        return 0.0  # how long is the model's business; here only who is asked

    with SlackStandIn(latency=latency) as standin:
        client = WebClient(token="xoxb-test", base_url=standin.api_url, retry_handlers=[])
        assert client.auth_test()["ok"] is True
        assert client.conversations_open(users="U0TEST0001")["ok"] is True
    assert asked == ["auth.test", "conversations.open"]


def test_sqs_timers_are_model_seconds_sent_as_whole_real_seconds(aws: None) -> None:
    import json

    clock = FakeClock()
    model = faked(clock, scale=0.2, latencies={"other": Latency(0.01, 0)})
    sqs = ModelFactory(model, REGION, account=ACCOUNT)("sqs")
    sent: list[dict[str, Any]] = []
    sqs.meta.events.register(
        "before-call.sqs", lambda params, **_: sent.append(json.loads(params["body"]))
    )
    url = sqs.create_queue(QueueName="timers")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a", DelaySeconds=10)  # 2 s real, exactly
    entries = [{"Id": str(n), "MessageBody": "b", "DelaySeconds": 2} for n in range(200)]
    for start in range(0, 200, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=entries[start : start + 10])
    assert sent[1]["DelaySeconds"] == 2
    # 2 model s at scale 0.2 is 0.4 s real: 0 or 1, at random, 0.4 on average.
    delays = [e["DelaySeconds"] for body in sent[2:] for e in body["Entries"]]
    assert set(delays) == {0, 1}
    assert sum(delays) / len(delays) == pytest.approx(0.4, abs=0.1)
    assert all(e["DelaySeconds"] == 2 for e in entries)  # the caller's own entries unchanged
