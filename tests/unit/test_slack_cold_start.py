"""slack_sdk and Powertools Parameters must not load before the key is deactivated: the
responder imports them lazily, when a notice is due (cold-start time is time to contain)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("responder_app", "functions/responder/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import leak_responder.wiring, leak_responder.domain.containment  # noqa: F401
print(sorted(m for m in sys.modules if m.split(".")[0] == "slack_sdk"
             or m.startswith("aws_lambda_powertools.utilities.parameters")))
"""


def test_responder_import_does_not_load_slack_sdk() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_the_slack_factory_does_load_it() -> None:
    probe = "import sys, leak_responder.adapters.slack.factory; print('slack_sdk' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"
