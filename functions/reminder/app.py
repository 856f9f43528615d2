"""Reminder Lambda (scheduled): deliver pending notices, re-ping owners, escalate to security."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from leak_responder.domain.reminder import ReminderDeps, run_reminders
from leak_responder.observability import logger, metrics
from leak_responder.reminder_job import build_reminder
from leak_responder.settings import Settings


def _observe(event: str, /, **fields: Any) -> None:
    logger.info(event, extra=fields)


@functools.lru_cache(maxsize=1)
def reminder_for(settings: Settings) -> ReminderDeps:
    # Built on the first invocation, not at import, and reused while the settings are the same.
    return build_reminder(settings, observe=_observe)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    report = run_reminders(reminder_for(Settings.from_env())).as_dict()
    logger.info("reminder run", extra=report)
    return report
