"""Responder Lambda: SQS batch of leak reports in, partial-batch response out."""

from __future__ import annotations

import functools
from typing import Any

from leak_responder.observability import LambdaContext, logger, metrics
from leak_responder.responder import Responder
from leak_responder.settings import Settings
from leak_responder.wiring import build_responder


@functools.lru_cache(maxsize=1)
def responder_for(settings: Settings) -> Responder:
    # Built on the first invocation, not at import, and reused while the settings are the same.
    return build_responder(settings)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(responder_for(Settings.from_env()).handle_batch(event, context))
