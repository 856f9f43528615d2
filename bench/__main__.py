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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.containment_bench import QUICK, Config, Report
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
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from(args)
    started = time.perf_counter()
    from bench import containment_bench

    report: Report = containment_bench.run(cfg)
    rows: list[dict[str, Any]] = list(report.rows)
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
    for note in report.notes:
        print(f"- {note}")
    print(f"\n{len(rows)} rows in {elapsed:.0f} s; config: {dataclasses.asdict(cfg)}")
    if args.output != "-":
        write(Path(args.output), table, report.notes, cfg, args, elapsed)
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
