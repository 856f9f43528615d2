"""Resume-queue adapter: how many reports wait, and handing an incident's later steps on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leak_responder.adapters.aws.errors import translated
from leak_responder.domain.errors import TransientError
from leak_responder.domain.model import Resumption
from leak_responder.sources.resume import resumption_body

PERMISSIONS: tuple[str, ...] = ("sqs:GetQueueAttributes", "sqs:SendMessage")
_BATCH = 10  # SendMessageBatch's limit
_UNFINISHED = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


class SqsResumeQueue:
    def __init__(self, client: Any, resume_queue_url: str, watched_queue_urls: Sequence[str]):
        self._sqs = client
        self._url = resume_queue_url
        self._watched = tuple(watched_queue_urls)

    def waiting(self) -> int:
        # Visible (waiting for a worker) and not visible (in a worker's hands, or failed and
        # waiting out the visibility timeout): every report not yet finished.
        total = 0
        for url in self._watched:
            with translated("sqs:GetQueueAttributes"):
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=list(_UNFINISHED)
                )["Attributes"]
            total += sum(int(attributes.get(name, 0)) for name in _UNFINISHED)
        return total

    def send(self, resumptions: Sequence[Resumption]) -> None:
        for start in range(0, len(resumptions), _BATCH):
            chunk = resumptions[start : start + _BATCH]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": resumption_body(r),
                    "DelaySeconds": r.delay_seconds,
                }
                for i, r in enumerate(chunk)
            ]
            # SendMessageBatch's action is sqs:SendMessage.
            with translated("sqs:SendMessage"):
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                # The caller finishes those incidents itself instead; which entries failed
                # does not matter, since finishing twice is safe.
                codes = sorted({str(f.get("Code", "?")) for f in failed})
                raise TransientError(
                    f"sqs:SendMessage: {len(failed)} of {len(chunk)} resumes not queued ({codes})"
                )
