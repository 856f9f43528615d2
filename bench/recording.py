"""The handler's own client factory, with every client it builds reporting to a CallLog."""

from __future__ import annotations

from typing import Any

import boto3

from bench.calls import CallLog
from leak_responder.wiring import ClientFactory


class RecordingFactory(ClientFactory):
    """``wiring.ClientFactory`` whose clients report every call to a CallLog.

    Hooks go on each client's own emitter (a client copies its session's emitter when it is
    built), which also tells the log which credentials, hence which account, a call used.
    """

    def __init__(self, log: CallLog, session: boto3.session.Session, region: str) -> None:
        super().__init__(session, region)
        self.log = log

    def __call__(self, service: str, creds: dict[str, str] | None = None) -> Any:
        client = super().__call__(service, creds)
        self.log.hook(client.meta.events, creds)
        return client
