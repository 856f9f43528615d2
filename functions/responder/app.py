"""Responder Lambda: SQS batch of leak reports in, partial-batch response out."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from leak_responder.observability import logger, metrics
from leak_responder.responder import Responder
from leak_responder.settings import Settings
from leak_responder.wiring import build_responder

# A batch whose every record failed is still a partial response, so the records are retried
# one by one rather than the whole invocation erroring.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@functools.lru_cache(maxsize=1)
def responder_for(settings: Settings) -> Responder:
    # Built on the first invocation, not at import, and reused while the settings are the same.
    return build_responder(settings)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    responder = responder_for(Settings.from_env())
    return process_partial_response(
        event=event, record_handler=responder.handle_record, processor=processor, context=context
    )
