"""The sandbox starts, answers, and exits cleanly on SIGTERM and SIGINT, leaving nothing behind."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import start_sandbox, stop_sandbox

pytestmark = pytest.mark.e2e


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_sandbox_exits_cleanly_and_leaves_nothing_behind(
    tmp_path: Path, sig: signal.Signals
) -> None:
    # Given a ready sandbox
    sandbox = start_sandbox(tmp_path)
    urls = [sandbox.doc[k] for k in ("aws_endpoint", "slack_calls_url", "approval_url")]
    assert all(_listening(u) for u in urls)
    assert _children_of(sandbox.proc.pid) == []
    # When it is signalled
    code = stop_sandbox(sandbox, sig)
    # Then it exits 0, its ports are closed and its ready file is gone
    assert code == 0, sandbox.log()
    assert not any(_listening(u) for u in urls)
    assert not sandbox.ready_file.exists()
    assert "Traceback" not in sandbox.log()
