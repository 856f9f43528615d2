"""``leak-responder``: containment of one key from a terminal, plus any installed commands.

Other packages add commands through the ``leak_responder.commands`` entry-point group: each entry
is a callable that takes the subparsers object and adds one parser whose default ``run`` is the
command. The local tooling adds ``sandbox`` and ``demo`` that way, so this runtime package never
imports it.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any, TextIO

from leak_responder.domain.errors import ConfigurationError, LeakResponderError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS_GROUP = "leak_responder.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leak-responder",
        description="Contain leaked AWS access keys. See README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    contain = sub.add_parser(
        "contain",
        help="contain one key now, against the AWS the standard credential chain points at",
        description="Runs the responder's containment for KEY_ID and prints each step as it "
        "happens. Needs INCIDENTS_TABLE (or --incidents-table); reads the rest of the settings "
        "from the environment, as the Lambda does. AWS_ENDPOINT_URL points it at the sandbox.",
    )
    contain.add_argument("key_id", metavar="KEY_ID")
    contain.add_argument(
        "--dry-run", action="store_true", help="record and alert, change nothing in IAM"
    )
    contain.add_argument("--user", metavar="NAME", help="the IAM user that owns the key, if known")
    contain.add_argument("--account", metavar="ID", help="the owning account, if known")
    contain.add_argument("--incidents-table", metavar="NAME", help="overrides INCIDENTS_TABLE")
    contain.add_argument("--region", help="overrides AWS_REGION / AWS_DEFAULT_REGION")
    contain.add_argument(
        "--json", action="store_true", help="print the incident as JSON at the end"
    )
    contain.set_defaults(run=lambda args: _contain(args, sys.stdout))
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            entry.load()(sub)
        except Exception as exc:
            # A broken add-on (a half-installed sandbox extra) must never take away `contain`,
            # the command an operator reaches for in an emergency.
            print(
                f"leak-responder: command {entry.name!r} unavailable ({type(exc).__name__}: {exc})",
                file=sys.stderr,
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigurationError as exc:
        print(f"leak-responder: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LeakResponderError as exc:
        print(f"leak-responder: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return code


# ------------------------------------------------------------------------------- contain


class StepPrinter:
    """The containment's observer: one line per step, as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, /, **fields: Any) -> None:
        self.events.append((event, dict(fields)))
        elapsed_ms = (time.monotonic() - self.started) * 1000
        now = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        detail = "  ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        print(f"  {now}  +{elapsed_ms:7.1f} ms  {event:<28} {detail}".rstrip(), file=self.out)
        self.out.flush()


def _contain(args: argparse.Namespace, out: TextIO) -> int:
    from leak_responder.domain.containment import contain
    from leak_responder.domain.model import (
        Evidence,
        LeakedKey,
        PrincipalType,
        Source,
        validate_key_id,
    )
    from leak_responder.settings import Settings
    from leak_responder.wiring import ClientFactory, build_accounts, build_containment

    env = dict(os.environ)
    if args.incidents_table:
        env["INCIDENTS_TABLE"] = args.incidents_table
    if args.region:
        env["AWS_REGION"] = args.region
    if not env.get("INCIDENTS_TABLE"):
        raise ConfigurationError(
            "INCIDENTS_TABLE is not set: pass --incidents-table NAME or export INCIDENTS_TABLE "
            "(the stack output IncidentsTableName; in the sandbox, 'incidents_table' of the "
            "ready file)"
        )
    settings = Settings.from_env(env)
    if args.dry_run:
        settings = dataclasses.replace(settings, dry_run=True)
    key_id = validate_key_id(args.key_id.strip())
    now = datetime.now(UTC)
    key = LeakedKey(
        key_id=key_id,
        source=Source.MANUAL,
        observed_at=now,
        account_id=args.account,
        user_name=args.user,
        principal_type=PrincipalType.IAM_USER if args.user else PrincipalType.UNKNOWN,
        evidence=Evidence(detail=f"leak-responder contain, run by {_operator()}"),
    )
    endpoint = env.get("AWS_ENDPOINT_URL")
    print(
        f"containing {key_id} (table {settings.incidents_table}, region {settings.region}"
        f"{', endpoint ' + endpoint if endpoint else ''}{', DRY RUN' if settings.dry_run else ''})",
        file=out,
    )
    printer = StepPrinter(out)
    accounts = build_accounts(settings, ClientFactory(region=settings.region))
    deps = build_containment(settings, accounts, observe=printer)
    outcome = contain(key, deps, received_at=now)
    incident = outcome.incident
    print(
        f"done: status={incident.status.value}  incident={incident.incident_id}  "
        f"user={incident.user_name or '-'}  new key={incident.new_key_id or '-'}  "
        f"secret={incident.secret_name or '-'}  duplicate={outcome.duplicate}",
        file=out,
    )
    if incident.alert_reason:
        print(f"alert: {incident.alert_reason}", file=out)
    if args.json:
        print(json.dumps(dataclasses.asdict(incident), default=str, indent=2), file=out)
    return EXIT_OK


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
