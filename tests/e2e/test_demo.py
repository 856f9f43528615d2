"""`make demo`'s entry point runs the whole story and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_the_demo_tells_the_whole_story_and_exits_0() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "leak_responder", "demo", "--no-color"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for step in range(1, 8):
        assert f"Step {step}." in out
    assert "Demo complete" in out
    assert "FAILED" not in out
    # The summary table has a row per key with its final state.
    assert "Deleted (deleted)" in out
    assert "Inactive (contained)" in out
