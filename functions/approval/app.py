"""Approval Lambda (Function URL): a Slack button click becomes a deletion or a reactivation."""

from __future__ import annotations

import functools
from typing import Any

from leak_responder.approval_endpoint import ApprovalEndpoint
from leak_responder.observability import LambdaContext, log_step, logger
from leak_responder.settings import Settings
from leak_responder.wiring import build_approval


@functools.lru_cache(maxsize=1)
def endpoint_for(settings: Settings) -> ApprovalEndpoint:
    # Built on the first invocation, not at import, and reused while the settings are the same.
    return build_approval(settings, observe=log_step)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return endpoint_for(Settings.from_env()).handle(event)
