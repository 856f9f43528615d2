"""Figure 4: a fresh interpreter's first event through the handler, against the bare boto3 floor.

moto runs as a server thread in this (parent) process, started and filled before any timing, so
neither child pays for importing moto. Each child starts with ``AWS_ENDPOINT_URL`` pointing at it:
- handler: import functions/responder/app.py by path, as Lambda does, and handle one SQS event;
- floor: ``import boto3``, build the clients the handler built, and make the calls it made (its
  recorded calls, replayed on a server reset and seeded the same way).
Both times run from the child's first statement to the end of the event; interpreter start-up,
identical on both sides, is left out, which makes the ratio stricter.
"""

from __future__ import annotations

import compileall
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from bench import stack as st
from bench.calls import CallLog, to_json
from bench.containment_bench import Config, Report, recorded_handler, user_with_key
from bench.table import median_ms, row
from leak_responder.adapters.aws.clients import CLIENT_CONFIG
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event

HANDLER_CHILD = r"""
import time
start = time.perf_counter()
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
imported = time.perf_counter()
event = json.loads(open(sys.argv[2]).read())
class Context:
    function_name = "ResponderFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ResponderFunction"
    aws_request_id = "cold"
    @staticmethod
    def get_remaining_time_in_millis():
        return 60000
result = app.lambda_handler(event, Context())
end = time.perf_counter()
print(json.dumps({"import": imported - start, "total": end - start, "result": result,
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""

FLOOR_CHILD = r"""
import time
start = time.perf_counter()
import json, sys
import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
imported = time.perf_counter()
config = Config(**json.loads(sys.argv[2]))
session = boto3.session.Session(region_name="us-east-1")
calls = json.loads(open(sys.argv[1]).read())
clients, mismatches = {}, 0
services = {"secrets-manager": "secretsmanager"}
for call in calls:
    creds = call["creds"]
    key = (call["service"], creds["AccessKeyId"] if creds else None)
    if key not in clients:
        extra = {}
        if creds:
            extra = {"aws_access_key_id": creds["AccessKeyId"],
                     "aws_secret_access_key": creds["SecretAccessKey"],
                     "aws_session_token": creds["SessionToken"]}
        clients[key] = session.client(services.get(call["service"], call["service"]),
                                      config=config, **extra)
    try:
        getattr(clients[key], xform_name(call["operation"]))(**call["params"])
        ok = True
    except ClientError:
        ok = False
    mismatches += ok != call["ok"]
end = time.perf_counter()
print(json.dumps({"import": imported - start, "total": end - start, "mismatches": mismatches,
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


# The handler's client settings, handed to the floor child, which imports only boto3.
_CLIENT_CONFIG = json.dumps(
    {name: getattr(CLIENT_CONFIG, name) for name in ("connect_timeout", "read_timeout", "retries")}
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _post(url: str) -> None:
    request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def _fresh_state(endpoint: str, seed: int) -> tuple[st.Stack, str]:
    """Reset the server, seed its identifiers, provision the stack and one leaked key."""
    _post(f"{endpoint}/moto-api/reset")
    _post(f"{endpoint}/moto-api/seed?a={seed}")
    stack = st.provision()
    key_id = user_with_key("cold-user", boto3.client("iam", region_name=st.REGION))
    return stack, key_id


def _child(script: str, args: list[str], env: dict[str, str], importtime: bool = False) -> Any:
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", script, *args],
        capture_output=True, text=True, env=env, check=False, cwd=st.ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return (result, done.stderr) if importtime else result


def _importtime_top(stderr: str, count: int = 8) -> list[tuple[str, float]]:
    """Top-level packages by cumulative import time (ms), from ``-X importtime`` output."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        if not parts[1].strip().isdigit():
            continue  # the header
        name = parts[2]
        if len(name) - len(name.lstrip()) != 1:
            continue  # nested: counted in its parent's cumulative time
        top = name.strip().split(".")[0]
        totals[top] = totals.get(top, 0.0) + int(parts[1]) / 1000
    return sorted(totals.items(), key=lambda kv: -kv[1])[:count]


def _compile_like_the_layer() -> None:
    """Bytecode for the package, as layers/Makefile ships it in the layer.

    boto3 in the floor loads from bytecode pip compiled at install time; without the same for
    leak_responder (this machine sets PYTHONDONTWRITEBYTECODE) the handler child would pay for
    compiling the package from source on every start, which a deployed layer does not.
    """
    for tree in (st.ROOT / "layers" / "leak_responder", st.ROOT / "functions" / "responder"):
        if not compileall.compile_dir(str(tree), quiet=1):
            raise RuntimeError(f"cannot compile {tree}")


def figure_cold_start(cfg: Config) -> Report:
    report = Report()
    _compile_like_the_layer()
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "POWERTOOLS"))
    }
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        event_file, calls_file = Path(tmp) / "event.json", Path(tmp) / "calls.json"
        with st.patched_env({**st.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}):
            stack, key_id = _fresh_state(endpoint, cfg.seed)
            body = st.health_body(key_id, "cold-user")
            event_file.write_text(json.dumps(sqs_event([body], stack.queue_arn)))
            # The calls to replay: the same first event, recorded in this process, untimed.
            with st.patched_env({**st.FAKE_CREDENTIALS, **stack.env, "AWS_ENDPOINT_URL": endpoint}):
                with recorded_handler() as (handler, log):
                    handler.lambda_handler(json.loads(event_file.read_text()), lambda_context())
                recorded: CallLog = log
            calls_file.write_text(json.dumps(to_json(recorded.calls)))
        env = {**base_env, **st.FAKE_CREDENTIALS, **stack.env, "AWS_ENDPOINT_URL": endpoint}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        handler_runs, floor_runs = [], []
        for _ in range(cfg.cold_repeats):
            with st.patched_env({**st.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}):
                _fresh_state(endpoint, cfg.seed)
            app = str(st.ROOT / "functions" / "responder" / "app.py")
            handler_runs.append(_child(HANDLER_CHILD, [app, str(event_file)], env))
            with st.patched_env({**st.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}):
                _fresh_state(endpoint, cfg.seed)
            floor_runs.append(_child(FLOOR_CHILD, [str(calls_file), _CLIENT_CONFIG], env))
        with st.patched_env({**st.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}):
            _fresh_state(endpoint, cfg.seed)
        app = str(st.ROOT / "functions" / "responder" / "app.py")
        traced, stderr = _child(HANDLER_CHILD, [app, str(event_file)], env, importtime=True)
    h_total = median_ms(r["total"] for r in handler_runs)
    f_total = median_ms(r["total"] for r in floor_runs)
    h_import = median_ms(r["import"] for r in handler_runs)
    f_import = median_ms(r["import"] for r in floor_runs)
    mismatches = sum(r["mismatches"] for r in floor_runs)
    failed = [r["result"] for r in handler_runs if r["result"] != {"batchItemFailures": []}]
    slack_free = all("slack_sdk" not in r["modules"] for r in handler_runs)
    n = len(handler_runs)
    report.rows += [
        row(f"4. cold start: import + first event, fresh interpreter (ms, median of {n})",
            f"{h_total:.0f}", f"{f_total:.0f} (import boto3, same clients, same "
            f"{len(recorded.calls)} calls)", h_total / f_total, "≤ 1.3x",
            h_total / f_total <= 1.3 and not failed and mismatches == 0),
        row("4. cold start: of which imports (ms)", f"{h_import:.0f}",
            f"{f_import:.0f} (import boto3)", h_import / f_import, "—", True),
        row("4. cold start: slack_sdk off the path (no Slack configured)",
            "not imported" if slack_free else "imported", "not imported", None,
            "not imported", slack_free),
    ]  # fmt: skip
    extra = sorted(set(traced["modules"]) - set(floor_runs[-1]["modules"]))
    top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in _importtime_top(stderr))
    report.notes.append(f"cold start, top-level imports by cumulative time (-X importtime): {top}")
    report.notes.append(
        "cold start, packages loaded by the handler beyond the floor's after the first event: "
        + ", ".join(m for m in extra if not m.startswith("_"))
    )
    return report
