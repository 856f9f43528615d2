"""The responder's record handler: one SQS message in, every key in it contained.

Failure policy, so that nothing is lost and nothing loops:
- a message that can never succeed (unparseable, unknown source or schema, bad key ID, or
  anything but a scanner finding on the scanner queue) goes straight to the DLQ with a
  ``reason`` attribute and is acknowledged;
- so does a message a normaliser fails on otherwise (a bug: reading it again fails the same
  way), with the error and the line that raised it;
- anything else that fails is retried through ``batchItemFailures``; on the queue's last
  receive it goes to the DLQ with the reason instead of being redriven without one;
- a notice that failed (Slack down, rate limited) is retried with the message until the last
  receive, after which it stays pending for the reminder (the key is Inactive either way).
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leak_responder.domain.containment import ContainmentDeps, Outcome, contain, expand
from leak_responder.domain.errors import RejectedMessageError, TransientError
from leak_responder.domain.model import IncidentStatus
from leak_responder.domain.ports import DeadLetters
from leak_responder.observability import logger, metrics
from leak_responder.redact import redact_reason
from leak_responder.sources import DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD, normalise


class NotificationPendingError(TransientError):
    """The key is contained but its notice is not delivered yet: retry the message."""


class Responder:
    def __init__(
        self,
        deps: ContainmentDeps,
        dead_letters: DeadLetters,
        max_receive_count: int,
        *,
        scanner_queue_arn: str | None = None,
        guardduty_severity_threshold: float = DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD,
    ):
        self.deps = deps
        self.dead_letters = dead_letters
        self.max_receive_count = max_receive_count
        # The stack's GuardDutySeverityThreshold, which the normaliser holds Security Hub's
        # GuardDuty findings to, as the rules do.
        self.guardduty_severity_threshold = guardduty_severity_threshold
        # Scanner principals may write to this queue only; what comes from it is held to the
        # scanner schema (IAM decides who writes where, the source ARN says where it came from).
        self.scanner_queue_arn = scanner_queue_arn
        # A batch whose every record failed is still a partial response, so the records are
        # retried one by one rather than the whole invocation erroring.
        self._processor = BatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=False
        )

    def handle_batch(
        self, event: dict[str, Any], context: LambdaContext | None = None
    ) -> PartialItemFailureResponse:
        """An SQS event in, the records to retry (``batchItemFailures``) out."""
        return process_partial_response(
            event=event,
            record_handler=self.handle_record,
            processor=self._processor,
            context=context,
        )

    def handle_record(self, record: SQSRecord) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        received_at = _sent_at(record) or self.deps.clock.now()
        last_try = receive_count >= self.max_receive_count
        logger.append_keys(message_id=record.message_id, receive_count=receive_count)
        try:
            reports = normalise(
                record.body,
                received_at=received_at,
                scanner_only=self._from_scanner_queue(record),
                guardduty_severity_threshold=self.guardduty_severity_threshold,
            )
        except RejectedMessageError as exc:
            self._dead_letter(record, exc.reason, receive_count, rejected=True)
            return
        except Exception as exc:
            # A normaliser that fails otherwise has a bug, and reading the same body again
            # fails the same way: straight to the DLQ with what failed and where, instead of
            # burning every retry and reaching the DLQ through redrive without a reason.
            self._dead_letter(record, f"not read: {_failure(exc)}", receive_count)
            return
        try:
            pending = False
            for report in reports:
                for key in expand(report, self.deps.accounts):
                    logger.append_keys(key_id=key.key_id, source=key.source.value)
                    outcome = contain(key, self.deps, received_at=received_at)
                    self._record_outcome(outcome, received_at)
                    pending = pending or outcome.notification_failed
            if pending and not last_try:
                raise NotificationPendingError("key contained; notice pending, will retry")
        except RejectedMessageError as exc:
            # Found out only while acting (a quarantined user in an unreachable account):
            # retrying cannot help either.
            self._dead_letter(record, exc.reason, receive_count, rejected=True)
        except Exception as exc:
            reason = redact_reason(f"{type(exc).__name__}: {exc}")
            if last_try:
                self._dead_letter(
                    record, f"gave up after {receive_count} receives: {reason}", receive_count
                )
                return
            logger.warning("message will be retried", extra={"reason": reason})
            raise
        finally:
            logger.remove_keys(["key_id", "source", "incident_id"])

    def _from_scanner_queue(self, record: SQSRecord) -> bool:
        # .get: a record built by hand (tests, tools) may lack the field; Lambda always sets it.
        source = record.get("eventSourceARN")
        return bool(self.scanner_queue_arn) and source == self.scanner_queue_arn

    def _record_outcome(self, outcome: Outcome, received_at: datetime) -> None:
        incident = outcome.incident
        logger.append_keys(incident_id=incident.incident_id)
        fields: dict[str, Any] = {
            "status": incident.status.value,
            "duplicate": outcome.duplicate,
            "user_name": incident.user_name,
            "account_id": incident.account_id,
            "new_key_id": incident.new_key_id,
            "secret_name": incident.secret_name,
            "notification": incident.notification_status,
        }
        if outcome.newly_contained and outcome.contained_at:
            ms = max(0.0, (outcome.contained_at - received_at).total_seconds() * 1000)
            metrics.add_metric(name="KeysContained", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="TimeToContainMs", unit=MetricUnit.Milliseconds, value=ms)
            fields["time_to_contain_ms"] = round(ms, 1)
        if outcome.duplicate:
            metrics.add_metric(name="DuplicateSightings", unit=MetricUnit.Count, value=1)
        if incident.status == IncidentStatus.ALERT_ONLY and not outcome.duplicate:
            metrics.add_metric(name="AlertsOnly", unit=MetricUnit.Count, value=1)
        if incident.status == IncidentStatus.UNKNOWN_KEY and not outcome.duplicate:
            metrics.add_metric(name="UnknownKeys", unit=MetricUnit.Count, value=1)
        if outcome.notification_pending:
            metrics.add_metric(name="NotificationsPending", unit=MetricUnit.Count, value=1)
        logger.info("leaked key handled", extra=fields)

    def _dead_letter(
        self, record: SQSRecord, reason: str, receive_count: int, *, rejected: bool = False
    ) -> None:
        # Every reason leaves through here, to the DLQ and the log: whatever a normaliser or an
        # exception quoted, no secret goes with it.
        reason = redact_reason(reason) or "no reason given"
        # If the DLQ itself fails, this raises and the message is retried: never dropped.
        self.dead_letters.send(record.body or "", reason, record.message_id, receive_count)
        metrics.add_metric(
            name="Rejected" if rejected else "DeadLettered", unit=MetricUnit.Count, value=1
        )
        logger.error(
            "message sent to the dead-letter queue",
            # Who sent it and where: a forged event on the scanner queue names its CI role here.
            extra={
                "reason": reason,
                "rejected": rejected,
                "sender_id": record.attributes.get("SenderId"),
                "event_source_arn": record.get("eventSourceARN"),
            },
        )


def _failure(exc: BaseException) -> str:
    """The exception's type, text and the line that raised it, for a reason."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}: {exc}"


def _sent_at(record: SQSRecord) -> datetime | None:
    sent = record.attributes.sent_timestamp
    if not sent:
        return None
    try:
        return datetime.fromtimestamp(int(sent) / 1000, UTC)
    except (TypeError, ValueError):
        return None
