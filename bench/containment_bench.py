"""Figures 1-4 and the responder half of 6: the responder handler against its floors.

Every floor is the handler's own recorded API calls made straight from boto3 (see calls.py), so a
ratio is the handler's cost per event over the cost of the AWS work it does, on the same moto.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from bench import stack as st
from bench.calls import Call, CallLog, RecordingFactory, Replayer, from_json, load_handler, to_json
from bench.table import Row, median_ms, row
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event

CHILD = [sys.executable, "-m", "bench.containment_bench"]


@dataclass(frozen=True)
class Config:
    rounds: int = 5  # figure 2: fresh moto per round, handler then floor
    events_per_round: int = 8
    burst_messages: int = 1000
    burst_keys: int = 300
    batch_size: int = 10
    cold_repeats: int = 5
    seed: int = 20261128


QUICK = Config(rounds=1, events_per_round=2, burst_messages=30, burst_keys=10, cold_repeats=1)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- harness --------------------------------------------------------------------------------------
@contextmanager
def moto_stack(seed: int, member_role: bool = True) -> Iterator[st.Stack]:
    """In-process moto with moto's identifiers seeded, and the template's resources."""
    from moto import mock_aws
    from moto.moto_api._internal import mock_random

    with st.patched_env(st.FAKE_CREDENTIALS), mock_aws():
        mock_random.seed(seed)
        stack = st.provision(member_role)
        with st.patched_env({**st.FAKE_CREDENTIALS, **stack.env}):
            yield stack


def user_with_key(name: str, iam: Any) -> str:
    iam.create_user(UserName=name)
    return str(iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])


@contextmanager
def recorded_handler() -> Iterator[tuple[Any, CallLog]]:
    """The real handler module, its responder built over a recording client factory.

    ``responder_for`` is the handler's seam for building the responder (lru-cached on the
    settings); the bench swaps it for one that passes ``build_responder`` our factory.
    """
    from leak_responder.observability import logger
    from leak_responder.settings import Settings
    from leak_responder.wiring import build_responder

    handler = load_handler()
    log = CallLog()
    responder = build_responder(Settings.from_env(), RecordingFactory(log, st.REGION))
    original = handler.responder_for
    setattr(handler, "responder_for", lambda _settings: responder)  # noqa: B010 (a module)
    # Log records are still formatted (a real cost in Lambda), just not printed to the terminal.
    output: Any = logger.registered_handler
    stream = output.stream
    with open(os.devnull, "w") as devnull:
        output.setStream(devnull)
        try:
            yield handler, log
        finally:
            output.setStream(stream)
            setattr(handler, "responder_for", original)  # noqa: B010


def invoke(handler: Any, stack: st.Stack, bodies: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(
        sqs_event(bodies, stack.queue_arn), lambda_context()
    )
    return result


# -- figure 1 -------------------------------------------------------------------------------------
def figure_calls(cfg: Config) -> Report:
    report = Report()
    with moto_stack(cfg.seed) as stack, recorded_handler() as (handler, log):
        iam = boto3.client("iam", region_name=st.REGION)
        member_iam = st.member_iam()
        iam.create_role(RoleName="deploy", AssumeRolePolicyDocument="{}")
        named, unnamed, bare = (user_with_key(f"user-{i}", iam) for i in range(3))
        member_1, member_2 = (user_with_key(f"member-{i}", member_iam) for i in range(2))
        session_key = "ASIA" + "".join(random.Random(cfg.seed).choices("ABCDEFGHJKLMNPQR", k=16))
        cases = [
            ("event names the user (Health)", st.health_body(named, "user-0"), 1, "= 1"),
            ("event does not name the user (Health 2016)", st.health_body(unnamed, None), 2, "= 2"),
            ("no user, no account (scanner v1)", st.scanner_body(bare, None), 3, "≤ 3"),
            ("other account, 1st key, no user/account", st.scanner_body(member_1, None), 4, "≤ 4"),
            ("other account, 2nd key (session cached)", st.scanner_body(member_2, None), 3, "≤ 4"),
            ("ASIA key of a role (GuardDuty)", _asia_body(session_key), 1, "= 1"),
            ("duplicate delivery (Health, named)", st.health_body(named, "user-0"), 1, "= 1"),
        ]
        for label, body, floor, target in cases:
            log.reset()
            result = invoke(handler, stack, [body])
            before = log.before_containment()
            limit = int(target.split()[-1])
            ok = (
                result == {"batchItemFailures": []}
                and log.contained_at is not None
                and len(before) <= limit
            )
            if "2nd key" in label:
                ok = ok and "sts:AssumeRole" not in before
            report.rows.append(
                row(
                    f"1. calls before Inactive: {label}",
                    f"{len(before)} ({', '.join(op.split(':')[1] for op in before)})",
                    f"{floor}",
                    len(before) / floor,
                    target,
                    ok,
                )
            )
            services = ", ".join(f"{s} {n}" for s, n in sorted(log.by_service().items()))
            report.notes.append(f"calls per incident, {label}: {len(log.calls)} ({services})")
            if label.startswith("event names"):
                work = [c for c in log.calls if c.service != "dynamodb"]
                report.rows.append(
                    row(
                        "1. calls per incident (named user): total / AWS work without the record",
                        f"{len(log.calls)} ({services})",
                        f"{len(work)}",
                        len(log.calls) / len(work),
                        "—",
                        True,
                    )
                )
                report.notes.append(
                    "order of calls, named user: " + " → ".join(c.operation for c in log.calls)
                )
    return report


def _asia_body(key_id: str) -> str:
    event = st.sample("guardduty_assumed_role")
    event["detail"]["accountId"] = st.HOME
    details = event["detail"]["resource"]["accessKeyDetails"]
    details.update(accessKeyId=key_id, userName="deploy", userType="AssumedRole")
    return json.dumps(event)


# -- figure 2 -------------------------------------------------------------------------------------
@dataclass
class EventTiming:
    to_inactive: float
    full: float
    calls: list[Call]


def _setup_named_users(count: int) -> list[tuple[str, str]]:
    iam = boto3.client("iam", region_name=st.REGION)
    return [(f"user-{i}", user_with_key(f"user-{i}", iam)) for i in range(count)]


def _handler_round(cfg: Config, seed: int) -> tuple[list[tuple[str, str]], list[EventTiming]]:
    timings = []
    with moto_stack(seed, member_role=False) as stack, recorded_handler() as (handler, log):
        users = _setup_named_users(cfg.events_per_round + 1)
        events = [sqs_event([st.health_body(k, u)], stack.queue_arn) for u, k in users]
        for i, event in enumerate(events):
            log.reset()
            start = time.perf_counter()
            result = handler.lambda_handler(event, lambda_context())
            end = time.perf_counter()
            assert result == {"batchItemFailures": []}, result
            assert log.contained_clock is not None
            if i:  # the first event builds the clients: warm-up, untimed on both sides
                timings.append(EventTiming(log.contained_clock - start, end - start, log.calls))
            else:
                warmup = log.calls
    return users, [EventTiming(0, 0, warmup), *timings]


def _floor_round(
    seed: int, users: list[tuple[str, str]], recorded: list[EventTiming]
) -> tuple[list[EventTiming], int]:
    timings, mismatches = [], 0
    with moto_stack(seed, member_role=False):
        if _setup_named_users(len(users)) != users:
            raise RuntimeError("moto's seeded identifiers differ between rounds: cannot replay")
        log = CallLog()
        replayer = Replayer(st.REGION, log)
        replayer.warm(c for t in recorded for c in t.calls)
        for i, event in enumerate(recorded):
            log.reset()
            cut = next(n for n, c in enumerate(event.calls, 1) if c.contains)
            start = time.perf_counter()
            mismatches += replayer.replay(event.calls[:cut])
            inactive = time.perf_counter()
            mismatches += replayer.replay(event.calls[cut:])
            end = time.perf_counter()
            if i:
                timings.append(EventTiming(inactive - start, end - start, []))
    return timings, mismatches


def figure_overhead(cfg: Config) -> Report:
    handler: list[EventTiming] = []
    floor: list[EventTiming] = []
    mismatches = 0
    for r in range(cfg.rounds):
        seed = cfg.seed + r
        users, recorded = _handler_round(cfg, seed)
        handler += recorded[1:]
        timings, bad = _floor_round(seed, users, recorded)
        floor += timings
        mismatches += bad
    calls = len(recorded[1].calls)
    report = Report()
    for label, attr, what in (
        ("SQS record → key Inactive", "to_inactive", "UpdateAccessKey"),
        ("SQS record → incident done", "full", f"the handler's {calls} calls"),
    ):
        h = median_ms([getattr(t, attr) for t in handler])
        f = median_ms([getattr(t, attr) for t in floor])
        report.rows.append(
            row(
                f"2. handler, warm, named user: {label} (ms, median of {len(handler)})",
                f"{h:.2f}",
                f"{f:.2f} ({what}, boto3 direct)",
                h / f,
                "≤ 1.5x",
                h / f <= 1.5 and mismatches == 0,
            )
        )
    report.notes.append(
        "figure 2 floor: the handler's recorded calls replayed from warm boto3 clients (same "
        f"client config, same hooks) on a moto seeded alike; replay mismatches: {mismatches}"
    )
    return report


# -- figure 3 and 6 (responder): the burst, in subprocesses ---------------------------------------
def burst_plan(cfg: Config) -> list[tuple[int, str]]:
    """(key index, source) per message: every key once, the rest duplicates, shuffled."""
    rng = random.Random(cfg.seed)
    sources = ["health", "health-unnamed", "guardduty", "securityhub", "trustedadvisor",
               "scanner", "scanner-no-account", "cloudtrail"]  # fmt: skip
    picks = list(range(cfg.burst_keys)) + [
        rng.randrange(cfg.burst_keys) for _ in range(cfg.burst_messages - cfg.burst_keys)
    ]
    rng.shuffle(picks)
    return [(k, rng.choice(sources)) for k in picks]


def _burst_keys(cfg: Config) -> list[tuple[str, str, str]]:
    """(account, user, key id) for each key; every tenth lives in the member account."""
    iam = boto3.client("iam", region_name=st.REGION)
    member_iam = st.member_iam()
    keys = []
    for i in range(cfg.burst_keys):
        account, client = (st.MEMBER, member_iam) if i % 10 == 9 else (st.HOME, iam)
        keys.append((account, f"burst-{i}", user_with_key(f"burst-{i}", client)))
    return keys


def _body(source: str, account: str, user: str, key_id: str) -> str:
    if source == "health":
        return st.health_body(key_id, user, account)
    if source == "health-unnamed":
        return st.health_body(key_id, None, account)
    if source == "guardduty":
        return st.guardduty_body(key_id, user, account)
    if source == "securityhub":
        return st.securityhub_body(key_id, user, account)
    if source == "trustedadvisor":
        return st.trustedadvisor_body(key_id, user, account)
    if source == "scanner":
        return st.scanner_body(key_id, account)
    if source == "scanner-no-account":
        return st.scanner_body(key_id, None)
    return st.cloudtrail_body(user, account)


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def burst_handler(cfg: Config, calls_file: Path) -> dict[str, Any]:
    plan = burst_plan(cfg)
    with moto_stack(cfg.seed) as stack, recorded_handler() as (handler, log):
        keys = _burst_keys(cfg)
        bodies = [_body(s, *keys[k]) for k, s in plan]
        batches = [bodies[i : i + cfg.batch_size] for i in range(0, len(bodies), cfg.batch_size)]
        events = [sqs_event(b, stack.queue_arn) for b in batches]
        failures = 0
        start = time.perf_counter()
        for event in events:
            failures += len(handler.lambda_handler(event, lambda_context())["batchItemFailures"])
        elapsed = time.perf_counter() - start
        calls_file.write_text(json.dumps(to_json(log.calls)))
        checks = _verify_burst(stack, keys, plan)
    return {"elapsed": elapsed, "failures": failures, "peak_rss_mb": peak_rss_mb(),
            "calls": len(log.calls), **checks}  # fmt: skip


def _verify_burst(
    stack: st.Stack, keys: list[tuple[str, str, str]], plan: list[tuple[int, str]]
) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    iam = {st.HOME: boto3.client("iam", region_name=st.REGION), st.MEMBER: st.member_iam()}
    ddb = boto3.client("dynamodb", region_name=st.REGION)
    sqs = boto3.client("sqs", region_name=st.REGION)
    # Every message is a sighting on its key's incident, except a quarantine event met after its
    # key was contained: it names only the user, whose only active key is then our replacement,
    # so it expands to no key (domain/containment.expand) and is acknowledged without one.
    expected: dict[int, int] = {}
    for k, source in plan:
        if source == "cloudtrail" and k in expected:
            continue
        expected[k] = expected.get(k, 0) + 1
    bad_replacements, sightings, extra_sightings, not_contained = [], 0, 0, []
    for index, (account, user, key_id) in enumerate(keys):
        listed = iam[account].list_access_keys(UserName=user)["AccessKeyMetadata"]
        statuses = {m["AccessKeyId"]: m["Status"] for m in listed}
        if statuses.pop(key_id, None) != "Inactive" or list(statuses.values()) != ["Active"]:
            bad_replacements.append(user)
        item = ddb.get_item(
            TableName=stack.table, Key={"pk": {"S": f"{account}#{key_id}"}}, ConsistentRead=True
        ).get("Item")
        if not item or TypeDeserializer().deserialize(item["status"]) != "contained":
            not_contained.append(user)
            continue
        count = int(TypeDeserializer().deserialize(item["sighting_count"]))
        sightings += min(count, expected[index])
        extra_sightings += max(0, count - expected[index])
    attrs = sqs.get_queue_attributes(
        QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return {
        "keys_with_one_replacement": len(keys) - len(bad_replacements),
        "bad_replacements": bad_replacements[:5],
        "not_contained": not_contained[:5],
        "sightings": sightings,
        "expected_sightings": sum(expected.values()),
        "extra_sightings": extra_sightings,
        "quarantine_after_containment": len(plan) - sum(expected.values()),
        "dlq": int(attrs["ApproximateNumberOfMessages"]),
    }


def burst_floor(cfg: Config, calls_file: Path) -> dict[str, Any]:
    calls = from_json(json.loads(calls_file.read_text()))
    with moto_stack(cfg.seed):
        _burst_keys(cfg)
        log = CallLog()
        # Clients are built as the calls need them, as the handler's were during its burst.
        replayer = Replayer(st.REGION, log)
        start = time.perf_counter()
        mismatches = replayer.replay(calls)
        elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "mismatches": mismatches, "peak_rss_mb": peak_rss_mb()}


def _child(role: str, cfg: Config, calls_file: Path) -> dict[str, Any]:
    args = [*CHILD, role, "--calls-file", str(calls_file), "--config", json.dumps(cfg.__dict__)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, cwd=st.ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{role} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def figure_burst(cfg: Config) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        calls_file = Path(tmp) / "calls.json"
        handler = _child("burst-handler", cfg, calls_file)
        floor = _child("burst-floor", cfg, calls_file)
    n, keys = cfg.burst_messages, cfg.burst_keys
    h_rate, f_rate = n / handler["elapsed"], n / floor["elapsed"]
    lost = handler["expected_sightings"] - handler["sightings"] + handler["failures"]
    one_each = handler["keys_with_one_replacement"] == keys and not handler["not_contained"]
    report = Report()
    label = f"{n} msgs / {keys} keys / batches of {cfg.batch_size}"
    report.rows += [
        row(f"3. burst ({label}): events/s", f"{h_rate:.0f}",
            f"{f_rate:.0f} (same calls, boto3 direct)", h_rate / f_rate, "—", True),
        row("3. burst: keys with exactly one replacement",
            f"{handler['keys_with_one_replacement']}", f"{keys}", None, f"= {keys}", one_each),
        row("3. burst: lost messages", f"{lost}", "0", None, "= 0", lost == 0),
        row("3. burst: DLQ messages", f"{handler['dlq']}", "0", None, "= 0", handler["dlq"] == 0),
        row("6. peak RSS, responder during the burst (MB)", f"{handler['peak_rss_mb']:.0f}",
            f"{floor['peak_rss_mb']:.0f} (replay process)",
            handler["peak_rss_mb"] / floor["peak_rss_mb"], "—", True),
    ]  # fmt: skip
    report.notes.append(
        f"burst: {handler['calls']} AWS calls for {n} messages; replay mismatches "
        f"{floor['mismatches']}; keys failing the one-replacement check: "
        f"{handler['bad_replacements'] or 'none'}; not contained: "
        f"{handler['not_contained'] or 'none'}; sightings beyond one per message: "
        f"{handler['extra_sightings']}"
    )
    report.notes.append(
        f"burst: {handler['quarantine_after_containment']} CloudTrail quarantine events arrived "
        "after their key was contained; each was acknowledged without a new sighting (it names "
        "only the user, whose one active key is then the replacement, which is left alone); "
        "every other message is a sighting on its key's incident"
    )
    report.notes.append(
        "peak RSS is VmHWM of a process holding in-process moto as well as the code under test; "
        "the baseline process holds the same moto state and replays the same calls"
    )
    return report


# -- entry ----------------------------------------------------------------------------------------
def run(cfg: Config = Config()) -> Report:
    from bench import cold_start

    report = Report()
    for part in (figure_calls, figure_overhead, figure_burst, cold_start.figure_cold_start):
        done = part(cfg)
        report.rows += done.rows
        report.notes += done.notes
    return report


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.containment_bench")
    parser.add_argument("role", choices=["burst-handler", "burst-floor"])
    parser.add_argument("--calls-file", type=Path, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    cfg = Config(**json.loads(args.config))
    work = burst_handler if args.role == "burst-handler" else burst_floor
    print(json.dumps(work(cfg, args.calls_file)))


if __name__ == "__main__":
    main(sys.argv[1:])
