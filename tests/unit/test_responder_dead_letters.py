"""What reaches the dead-letter queue, from the real record handler through the real DLQ adapter
to an SQS client that refuses what SQS refuses: every message that can never succeed goes there
once, at once, with a reason, and no secret goes with it or into a log line."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from leak_responder.adapters.aws.dlq import DeadLetterQueue
from leak_responder.redact import REDACTED
from leak_responder.responder import Responder
from leak_sandbox.testkit.fakes import fake_secret
from leak_sandbox.testkit.lambda_shapes import sqs_record
from leak_sandbox.testkit.logs import captured_logs
from leak_sandbox.testkit.sqs import RecordingSqsClient
from leak_sandbox.testkit.world import World
from tests.helpers import load_event

HOME = "123456789012"
LEAK_QUEUE = f"arn:aws:sqs:us-east-1:{HOME}:leak-responder-LeakQueue"
DLQ_URL = f"https://sqs.us-east-1.amazonaws.com/{HOME}/leak-responder-LeakDLQ"
MAX_RECEIVES = 5


class Stage:
    """The responder on a world of fakes, its DLQ the real adapter over a recording client."""

    def __init__(self) -> None:
        self.world = World(home_account_id=HOME)
        self.sqs = RecordingSqsClient()
        self.responder = Responder(
            self.world.deps(), DeadLetterQueue(self.sqs, DLQ_URL), MAX_RECEIVES
        )

    def receive(self, body: str, receive_count: int = 1) -> None:
        self.responder.handle_record(SQSRecord(sqs_record(body, LEAK_QUEUE, receive_count)))


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


# --- deeply nested bodies ------------------------------------------------------------------


@pytest.mark.parametrize("receive_count", [1, MAX_RECEIVES])
@pytest.mark.parametrize(
    ("depth", "kind"),
    [(500, "list"), (500, "object"), (990, "object"), (5_000, "list"), (5_000, "object")],
)
def test_a_deeply_nested_body_is_dead_lettered_once_at_once_with_its_reason(
    depth: int, kind: str, receive_count: int
) -> None:
    # Given a body nested deeper than a recursive walk can go (5,000 levels: 10,000 brackets)
    stage = Stage()

    # When it is received, first or last time, Then no exception escapes the record handler
    stage.receive(_deep(depth, kind), receive_count)

    # And it is in the DLQ once, with the normaliser's reason, its body kept as evidence
    (message,) = stage.sqs.sent
    assert message.reason
    assert message.reason.startswith(("body is", "neither"))
    assert message.body.count("[") + message.body.count("{") >= depth


def test_a_secret_at_the_bottom_of_a_deep_body_is_redacted_in_the_dlq() -> None:
    secret = fake_secret()
    stage = Stage()
    stage.receive('{"a":' * 5_000 + json.dumps(secret) + "}" * 5_000)
    (message,) = stage.sqs.sent
    assert secret not in message.body
    assert REDACTED in message.body


# --- secrets in rejection reasons --------------------------------------------------------


def _with_secret_in(field: str, secret: str) -> dict[str, Any]:
    if field == "schema":
        return {**load_event("scanner_v1"), "schema": secret}
    event = load_event("health_credentials_exposed")
    event[field] = secret
    return event


@pytest.mark.parametrize("field", ["schema", "source", "detail-type"])
@pytest.mark.parametrize("wrap", ["{s}", "https://ci:{s}@git.example.com/x", "{s}!", "v1-{s}"])
def test_a_secret_in_a_quoted_field_never_reaches_the_reason_or_a_log_line(
    field: str, wrap: str
) -> None:
    # Given a message whose schema, source or detail-type is (or holds) a secret key, one with
    # a "/" as half of them have
    secret = fake_secret()[:20] + "/" + fake_secret()[:19]
    stage = Stage()

    # When it is rejected
    with captured_logs() as logs:
        stage.receive(json.dumps(_with_secret_in(field, wrap.format(s=secret))))

    # Then it is dead-lettered with a reason, and the secret is nowhere, not even most of it
    (message,) = stage.sqs.sent
    assert message.reason
    assert secret not in message.body
    assert logs.lines
    for text in (message.reason, logs.text()):
        assert secret not in text
        assert secret[:20] not in text
        assert secret[-20:] not in text


def test_the_reason_still_names_what_was_wrong() -> None:
    stage = Stage()
    stage.receive(json.dumps({**load_event("scanner_v1"), "schema": "leak-scan/v9"}))
    (message,) = stage.sqs.sent
    assert message.reason == "unknown scanner message schema 'leak-scan/v9'"


@pytest.mark.parametrize("receive_count", [1, MAX_RECEIVES])
def test_a_secret_in_an_exception_is_not_in_the_reason_or_the_log(receive_count: int) -> None:
    # Given containment that fails with a message quoting a secret (a bug, a chatty SDK)
    secret = fake_secret()
    stage = Stage()

    def chatty(key_id: str) -> NoReturn:
        raise RuntimeError(f"cannot read https://ci:pa/{secret}@h.example.com/x, {secret}x")

    stage.world.home.key_usage = chatty  # type: ignore[method-assign]
    body = json.dumps(load_event("scanner_v1"))

    # When the message is received
    with captured_logs() as logs:
        if receive_count < MAX_RECEIVES:
            with pytest.raises(RuntimeError):
                stage.receive(body, receive_count)
        else:
            stage.receive(body, receive_count)

    # Then it is dead-lettered on the last receive only, and neither the reason nor any log
    # line holds the secret
    assert len(stage.sqs.sent) == (receive_count == MAX_RECEIVES)
    assert logs.lines
    for text in [logs.text(), *(m.reason or "" for m in stage.sqs.sent)]:
        assert secret not in text


# --- what SQS itself refuses -------------------------------------------------------------


def test_a_body_that_redaction_grows_past_what_sqs_takes_is_cut_not_refused() -> None:
    # Given a 200 KB body of non-ASCII text, which JSON re-encoding triples
    stage = Stage()
    body = json.dumps({"note": "é" * 100_000}, ensure_ascii=False)

    # When it is rejected, Then it is dead-lettered once, cut to fit, and says so
    stage.receive(body)
    (message,) = stage.sqs.sent
    assert stage.sqs.refused == []
    assert message.reason
    assert "[cut: " in message.body
    assert len(message.body.encode()) < 256 * 1024


@pytest.mark.parametrize("receive_count", [1, MAX_RECEIVES])
def test_text_sqs_refuses_in_a_body_or_a_reason_is_replaced(receive_count: int) -> None:
    # Given containment failing with an error whose text SQS would refuse (a NUL, a surrogate)
    stage = Stage()

    def broken(key_id: str) -> NoReturn:
        raise RuntimeError("bad\x00byte \udc80")

    stage.world.home.key_usage = broken  # type: ignore[method-assign]

    # When the message is received for the last time, Then SQS takes the dead letter
    stage.receive(json.dumps(load_event("scanner_v1")), MAX_RECEIVES)
    (message,) = stage.sqs.sent
    assert stage.sqs.refused == []
    assert message.reason and "RuntimeError" in message.reason

    # And a record built by hand whose body SQS would refuse is dead-lettered when it arrives
    stage.receive("\x00\x01\ufffe", receive_count)
    assert len(stage.sqs.sent) == 2
    assert stage.sqs.refused == []


# --- a normaliser that fails -------------------------------------------------------------


@pytest.mark.parametrize("receive_count", [1, MAX_RECEIVES])
def test_a_normaliser_that_crashes_dead_letters_the_message_at_once(
    receive_count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a normaliser with a bug (found by the fuzz: `value in frozenset` on a list)
    def crashing(*_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr("leak_responder.responder.normalise", crashing)
    stage = Stage()

    # When a message reaches it, Then nothing escapes: the message is dead-lettered once,
    # with what failed and where, since reading it again would fail the same way
    stage.receive(json.dumps(load_event("securityhub_access_key")), receive_count)
    (message,) = stage.sqs.sent
    assert message.reason
    assert message.reason.startswith("not read: TypeError at test_responder_dead_letters.py:")
    assert stage.world.incidents.items == {}
