"""Approval Lambda (Function URL): a Slack button click becomes a deletion or a reactivation."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from leak_responder.approval_http import ApprovalEndpoint, build_approval_endpoint
from leak_responder.observability import logger
from leak_responder.settings import Settings


@functools.lru_cache(maxsize=1)
def endpoint_for(settings: Settings) -> ApprovalEndpoint:
    # Built on the first invocation, not at import, and reused while the settings are the same.
    return build_approval_endpoint(settings)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return endpoint_for(Settings.from_env()).handle(event)
