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

Deactivate first (docs/architecture.md): every key of a batch gets its first move (Inactive,
or sessions revoked) before any incident of the batch is recorded or goes further. While other
reports are unfinished on the queues, each incident's later steps go to the resume queue
instead, so that those keys are deactivated before them; a resume is itself put back, later
each time, while reports are unfinished, and runs anyway after ``MAX_DEFERRALS``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
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

from leak_responder.domain.containment import (
    ContainmentDeps,
    Outcome,
    Started,
    begin,
    expand,
    resume,
)
from leak_responder.domain.errors import (
    LeakResponderError,
    RejectedMessageError,
    TransientError,
)
from leak_responder.domain.model import IncidentStatus, Resumption
from leak_responder.domain.ports import DeadLetters, ResumeQueue
from leak_responder.observability import logger, metrics
from leak_responder.redact import redact_reason
from leak_responder.sources import DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD, normalise
from leak_responder.sources.resume import parse_resumption

# Other reports not yet finished (waiting, or in another worker's first pass) before a batch's
# later steps are handed on and a resume is put back: any. Each of them may still hold a key
# to deactivate, and the later steps of this batch would take IAM writes from it.
DEFER_WHEN_WAITING = 1
# A key's first move is not started with less of the invocation left than this: one urgent
# call under throttling takes up to its pacer's budget plus one request's timeouts (about 8 s),
# and the batch's second pass needs the rest. Keys not started are retried by the queue.
START_MARGIN_MS = 30_000
# With less than this left, a record's later steps are handed on (when there is a resume
# queue) rather than started: each takes a few IAM calls, a notice, and retries through
# throttling, and a timeout mid-way costs the whole batch a visibility timeout.
FINISH_MARGIN_MS = 15_000


class NotificationPendingError(TransientError):
    """The key is contained but its notice is not delivered yet: retry the message."""


@dataclass
class _Prepared:
    """One record after the batch's first pass: what was read, and each key's first move."""

    received_at: datetime
    receive_count: int
    started: list[Started] = field(default_factory=list)
    resumption: Resumption | None = None
    rejected: RejectedMessageError | None = None  # never readable: dead-letter
    unreadable: Exception | None = None  # a normaliser failed: dead-letter with where
    error: Exception | None = None  # raised while starting a key: after the started ones finish


class Responder:
    def __init__(
        self,
        deps: ContainmentDeps,
        dead_letters: DeadLetters,
        max_receive_count: int,
        *,
        scanner_queue_arn: str | None = None,
        guardduty_severity_threshold: float = DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD,
        resume_queue: ResumeQueue | None = None,
        resume_queue_arn: str | None = None,
        defer_when_waiting: int = DEFER_WHEN_WAITING,
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
        # Where an incident's later steps go while reports wait (None: never handed on), and
        # the only queue whose records are read as resumes.
        self.resume_queue = resume_queue
        self.resume_queue_arn = resume_queue_arn
        self.defer_when_waiting = defer_when_waiting

    def handle_batch(
        self, event: dict[str, Any], context: LambdaContext | None = None
    ) -> PartialItemFailureResponse:
        """An SQS event in, the records to retry (``batchItemFailures``) out.

        First every record's keys get their first move, then each record is finished.
        """
        raw = event.get("Records") if isinstance(event, dict) else None
        records = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []

        def left_under(margin_ms: int) -> Callable[[], bool]:
            return lambda: (
                context is not None and context.get_remaining_time_in_millis() < margin_ms
            )

        prepared = {
            id(r): self._prepare(SQSRecord(r), left_under(START_MARGIN_MS)) for r in records
        }
        own = sum(1 for r in records if not self._from_resume_queue(SQSRecord(r)))
        defer = self._should_defer(list(prepared.values()), own)
        late = left_under(FINISH_MARGIN_MS)

        def finish(record: SQSRecord) -> None:
            ready = prepared.pop(id(record.raw_event), None) or self._prepare(record)
            self._finish(record, ready, defer or (self.resume_queue is not None and late()))

        # A processor per call: it keeps the batch's results, and callers may share this
        # responder across threads (the bench's workers). A batch whose every record failed
        # is still a partial response, so records are retried one by one.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event=event, record_handler=finish, processor=processor, context=context
        )

    def handle_record(self, record: SQSRecord) -> None:
        """One record, both passes at once (a batch of one)."""
        self._finish(record, self._prepare(record), defer=False)

    # -- first pass: read, and each key's first move --------------------------------------------
    def _prepare(
        self, record: SQSRecord, out_of_time: Callable[[], bool] = lambda: False
    ) -> _Prepared:
        """Never raises: it runs outside BatchProcessor's per-record isolation, so whatever
        fails here is kept and handled as this record's failure in the second pass."""
        try:
            receive_count = _receive_count(record)
            received_at = _sent_at(record) or self.deps.clock.now()
        except Exception as exc:  # a record built by hand without attributes
            ready = _Prepared(self.deps.clock.now(), 1)
            ready.unreadable = exc
            return ready
        ready = _Prepared(received_at, receive_count)
        logger.append_keys(message_id=record.message_id, receive_count=receive_count)
        try:
            if self._from_resume_queue(record):
                ready.resumption = parse_resumption(record.body or "")
                return ready
            reports = normalise(
                record.body,
                received_at=received_at,
                scanner_only=self._from_scanner_queue(record),
                guardduty_severity_threshold=self.guardduty_severity_threshold,
            )
        except RejectedMessageError as exc:
            ready.rejected = exc
            return ready
        except Exception as exc:
            ready.unreadable = exc
            return ready
        try:
            for report in reports:
                for key in expand(report, self.deps.accounts):
                    if out_of_time():
                        raise TransientError("too little of the invocation left to start a key")
                    logger.append_keys(key_id=key.key_id, source=key.source.value)
                    ready.started.append(begin(key, self.deps, received_at=received_at))
        except Exception as exc:
            # The keys started before it are finished first, then this is handled as the
            # record's failure: a key made Inactive is never left without its incident.
            ready.error = exc
        finally:
            logger.remove_keys(["key_id", "source"])
        return ready

    def _should_defer(self, batch: list[_Prepared], own: int) -> bool:
        """Hand the later steps on (and put resumes back) while other reports are unfinished.
        ``own``: this batch's records from the report queues, which SQS counts in flight."""
        if self.resume_queue is None:
            return False
        starts = sum(1 for p in batch for s in p.started if s.contained_at is not None)
        resumes = sum(1 for p in batch if p.resumption is not None)
        if resumes == 0 and starts < 2:
            return False  # nothing to gain: one key's steps are this worker's only work
        try:
            waiting = self.resume_queue.waiting()
        except Exception as exc:
            # Finishing in place is always safe; only the order of work suffers.
            logger.warning(
                "queue depth unknown; finishing in place",
                extra={"error": redact_reason(f"{type(exc).__name__}: {exc}")},
            )
            return False
        others = waiting - own
        if others >= self.defer_when_waiting:
            logger.info("reports unfinished: later steps handed on", extra={"others": others})
            return True
        return False

    # -- second pass: record and finish, or hand on -----------------------------------------------
    def _finish(self, record: SQSRecord, ready: _Prepared, defer: bool) -> None:
        receive_count, received_at = ready.receive_count, ready.received_at
        last_try = receive_count >= self.max_receive_count
        logger.append_keys(message_id=record.message_id, receive_count=receive_count)
        if ready.rejected is not None:
            self._dead_letter(record, ready.rejected.reason, receive_count, rejected=True)
            return
        if ready.unreadable is not None:
            # A normaliser that fails otherwise has a bug, and reading the same body again
            # fails the same way: straight to the DLQ with what failed and where, instead of
            # burning every retry and reaching the DLQ through redrive without a reason.
            self._dead_letter(record, f"not read: {_failure(ready.unreadable)}", receive_count)
            return
        try:
            if ready.resumption is not None:
                self._resume(ready.resumption, received_at, defer, last_try)
                return
            pending = False
            handed_on: list[Outcome] = []
            try:
                for started in ready.started:
                    logger.append_keys(key_id=started.key.key_id, source=started.key.source.value)
                    outcome = started.finish(defer=defer)
                    self._record_outcome(outcome, received_at)
                    pending = pending or outcome.notification_failed
                    if outcome.deferred:
                        handed_on.append(outcome)
            finally:
                # Even when a later key of this record failed: an incident recorded and
                # deferred must go on, or it stays open with nothing to finish it.
                if handed_on:
                    pending = self._hand_on(handed_on, received_at) or pending
            if ready.error is not None:
                raise ready.error
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

    def _resume(
        self, resumption: Resumption, received_at: datetime, defer: bool, last_try: bool
    ) -> None:
        logger.append_keys(key_id=resumption.key_id, incident_id=resumption.incident_id)
        if defer and resumption.may_wait:
            # Put back only what names a real incident: anything else is dead-lettered now.
            known = self.deps.incidents.get(resumption.account_id, resumption.key_id)
            named = known is not None and known.incident_id == resumption.incident_id
            if named and self._put_back([resumption.later()]):
                return
        try:
            outcome = self._resume_one(resumption, received_at)
        except TransientError:
            # IAM is throttling the steps that are not urgent: back off through the queue,
            # later each time, instead of holding a worker that a waiting key needs.
            if resumption.may_wait and self._put_back([resumption.later()]):
                return
            raise
        self._record_outcome(outcome, received_at)
        if outcome.notification_failed and not last_try:
            raise NotificationPendingError("resumed; notice pending, will retry")

    def _hand_on(self, outcomes: list[Outcome], received_at: datetime) -> bool:
        """Queue the later steps of these incidents, or finish them here if the queue refuses.
        True if a notice failed while finishing here (the record is worth retrying)."""
        resumptions = [
            Resumption(o.incident.account_id, o.incident.key_id, o.incident.incident_id)
            for o in outcomes
        ]
        if self._put_back(resumptions):
            metrics.add_metric(name="StepsHandedOn", unit=MetricUnit.Count, value=len(outcomes))
            return False
        # Finishing is safe to repeat, so a resume that did get queued costs nothing. Each
        # incident on its own: one that fails must not leave the others unfinished.
        pending = False
        first_error: Exception | None = None
        for r in resumptions:
            try:
                outcome = self._resume_one(r, received_at)
            except Exception as exc:
                first_error = first_error or exc
                continue
            self._record_outcome(outcome, received_at)
            pending = pending or outcome.notification_failed
        if first_error is not None:
            raise first_error
        return pending

    def _resume_one(self, r: Resumption, received_at: datetime) -> Outcome:
        return resume(
            r.account_id, r.key_id, self.deps, received_at=received_at, incident_id=r.incident_id
        )

    def _put_back(self, resumptions: list[Resumption]) -> bool:
        if self.resume_queue is None:
            return False
        try:
            self.resume_queue.send(resumptions)
        except LeakResponderError as exc:
            logger.warning("resume queue refused; finishing in place", extra={"error": str(exc)})
            return False
        logger.info(
            "later steps handed on",
            extra={"incidents": [r.incident_id for r in resumptions], "count": len(resumptions)},
        )
        return True

    def _from_resume_queue(self, record: SQSRecord) -> bool:
        source = record.get("eventSourceARN")
        return bool(self.resume_queue_arn) and source == self.resume_queue_arn

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


def _receive_count(record: SQSRecord) -> int:
    try:
        return max(1, int(record.attributes.approximate_receive_count or 1))
    except (TypeError, ValueError):
        return 1


def _sent_at(record: SQSRecord) -> datetime | None:
    sent = record.attributes.sent_timestamp
    if not sent:
        return None
    try:
        return datetime.fromtimestamp(int(sent) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
