"""The local tooling's commands, ``leak-responder sandbox`` and ``leak-responder demo``.

They join the runtime package's ``leak-responder`` command through the ``leak_responder.commands``
entry-point group (pyproject.toml), so ``leak_responder`` never imports this package: a Lambda
layer, which does not hold it, simply has no such commands.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

EXIT_OK, EXIT_USAGE = 0, 2

# What `leak-responder sandbox` and `demo` need beyond the runtime (pyproject.toml, the sandbox
# extra); a runtime-only install still lists the commands, so it must say what is missing.
INSTALL_HINT = "pip install 'leak-responder[sandbox]'"


def _missing_extra(command: str, exc: ModuleNotFoundError) -> int:
    print(
        f"leak-responder {command}: needs the sandbox extra ({exc.name or exc} is not "
        f"installed): {INSTALL_HINT}",
        file=sys.stderr,
    )
    return EXIT_USAGE


def add_sandbox_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser(
        "sandbox",
        help="run the whole system on loopback (moto, Slack stand-in, approval URL, worker)",
        description="Start the sandbox; write the ready file when everything accepts requests; "
        "run until SIGTERM or SIGINT.",
    )
    sandbox.add_argument("--ready-file", required=True, type=Path, metavar="PATH")
    sandbox.add_argument(
        "--template",
        type=Path,
        default=None,
        help="template.yaml (default: $LEAK_RESPONDER_TEMPLATE, else the nearest template.yaml "
        "in the current directory or above it)",
    )
    sandbox.add_argument(
        "--retry-delay",
        type=int,
        default=1,
        metavar="SECONDS",
        help="how soon a failed record is visible again (default 1)",
    )
    sandbox.add_argument("--verbose", action="store_true", help="log the handlers at INFO")
    sandbox.set_defaults(run=run_sandbox)


def add_demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="the end-to-end story on the sandbox (make demo)")
    demo.add_argument("--no-color", action="store_true")
    demo.set_defaults(run=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    try:
        from leak_sandbox.demo import run_demo
    except ModuleNotFoundError as exc:
        return _missing_extra("demo", exc)
    return run_demo(color=not args.no_color and sys.stdout.isatty())


def run_sandbox(args: argparse.Namespace) -> int:
    try:
        from leak_sandbox.orchestrator import Sandbox
        from leak_sandbox.template import TemplateError, find_template
    except ModuleNotFoundError as exc:
        return _missing_extra("sandbox", exc)
    if args.template is not None and not args.template.is_file():
        raise TemplateError(f"--template names no file: {args.template}")
    try:
        # Here, not after the servers are up: a ready file that can never be written.
        args.ready_file.parent.mkdir(parents=True, exist_ok=True)
        args.ready_file.unlink(missing_ok=True)
    except OSError as exc:
        print(f"leak-responder sandbox: cannot use --ready-file: {exc}", file=sys.stderr)
        return EXIT_USAGE

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("leak_sandbox").setLevel(logging.INFO)
    if not args.verbose:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sandbox = Sandbox(template_path=args.template or find_template())
    sandbox.retry_delay = args.retry_delay
    sandbox.start(args.ready_file)
    doc = {k: v for k, v in sandbox.ready_document().items() if k != "signing_secret"}
    print(
        f"leak-responder sandbox ready ({args.ready_file}):\n{json.dumps(doc, indent=2)}",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        print("leak-responder sandbox stopped", file=sys.stderr, flush=True)
    return EXIT_OK
