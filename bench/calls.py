"""Counting and recording AWS API calls with botocore's event hooks, and replaying them.

The handler's clients come from ``ClientFactory``. ``RecordingFactory`` is that factory with
hooks registered on the event emitter of every client it builds (a client copies its session's
emitter when it is created, and registering per client also tells us which credentials, hence
which account, each call used). Nothing in the handler changes: the bench passes this factory to
``build_responder`` exactly as the handler module's ``responder_for`` would pass the default one.

The recorded calls double as the floor: ``Replayer`` makes the same API calls, with the same
parameters, in the same order, straight from clients of the same factory (same config, same
hooks), against a moto whose random identifiers were seeded the same way, so key IDs,
credentials and conditional writes line up. Whatever the handler takes beyond the replay is the
handler's own cost.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError

# Only the factory's module (boto3 and botocore): the replay process does not load the handler's
# package, whose import cost and memory are part of what it is compared against.
from leak_responder.adapters.aws.clients import ClientFactory

ROOT = Path(__file__).resolve().parents[1]

# The calls that contain a key: UpdateAccessKey to Inactive for an AKIA key, the revoke-older-
# sessions inline policy for an ASIA key.
_CONTAINING = {"UpdateAccessKey", "PutRolePolicy", "PutUserPolicy"}


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    creds: dict[str, str] | None  # None: the function's own credentials
    ok: bool = False
    contains: bool = False  # this call made the key Inactive (or revoked its sessions)


@dataclass
class CallLog:
    """Every API call in order; ``before-call`` fires once per call (a retry is not a new one)."""

    calls: list[Call] = field(default_factory=list)
    contained_at: int | None = None  # 1-based index of the first call that contained the key
    contained_clock: float | None = None  # perf_counter() when that call returned

    def reset(self) -> None:
        self.calls = []
        self.contained_at = None
        self.contained_clock = None

    def hook(self, emitter: Any, creds: dict[str, str] | None) -> None:
        pending: dict[str, Any] = {}

        def provide(params: dict[str, Any], **_: Any) -> None:
            pending["params"] = copy.deepcopy(params)

        def before(event_name: str, **_: Any) -> None:
            _kind, service, operation = event_name.split(".", 2)
            self.calls.append(Call(service, operation, pending.pop("params", {}), creds))

        def after(event_name: str, http_response: Any, **_: Any) -> None:
            call = self.calls[-1]
            call.ok = 200 <= int(http_response.status_code) < 300
            if self.contained_at is None and call.ok and _contains(call):
                call.contains = True
                self.contained_at = len(self.calls)
                self.contained_clock = time.perf_counter()

        emitter.register("provide-client-params", provide)
        emitter.register("before-call", before)
        emitter.register("after-call", after)

    def before_containment(self) -> list[str]:
        return [f"{c.service}:{c.operation}" for c in self.calls[: self.contained_at or 0]]

    def by_service(self) -> Counter[str]:
        return Counter(c.service for c in self.calls)


def _contains(call: Call) -> bool:
    if call.operation not in _CONTAINING:
        return False
    return call.operation != "UpdateAccessKey" or call.params.get("Status") == "Inactive"


class RecordingFactory(ClientFactory):
    """``ClientFactory`` whose clients report every call to a CallLog.

    Hooks go on each client's own emitter (a client copies its session's emitter when it is
    built), which also tells the log which credentials, hence which account, a call used. The
    handler's responder and the replay both build their clients here, so both pay for the hooks.
    """

    def __init__(self, log: CallLog, region: str) -> None:
        super().__init__(boto3.session.Session(region_name=region), region)
        self.log = log

    def __call__(
        self, service: str, creds: dict[str, str] | None = None, *, urgent: bool = False
    ) -> Any:
        client = super().__call__(service, creds, urgent=urgent)
        self.log.hook(client.meta.events, creds)
        return client


class Replayer:
    """Makes recorded calls straight from clients built the way the handler builds them."""

    def __init__(self, region: str, log: CallLog) -> None:
        self._factory = RecordingFactory(log, region)
        self._clients: dict[tuple[str, str | None], Any] = {}

    def warm(self, calls: Iterable[Call]) -> None:
        """Build every client up front: the handler under test is warm too."""
        for call in calls:
            self._client(call)

    def _client(self, call: Call) -> Any:
        key = (call.service, call.creds["AccessKeyId"] if call.creds else None)
        if key not in self._clients:
            self._clients[key] = self._factory(_boto_service(call.service), call.creds)
        return self._clients[key]

    def replay(self, calls: Iterable[Call]) -> int:
        """Make the calls; returns how many ended differently than when recorded."""
        mismatches = 0
        for call in calls:
            method = getattr(self._client(call), xform_name(call.operation))
            try:
                method(**call.params)
                ok = True
            except ClientError:
                ok = False
            mismatches += ok != call.ok
        return mismatches


def to_json(calls: Iterable[Call]) -> list[dict[str, Any]]:
    return [
        {
            "service": c.service,
            "operation": c.operation,
            "params": c.params,
            "creds": c.creds,
            "ok": c.ok,
            "contains": c.contains,
        }
        for c in calls
    ]


def from_json(raw: Iterable[dict[str, Any]]) -> list[Call]:
    return [Call(**item) for item in raw]


def _boto_service(service_id: str) -> str:
    # Event names carry the hyphenated service id; boto3 wants the endpoint prefix.
    return {"secrets-manager": "secretsmanager"}.get(service_id, service_id)


def load_handler(name: str = "responder") -> ModuleType:
    """Import functions/<name>/app.py as Lambda would: a module named app, loaded by path."""
    module_name = f"bench_functions_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
