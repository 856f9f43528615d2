"""`make bench` in its smallest configuration: every row present, correctness columns hold.

Speed is never asserted here: only that the benchmark runs, that each figure is in the table,
and that its correctness checks (call counts, one replacement per key, nothing lost, empty DLQ,
replays that match the recording) hold. Figures 5 and 6 of the scanner have their own tests.
"""

from __future__ import annotations

import pytest

from bench.containment_bench import QUICK, Report, run

CORRECTNESS = (
    "1. calls before Inactive",
    "3. burst: keys with exactly one replacement",
    "3. burst: lost messages",
    "3. burst: DLQ messages",
    "4. cold start: slack_sdk off the path",
)
EXPECTED_ROWS = (
    *CORRECTNESS,
    "1. calls per incident",
    "2. handler, warm, named user: SQS record → key Inactive",
    "2. handler, warm, named user: SQS record → incident done",
    "3. burst (",
    "4. cold start: import + first event",
    "6. peak RSS, responder during the burst",
)


@pytest.fixture(scope="module")
def report() -> Report:
    return run(QUICK)


def test_every_figure_has_its_row(report: Report) -> None:
    figures = [r["figure"] for r in report.rows]
    for prefix in EXPECTED_ROWS:
        assert any(f.startswith(prefix) for f in figures), f"no row {prefix!r} in {figures}"
    assert all(r["baseline"] not in (None, "") for r in report.rows)


def test_correctness_columns_hold(report: Report) -> None:
    checked = [r for r in report.rows if r["figure"].startswith(CORRECTNESS)]
    assert len(checked) >= len(CORRECTNESS) + 5  # seven sources of figure 1
    failing = [(r["figure"], r["value"]) for r in checked if not r["ok"]]
    assert failing == []


def test_calls_before_inactive_match_the_issue(report: Report) -> None:
    counts = {
        r["figure"].removeprefix("1. calls before Inactive: "): int(r["value"].split()[0])
        for r in report.rows
        if r["figure"].startswith("1. calls before Inactive")
    }
    assert counts["event names the user (Health)"] == 1
    assert counts["event does not name the user (Health 2016)"] == 2
    assert counts["other account, 1st key, no user/account"] <= 4
    assert counts["other account, 2nd key (session cached)"] <= 4


def test_replays_matched_the_recording(report: Report) -> None:
    # A floor is only a floor if the same calls ended the same way.
    assert any("replay mismatches: 0" in n for n in report.notes)
    assert any("replay mismatches 0" in n for n in report.notes)
