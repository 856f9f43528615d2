"""Reminder Lambda (scheduled): deliver pending notices, re-ping owners, escalate to security."""

from __future__ import annotations

import functools
from typing import Any

from leak_responder.domain.reminder import ReminderDeps, run_reminders
from leak_responder.observability import LambdaContext, log_step, logger, metrics
from leak_responder.settings import Settings
from leak_responder.wiring import build_reminder


@functools.lru_cache(maxsize=1)
def reminder_for(settings: Settings) -> ReminderDeps:
    # Built on the first invocation, not at import, and reused while the settings are the same.
    return build_reminder(settings, observe=log_step)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    report = run_reminders(reminder_for(Settings.from_env())).as_dict()
    logger.info("reminder run", extra=report)
    return report
