"""The fault matrix: one incident through the real responder handler, a fault at every call.

At collection, one clean incident (a Health event naming the user, Slack configured against the
stand-in) is run through ``functions/responder/app.py`` and its AWS calls are recorded in order
(``clean_incident()``); the matrix has a case for every position in that list and every fault
kind, and for every Slack call position. Each case injects one fault at one call, once, where the
error reaches our adapters (above botocore's own retries, which a real failure has already
survived), then redelivers the same SQS message with an incremented receive count after the
queue's visibility timeout, until it is acknowledged or has had its last receive. Every case
must end with:

- the leaked key Inactive;
- exactly one usable replacement: Active, recorded as the incident's ``new_key_id``, its secret
  in Secrets Manager and equal to what CreateAccessKey answered, and no other Active key;
- exactly one DM and one security-channel copy (``chat.postMessage`` in the stand-in's record);
- an empty dead-letter queue.

A case that cannot end that way because of a documented limit is in ``EXPECTED`` with its reason,
carries ``EXPECTED-...`` in its test id, and is held to exactly the documented end state, so it
fails the day it starts ending right, or ends wrong in another way.
"""

from __future__ import annotations

import functools
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from leak_sandbox.slack_standin import SlackStandIn
from leak_sandbox.testkit.events import health_event
from tests.chaos.conftest import (
    HOME,
    MAX_RECEIVE_COUNT,
    AwsCalls,
    ChaosStack,
    Delivery,
    EndState,
    Leak,
    ShiftedClock,
    chaos_stack_context,
    deliver_until_done,
    end_state,
    fresh_case,
    new_leak,
    quiet_waits,
    responder_module,
)

AWS_KINDS = ("throttled", "unavailable", "timeout-before", "timeout-after")
# Every DynamoDB write of ours has a condition (attribute_not_exists(pk), or the version read).
CONDITIONAL_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem")
THROTTLING_CODES = {
    "dynamodb": "ProvisionedThroughputExceededException",
    "secretsmanager": "ThrottlingException",
    "sqs": "RequestThrottled",
}  # IAM and STS: Throttling

# Slack faults, as the stand-in answers them: (HTTP status, Retry-After, how many calls in a
# row). slack_sdk's handlers retry twice (the responder's client): one failure is retried within
# the delivery, three in a row are past its retries, and a Retry-After longer than the client's
# 5 s cap is not waited for at all. Either of the last two leaves the notice pending for the
# redelivery.
SLACK_KINDS: dict[str, tuple[int, int, int]] = {
    "429-retry-after-1-once": (429, 1, 1),
    "429-retry-after-1-past-retries": (429, 1, 3),
    "429-retry-after-30": (429, 30, 1),
    "500-once": (500, 0, 1),
    "500-past-retries": (500, 0, 3),
}


# ------------------------------------------------------------------------- the clean incident


@dataclass(frozen=True)
class CleanIncident:
    aws_calls: tuple[str, ...]
    slack_calls: tuple[str, ...]
    receives: int
    problems: tuple[str, ...]


def health_body(leak: Leak) -> str:
    return json.dumps(health_event(leak.key_id, leak.user, HOME))


@functools.cache
def clean_incident() -> CleanIncident:
    """One incident without faults, on a stack of its own: what the matrix is built from."""
    with chaos_stack_context() as stack, pytest.MonkeyPatch.context() as mp:
        calls = AwsCalls(mp)
        fresh_case(stack)
        leak = new_leak(stack, "clean")
        module = responder_module()
        quiet_waits(module, [])
        delivery = Delivery.of(health_body(leak), stack.queue_arn)
        deliver_until_done(module, delivery, ShiftedClock(), calls)
        return CleanIncident(
            aws_calls=tuple(calls.sequence),
            slack_calls=tuple(c["method"] for c in stack.standin.calls()),
            receives=delivery.receives,
            problems=tuple(end_state(stack, leak).problems(leak, calls.created)),
        )


# ------------------------------------------------------------------------ expected exceptions


@dataclass(frozen=True)
class Expected:
    slug: str  # in the test id
    reason: str
    problems: tuple[str, ...]  # what EndState.problems reports, in order, by prefix
    holds: Callable[[EndState], bool]  # and what else the documented end state has


# Cases that cannot end right because of a documented limit, by (call, fault kind) for an AWS
# call (every occurrence of that call) or (Slack call position, fault kind).
EXPECTED: dict[tuple[str, str], Expected] = {
    # CreateAccessKey took effect but its answer (the new key's ID and secret) was lost: the key
    # exists, Active, and nothing can prove it is ours (docs/architecture.md, "Claims, and only
    # recorded keys are ever deleted": "If it dies before even recording the ID, nothing proves
    # the extra key is ours"). The redelivery finds the user at two keys, creates nothing, and
    # the notice tells the owner that a key of an interrupted replacement may exist.
    ("iam:CreateAccessKey", "timeout-after"): Expected(
        "created-key-never-seen",
        "CreateAccessKey took effect but its answer was lost: an unprovable extra key",
        ("no replacement recorded", "active keys"),
        lambda state: (
            len(state.active_keys) == 1  # the unprovable key, left for the owner to delete
            and state.incident is not None
            and "interrupted" in (state.incident.replacement_note or "")
        ),
    ),
    # The owner's DM went out, then the security-channel copy failed past slack_sdk's retries
    # (or with a Retry-After over the client's cap). SlackNotifier.notify then returns the
    # DM's receipt with no copy (adapters/slack/notifier.py: "The owner has the notice, which is
    # what matters; a retry would DM them twice"), the notice is recorded as sent, and nothing
    # retries the copy: only the reminder's escalation posts it, and only if the old key is
    # still not deleted by then. Reported as a gap; the fix is outside this tier's files.
    **{
        ("chat.postMessage#security", kind): Expected(
            "security-copy-not-retried-after-dm",
            "the DM went out; the security copy that failed is never retried",
            ("0 security-channel copies",),
            lambda state: (
                state.incident is not None
                and state.incident.security_channel_ts is None  # so escalation posts it whole
                and state.incident.notification_status is not None
                and state.incident.notification_status.value == "sent"
            ),
        )
        for kind in ("429-retry-after-1-past-retries", "429-retry-after-30", "500-past-retries")
    },
}


# ---------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class AwsCase:
    position: int
    call: str
    kind: str

    @property
    def expected(self) -> Expected | None:
        return EXPECTED.get((self.call, self.kind))

    @property
    def id(self) -> str:
        base = f"{self.position:02d}-{self.call}-{self.kind}"
        return f"{base}-EXPECTED-{self.expected.slug}" if self.expected else base


@dataclass(frozen=True)
class SlackCase:
    position: int
    call: str  # e.g. chat.postMessage#security
    kind: str

    @property
    def method(self) -> str:
        return self.call.partition("#")[0]

    @property
    def expected(self) -> Expected | None:
        return EXPECTED.get((self.call, self.kind))

    @property
    def id(self) -> str:
        base = f"slack{self.position}-{self.call}-{self.kind}"
        return f"{base}-EXPECTED-{self.expected.slug}" if self.expected else base


def aws_cases(calls: tuple[str, ...]) -> list[AwsCase]:
    cases: list[AwsCase] = []
    for position, call in enumerate(calls):
        kinds = AWS_KINDS + (("conflict",) if call in CONDITIONAL_WRITES else ())
        cases.extend(AwsCase(position, call, kind) for kind in kinds)
    return cases


def slack_positions(methods: tuple[str, ...]) -> list[str]:
    """The Slack calls by role: the first post is the owner's DM, the second the copy."""
    roles = {0: "#dm", 1: "#security"}
    names, posts = [], 0
    for method in methods:
        if method == "chat.postMessage":
            names.append(method + roles.get(posts, f"#{posts}"))
            posts += 1
        else:
            names.append(method)
    return names


def slack_cases(methods: tuple[str, ...]) -> list[SlackCase]:
    return [
        SlackCase(position, call, kind)
        for position, call in enumerate(slack_positions(methods))
        for kind in SLACK_KINDS
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, build in (
        ("aws_case", lambda clean: aws_cases(clean.aws_calls)),
        ("slack_case", lambda clean: slack_cases(clean.slack_calls)),
    ):
        if name not in metafunc.fixturenames:
            continue
        try:
            cases: list[Any] = build(clean_incident())
        except Exception as exc:
            # A stack that cannot run a clean incident fails these tests, not the collection
            # of the whole suite.
            failure = f"{type(exc).__name__}: {exc}"
            metafunc.parametrize(name, [failure], ids=["clean-incident-not-recorded"])
            continue
        metafunc.parametrize(name, cases, ids=[c.id for c in cases])


def unrecorded(failure: str) -> NoReturn:
    pytest.fail(f"the clean incident could not be recorded: {failure}")


def check(state: EndState, leak: Leak, created: dict[str, str], expected: Expected | None) -> None:
    problems = state.problems(leak, created)
    if expected is None:
        assert problems == [], problems
        return
    # A documented exception: exactly the documented problems, nothing else and not fewer.
    assert len(problems) == len(expected.problems), problems
    for problem, prefix in zip(problems, expected.problems, strict=True):
        assert problem.startswith(prefix), problems
    assert expected.holds(state), state


# ------------------------------------------------------------------------------ the clean run


def test_a_clean_incident_ends_right_in_one_delivery() -> None:
    clean = clean_incident()
    assert clean.receives == 1
    assert clean.problems == ()
    # Deactivation first, one call, as the architecture promises for an event naming the user.
    assert clean.aws_calls[0] == "iam:UpdateAccessKey"
    assert clean.aws_calls.count("iam:CreateAccessKey") == 1
    assert clean.slack_calls == ("conversations.open", "chat.postMessage", "chat.postMessage")


def test_the_matrix_covers_every_call_and_kind() -> None:
    clean = clean_incident()
    cases = aws_cases(clean.aws_calls)
    conditional = sum(1 for call in clean.aws_calls if call in CONDITIONAL_WRITES)
    assert len(cases) == len(clean.aws_calls) * len(AWS_KINDS) + conditional
    assert len({c.id for c in cases}) == len(cases)
    assert len(slack_cases(clean.slack_calls)) == len(clean.slack_calls) * len(SLACK_KINDS)
    # Every expected exception names a case that exists.
    keys = {(c.call, c.kind) for c in cases}
    keys |= {(c.call, c.kind) for c in slack_cases(clean.slack_calls)}
    assert set(EXPECTED) <= keys


# ------------------------------------------------------------------------------- AWS faults


def client_error(code: str, status: int, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def competing_write(calls: AwsCalls, client: BaseClient, params: dict[str, Any]) -> None:
    """Another worker's write lands first, so our conditional write fails in moto for real."""
    table = params["TableName"]
    if params.get("ConditionExpression") == "attribute_not_exists(pk)":
        # A duplicate delivery created the incident a moment before us.
        calls.original(client, "PutItem", {"TableName": table, "Item": params["Item"]})
        return
    key = {"pk": params["Item"]["pk"]}
    current = calls.original(
        client, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}
    )["Item"]
    # A duplicate delivery recording its sighting.
    current["version"] = {"N": str(int(current["version"]["N"]) + 1)}
    current["sighting_count"] = {"N": str(int(current["sighting_count"]["N"]) + 1)}
    calls.original(client, "PutItem", {"TableName": table, "Item": current})


def inject(case: AwsCase, calls: AwsCalls, seen: list[str]) -> None:
    def around(
        position: int,
        name: str,
        client: BaseClient,
        operation: str,
        params: Any,
        through: Callable[[], Any],
    ) -> Any:
        if position != case.position:
            return through()
        seen.append(name)
        endpoint = client.meta.endpoint_url
        service = name.partition(":")[0]
        if case.kind == "throttled":
            raise client_error(THROTTLING_CODES.get(service, "Throttling"), 400, operation)
        if case.kind == "unavailable":
            raise client_error("ServiceUnavailable", 503, operation)
        if case.kind == "timeout-before":
            raise ConnectTimeoutError(endpoint_url=endpoint)
        if case.kind == "timeout-after":
            through()
            raise ReadTimeoutError(endpoint_url=endpoint)
        assert case.kind == "conflict"
        competing_write(calls, client, params)
        return through()

    calls.around = around


def test_one_aws_fault(
    aws_case: AwsCase | str,
    chaos_stack: ChaosStack,
    aws_calls: AwsCalls,
    shifted_clock: ShiftedClock,
    slack_waits: list[float],
) -> None:
    if isinstance(aws_case, str):
        unrecorded(aws_case)
    fresh_case(chaos_stack)
    leak = new_leak(chaos_stack)
    module = responder_module()
    quiet_waits(module, [])
    seen: list[str] = []
    inject(aws_case, aws_calls, seen)
    delivery = Delivery.of(health_body(leak), chaos_stack.queue_arn)

    deliver_until_done(module, delivery, shifted_clock, aws_calls)

    # The fault hit the call the clean incident made at that position.
    assert seen == [aws_case.call], aws_calls.sequence
    assert delivery.errors == []
    assert delivery.acknowledged or delivery.receives == MAX_RECEIVE_COUNT
    check(end_state(chaos_stack, leak), leak, aws_calls.created, aws_case.expected)


# ------------------------------------------------------------------------------ Slack faults


def test_one_slack_fault(
    slack_case: SlackCase | str,
    chaos_stack: ChaosStack,
    aws_calls: AwsCalls,
    shifted_clock: ShiftedClock,
    slack_waits: list[float],
) -> None:
    if isinstance(slack_case, str):
        unrecorded(slack_case)
    fresh_case(chaos_stack)
    leak = new_leak(chaos_stack)
    module = responder_module()
    quiet_waits(module, [])
    status, retry_after, times = SLACK_KINDS[slack_case.kind]
    methods = slack_positions(clean_incident().slack_calls)
    earlier = sum(1 for m in methods[: slack_case.position] if m.startswith(slack_case.method))
    chaos_stack.standin.fail_next(slack_case.method, status, times, retry_after, after=earlier)
    delivery = Delivery.of(health_body(leak), chaos_stack.queue_arn)

    deliver_until_done(module, delivery, shifted_clock, aws_calls)

    failed = chaos_stack.standin.failed_calls()
    assert [f["method"] for f in failed] == [slack_case.method] * times
    if status == 429 and retry_after <= 5:
        # slack_sdk honoured Retry-After before each retry (waits recorded, not slept).
        assert len([w for w in slack_waits if w >= retry_after]) == min(times, 2)
    elif status == 429:
        # Over the client's cap: not waited for; the redelivery carries the notice instead.
        assert not [w for w in slack_waits if w >= retry_after]
    assert delivery.errors == []
    assert delivery.acknowledged or delivery.receives == MAX_RECEIVE_COUNT
    check(end_state(chaos_stack, leak), leak, aws_calls.created, slack_case.expected)


def test_the_standin_fails_only_the_call_asked_for() -> None:
    """The stand-in's ``after``: the matrix fails the second post (the copy) and not the DM."""
    with SlackStandIn() as standin:
        client = WebClient(token="xoxb-standin", base_url=standin.api_url)
        request = urllib.request.Request(  # noqa: S310 - loopback
            standin.base_url + "_fail",
            data=json.dumps(
                {"method": "chat.postMessage", "status": 500, "times": 1, "after": 1}
            ).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
            assert json.loads(answer.read())["ok"] is True
        assert client.chat_postMessage(channel="C0FIRST001", text="first")["ok"]
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C0SECOND01", text="second")
        assert client.chat_postMessage(channel="C0THIRD001", text="third")["ok"]
        assert [c["params"]["channel"] for c in standin.calls()] == ["C0FIRST001", "C0THIRD001"]
        assert standin.failed_calls() == [{"method": "chat.postMessage", "status": 500}]
