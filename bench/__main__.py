"""``make bench``: every figure beside its baseline, measured side by side in one run.

    python -m bench [--quick] [--scanner-mb N] [--rounds N] [--burst-messages N] ...

Prints one Markdown table and writes it, with notes on the machine and the method, to
docs/benchmarks.md (``--output`` to write elsewhere, ``--output -`` not to write at all).
Exit status 1 if a figure misses its target.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.aws_model import SOURCES
from bench.containment_bench import QUICK, Config, Report
from bench.storm_bench import StormConfig, storm_config
from bench.table import render, row

ROOT = Path(__file__).resolve().parents[1]
QUICK_SCANNER_MB = 20


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smallest configuration: a smoke run")
    parser.add_argument("--scanner-mb", type=int, help="scanner corpus size (default 300)")
    parser.add_argument("--no-scanner", action="store_true", help="skip figures 5 and 6 (scanner)")
    parser.add_argument("--rounds", type=int, help=f"figure 2 rounds ({defaults.rounds})")
    parser.add_argument("--events-per-round", type=int, help=f"({defaults.events_per_round})")
    parser.add_argument("--burst-messages", type=int, help=f"({defaults.burst_messages})")
    parser.add_argument("--burst-keys", type=int, help=f"({defaults.burst_keys})")
    parser.add_argument("--cold-repeats", type=int, help=f"({defaults.cold_repeats})")
    storm = StormConfig()
    parser.add_argument(
        "--no-storm", action="store_true", help="skip figures 7 and 8 (modelled AWS latency)"
    )
    parser.add_argument("--storm-keys", type=int, help=f"figure 8 keys ({storm.keys})")
    parser.add_argument(
        "--storm-workers", type=int, help=f"figure 8 workers per event source ({storm.workers})"
    )
    parser.add_argument(
        "--iam-write-rate",
        type=float,
        help=f"account-wide IAM writes per model second ({storm.iam_write_rate:g})",
    )
    parser.add_argument(
        "--model-scale", type=float, help=f"real seconds per model second ({storm.scale:g})"
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    cfg = QUICK if args.quick else Config()
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Config)
        if getattr(args, f.name, None) is not None
    }
    return dataclasses.replace(cfg, **overrides)


def storm_rows(cfg: StormConfig) -> Report:
    from bench import storm_bench

    return storm_bench.run(cfg)


def scanner_rows(size_mb: int) -> list[dict[str, Any]]:
    from bench import scanner_bench

    rows = scanner_bench.run(size_mb)
    for r in rows:
        number = "6." if "RSS" in r["figure"] else "5."
        r["figure"] = f"{number} {r['figure']}"
    return rows


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{total_kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return [
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"CPU: {cpu}; nproc {os.cpu_count()}",
        f"memory: {memory}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
    ]


METHOD = """\
- **Floors.** The containment floors are the handler's own AWS calls, recorded with botocore
  event hooks on every client its `ClientFactory` builds, then made again straight from boto3
  clients (same client config, same hooks) against a moto whose identifiers were seeded the same
  way, so key IDs and conditional writes line up; a replay whose calls end differently from the
  recording is reported. A ratio is therefore the handler's cost over the AWS work it does.
- **Stack.** Every figure runs against all of template.yaml's resources, created by the
  sandbox's provisioner under a fixed stack name, and the responder's environment as the
  template resolves it (Globals merged; Slack variables left out, so no notifier is built).
- **Figure 1** counts calls with `before-call`/`after-call` hooks; the call that made the key
  Inactive is the first successful `UpdateAccessKey(Status=Inactive)` (or, for an ASIA key,
  the revoke-sessions `PutRolePolicy`/`PutUserPolicy`).
- **Figure 2** runs the real `functions/responder/app.py` handler warm, against in-process moto
  (`mock_aws`), one SQS event per key; fresh moto per round, handler then floor, medians.
- **Figure 3** runs the burst in a child process (then the floor in another), real sample events
  from `tests/events/` rewritten to the generated keys, every tenth key in a second moto account
  reached through the member role.
- **Figure 4** starts a moto server thread in the bench process, then one fresh interpreter per
  sample for the handler and one for the floor, each pointed at it with `AWS_ENDPOINT_URL`.
- **Figures 5, 6 (scanner)** come from `bench/scanner_bench.py`.
- Times are medians; moto stands in for AWS, so absolute milliseconds mean little, ratios more.
- **Figures 7, 8** (`bench/storm_bench.py`, alone: `python -m bench.storm_bench`) run the real
  handler on in-process moto under the latency and rate model below, with the Slack stand-in
  answering the notices (its API URL as `SLACK_API_URL`, so no token secret is read; each user
  tagged with a Slack ID, so each notice is conversations.open and two chat.postMessage). Figure
  7: one SQS event of 10 Health events for 10 users' keys; from the invocation to the last key
  Inactive, beside 10 UpdateAccessKey calls in a row from one client of the same model on other
  users' keys, after the handler in each round; medians of the rounds. Figure 8: the keys'
  Health events wait in LeakQueue; for each SQS event source of ResponderFunction in
  template.yaml, `--storm-workers` threads each act as one Lambda instance and its share of the
  event source mapping: long-poll ReceiveMessage (10 at most, every attribute; moto's long poll
  of 1 s real wakes when a message is sent, and sees a record visible again within that second),
  the Lambda SQS event (`leak_sandbox.worker.lambda_sqs_event`), the real handler,
  DeleteMessageBatch for what succeeded. Every worker has its own warm responder; all share one
  IAM write budget. A failed record is made visible again after 5 model s instead of after the
  template's 360 s visibility timeout, which the queues keep so that records in flight never
  reappear while their invocation runs. The storm ends when every queue is drained and every
  worker idle, or at its timeout (reported as a failure). Keys Inactive and replaced are read
  from the clients' `after-call` hooks, notices from the Slack stand-in's answers; the end state
  (keys, tags, incidents, DLQ) from moto afterwards.

### Latency and rate model

- `bench/aws_model.py` installs botocore hooks on every client the responder's `ClientFactory`
  builds (`ModelFactory`). `before-send`, registered ahead of moto's own, makes an IAM write
  over the account's budget wait its latency and answer IAM's own error (HTTP 400, XML,
  `Throttling`, `Rate exceeded`), so botocore's retry handler and error parsing see what AWS
  would send; the refused request is pointed where moto does not answer, because botocore emits
  `before-send` to every handler and moto would otherwise still apply the write. Any other
  request is answered by moto, and `needs-retry` then sleeps until the call has lasted its
  sampled latency (moto's own time included). A throttled request costs its latency and takes no
  token. botocore's retry back-off is waited in model time. How late moto answered beyond the
  modelled latency (its CPU time under the GIL) is reported in the notes.
- Latency: lognormal per service, `median x exp(0.3 Z)`, seeded. IAM writes 120 ms, IAM reads
  (Get/List/Generate/Simulate) 60 ms, STS 40 ms, Secrets Manager 40 ms, DynamoDB 8 ms, SQS
  10 ms, Slack Web API 150 ms (slept by the stand-in, `SlackStandIn(latency=...)`), anything
  else 60 ms.
- Rate: one token bucket per account for IAM writes, R per second (`--iam-write-rate`, default
  10), burst R, shared by every client and thread of that account; reads are never throttled.
- Time scale: `--model-scale` real seconds per model second (default 0.2): every sleep,
  botocore's back-off included, is multiplied by it and R divided by it. SQS timers set through
  a modelled client (DelaySeconds, VisibilityTimeout) are model seconds too, scaled to the whole
  real seconds SQS counts, rounded up or down at random in proportion so that they last as
  long on average. The responder's clock (leases, claims, recorded times), its pause between
  retried writes, the urgent call's pacer (`adapters/aws/pacing.py`) and the Lambda context's
  time left run in model time too. Figures 7 and 8 are in model seconds.
- moto's SQS scans the whole queue, reading a costly clock per message, several times per
  ReceiveMessage and per requested attribute (0.4 s of CPU per receive on a queue of 1,000),
  all of it holding the GIL every modelled call waits for; for figures 7 and 8 its clock is
  `time.time()` and each call computes the queue's attributes once (`quick_moto_sqs`): the same
  answers, in a fraction of the time. What still overruns the modelled latencies is reported.
- Sources and assumptions:
"""
METHOD += textwrap.indent(SOURCES, "  ")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from(args)
    started = time.perf_counter()
    from bench import containment_bench

    report: Report = containment_bench.run(cfg)
    rows: list[dict[str, Any]] = list(report.rows)
    notes = list(report.notes)
    storm = storm_config(args)
    if not args.no_storm:
        modelled = storm_rows(storm)
        rows += modelled.rows
        notes += modelled.notes
    if not args.no_scanner:
        size = args.scanner_mb or (QUICK_SCANNER_MB if args.quick else 300)
        try:
            rows += scanner_rows(size)
        except Exception as exc:  # the containment figures are still worth printing
            rows.append(row("5. scanner", f"failed: {type(exc).__name__}: {exc}", "—", None,
                            "runs", False))  # fmt: skip
    rows.sort(key=lambda r: str(r["figure"]).split(".")[0])  # stable: figure order kept
    table = render(rows)
    elapsed = time.perf_counter() - started
    print(table)
    print()
    for note in notes:
        print(f"- {note}")
    print(f"\n{len(rows)} rows in {elapsed:.0f} s; config: {dataclasses.asdict(cfg)}")
    if args.output != "-":
        write(Path(args.output), table, notes, cfg, args, elapsed)
    return 0 if all(r["ok"] for r in rows) else 1


def write(
    path: Path, table: str, notes: list[str], cfg: Config, args: argparse.Namespace, elapsed: float
) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand. Each figure sits beside",
        "its baseline, measured side by side in the same run.",
        "",
        table,
        "",
        "## Machine",
        "",
        *(f"- {m}" for m in machine()),
        f"- run: {elapsed:.0f} s; `{' '.join(['python -m bench', *sys.argv[1:]])}`; "
        f"config {dataclasses.asdict(cfg)}",
        "",
        "## Notes from this run",
        "",
        *(f"- {n}" for n in notes),
        "",
        "## Method",
        "",
        METHOD,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"written to {path}")


if __name__ == "__main__":
    sys.exit(main())
