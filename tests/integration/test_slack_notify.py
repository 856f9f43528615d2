"""The Slack notifier over real HTTP, against the stand-in: owners, fallbacks, outages, secrets."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from leak_responder.adapters.notifiers import DeferredSlackNotifier
from leak_responder.adapters.slack.client import build_web_client
from leak_responder.adapters.slack.notifier import SlackNotifier
from leak_responder.domain.model import IncidentStatus, NotificationStatus, PrincipalType
from leak_responder.domain.ports import Secret
from leak_responder.domain.reminder import ReminderDeps, ReminderPolicy, run_reminders
from leak_responder.settings import Settings
from leak_sandbox.slack_standin import (
    SlackStandIn,
    channel_id_for,
    dm_channel_for,
    user_id_for_email,
)
from leak_sandbox.testkit.events import health_event
from leak_sandbox.testkit.fakes import fake_secret
from leak_sandbox.testkit.lambda_shapes import lambda_context, sqs_event
from leak_sandbox.testkit.world import World
from tests.handlers import load_handler
from tests.integration.conftest import Stack

SECURITY = "C0SECURITY1"
BOT_TOKEN = "xoxb-" + fake_secret()  # generated per run; must never reach a recorded call


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(unknown_emails=["ghost@example.com"]) as server:
        yield server


@pytest.fixture
def world() -> World:
    return World()


def notifier(standin: SlackStandIn, world: World, security: str | None = SECURITY) -> SlackNotifier:
    client = build_web_client(
        Secret(BOT_TOKEN),
        base_url=standin.api_url,
        interval=FixedValueRetryIntervalCalculator(0),
    )
    return SlackNotifier(client, world.accounts, security_channel=security)


def recorded(standin: SlackStandIn) -> list[dict[str, Any]]:
    """The calls as any outside tool sees them: GET /_calls over HTTP."""
    with urllib.request.urlopen(standin.calls_url, timeout=5) as response:  # noqa: S310 - loopback
        calls: list[dict[str, Any]] = json.loads(response.read())
    return calls


def posts(standin: SlackStandIn, channel: str | None = None) -> list[dict[str, Any]]:
    return [
        c["params"]
        for c in recorded(standin)
        if c["method"] == "chat.postMessage"
        and (channel is None or c["params"]["channel"] == channel)
    ]


def test_contained_key_dms_the_tagged_owner(standin: SlackStandIn, world: World) -> None:
    # Given alice, tagged with her Slack user ID
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    # When her leaked key is contained
    incident = world.contained(key, notifier(standin, world))
    # Then she gets a DM, the security channel a copy, and the incident remembers both
    methods = [c["method"] for c in recorded(standin)]
    assert methods == ["conversations.open", "chat.postMessage", "chat.postMessage"]
    assert recorded(standin)[0]["params"] == {"users": "U0ALICE001"}
    dm = dm_channel_for("U0ALICE001")
    [owner_post] = posts(standin, dm)
    [security_post] = posts(standin, SECURITY)
    assert key in json.dumps(owner_post["blocks"])
    assert "Reactivate" not in json.dumps(owner_post["blocks"])
    assert "Reactivate" in json.dumps(security_post["blocks"])
    assert "<!channel>" not in json.dumps(security_post)
    assert incident.status == IncidentStatus.CONTAINED
    assert incident.notification_status == NotificationStatus.SENT
    assert incident.slack_channel == dm
    assert incident.owner_slack_id == "U0ALICE001"
    assert incident.slack_ts and incident.security_channel_ts
    assert standin.message(dm, incident.slack_ts) is not None


def test_email_tag_is_looked_up(standin: SlackStandIn, world: World) -> None:
    key = world.user("bob", {"email": "bob@example.com"})
    incident = world.contained(key, notifier(standin, world), user_name="bob")
    lookups = [c for c in recorded(standin) if c["method"] == "users.lookupByEmail"]
    assert [c["params"]["email"] for c in lookups] == ["bob@example.com"]
    expected = user_id_for_email("bob@example.com")
    assert incident.owner_slack_id == expected
    assert incident.slack_channel == dm_channel_for(expected)


def test_slack_tag_wins_over_email(standin: SlackStandIn, world: World) -> None:
    key = world.user("bob", {"Email": "bob@example.com", "slack-user-id": "U0BOB00001"})
    incident = world.contained(key, notifier(standin, world), user_name="bob")
    assert incident.owner_slack_id == "U0BOB00001"
    assert not [c for c in recorded(standin) if c["method"] == "users.lookupByEmail"]


@pytest.mark.parametrize(
    "tags", [{}, {"email": "ghost@example.com"}, {"slack-user-id": "not-a-slack-id"}]
)
def test_without_a_reachable_owner_the_channel_is_paged(
    standin: SlackStandIn, world: World, tags: dict[str, str]
) -> None:
    key = world.user("carol", tags)
    incident = world.contained(key, notifier(standin, world), user_name="carol")
    assert not [c for c in recorded(standin) if c["method"] == "conversations.open"]
    [post] = posts(standin)
    assert post["channel"] == SECURITY
    assert post["text"].startswith("<!channel>")
    assert "Owner unknown" in json.dumps(post["blocks"])
    assert incident.slack_channel == SECURITY
    assert incident.owner_slack_id is None
    assert incident.security_channel_ts == incident.slack_ts


def test_channel_names_resolve_to_ids(standin: SlackStandIn, world: World) -> None:
    key = world.user("carol")
    incident = world.contained(
        key, notifier(standin, world, security="#security"), user_name="carol"
    )
    assert incident.slack_channel == channel_id_for("security")


def test_root_key_pages_the_channel(standin: SlackStandIn, world: World) -> None:
    root = "AKIA" + "ROOT" * 4
    world.home.root_keys.add(root)
    incident = world.contained(
        root, notifier(standin, world), user_name=None, principal_type=PrincipalType.ROOT
    )
    assert incident.status == IncidentStatus.ALERT_ONLY
    [post] = posts(standin)
    assert post["channel"] == SECURITY
    assert post["text"].startswith("<!channel>")
    assert "root" in json.dumps(post["blocks"])


def test_no_secret_value_in_any_recorded_call(standin: SlackStandIn, world: World) -> None:
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    world.contained(key, notifier(standin, world))
    [stored] = world.secrets.secrets.values()
    everything = json.dumps(recorded(standin))
    assert stored["AccessKeyId"] in everything  # the new key ID is meant to be there
    assert stored["SecretAccessKey"] not in everything
    assert BOT_TOKEN not in everything


def reminder_deps(world: World, n: Any) -> ReminderDeps:
    return ReminderDeps(world.incidents, n, world.clock, ReminderPolicy())


@pytest.mark.parametrize("status", [500, 429])
def test_slack_down_leaves_the_key_inactive_and_a_later_run_delivers_once(
    standin: SlackStandIn, world: World, status: int
) -> None:
    # Given Slack answering 500 (or 429) to everything, beyond the client's retries
    standin.fail_next("conversations.open", status, times=100)
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    slack = notifier(standin, world)
    # When the key is contained
    incident = world.contained(key, slack)
    # Then containment stands and the notice is pending
    assert world.home.key(key).status == "Inactive"
    assert incident.status == IncidentStatus.CONTAINED
    assert incident.notification_status == NotificationStatus.PENDING
    assert len(standin.failed_calls()) == 3  # one try and two retries by slack_sdk's handlers
    assert posts(standin) == []
    # And when Slack is back, the reminder delivers it, once, however often it runs
    standin.fail_next("conversations.open", status, times=0)
    first = run_reminders(reminder_deps(world, slack))
    second = run_reminders(reminder_deps(world, slack))
    assert len(first.delivered) == 1 and second.delivered == []
    # And a redelivery of the original event does not notify again either
    again = world.contained(key, slack)
    assert again.notification_status == NotificationStatus.SENT
    assert len(posts(standin, dm_channel_for("U0ALICE001"))) == 1
    assert len(posts(standin, SECURITY)) == 1


def test_redelivery_delivers_a_pending_notice_once(standin: SlackStandIn, world: World) -> None:
    standin.fail_next("chat.postMessage", 500, times=3)
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    slack = notifier(standin, world)
    assert world.contained(key, slack).notification_status == NotificationStatus.PENDING
    assert world.contained(key, slack).notification_status == NotificationStatus.SENT
    assert world.contained(key, slack).notification_status == NotificationStatus.SENT
    assert len(posts(standin, dm_channel_for("U0ALICE001"))) == 1


def test_a_short_rate_limit_is_absorbed_by_the_retry_handler(
    standin: SlackStandIn, world: World
) -> None:
    standin.fail_next("chat.postMessage", 429, times=1, retry_after=0)
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    incident = world.contained(key, notifier(standin, world))
    assert incident.notification_status == NotificationStatus.SENT
    assert standin.failed_calls() == [{"method": "chat.postMessage", "status": 429}]


def test_security_copy_failing_does_not_repeat_the_dm(standin: SlackStandIn, world: World) -> None:
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    slack = notifier(standin, world, security="C0BROKEN01")
    standin.fail_next("chat.postMessage", 500, times=0)

    class SecurityDown(SlackNotifier):
        def _post(self, channel: str, message: Any, **extra: Any) -> tuple[str, str]:
            if channel == "C0BROKEN01":
                from leak_responder.domain.errors import NotificationError

                raise NotificationError("slack chat.postMessage failed: internal_error")
            return super()._post(channel, message, **extra)

    down = SecurityDown(slack.client, world.accounts, security_channel="C0BROKEN01")
    incident = world.contained(key, down)
    assert incident.notification_status == NotificationStatus.SENT
    assert incident.security_channel_ts is None
    assert len(posts(standin)) == 1


def test_factory_reads_token_lazily_and_stays_pending_without_one(world: World) -> None:
    # No token secret and no stand-in URL: Slack is unusable, and the notice stays pending.
    settings = Settings(incidents_table="t", slack_security_channel=SECURITY)
    n = DeferredSlackNotifier(settings, world.accounts)
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    incident = world.contained(key, n)
    assert incident.notification_status == NotificationStatus.PENDING
    assert world.home.key(key).status == "Inactive"


# --------------------------------------------------------------- through the real responder


@pytest.fixture
def responder() -> Any:
    module = load_handler("responder")
    module.responder_for.cache_clear()
    return module


def test_responder_handler_notifies_through_the_standin(
    stack: Stack, responder: Any, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the deployed shape: token in Secrets Manager, stand-in as the Slack API
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="slack/bot-token", SecretString=BOT_TOKEN)
    monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET", "slack/bot-token")
    monkeypatch.setenv("SLACK_API_URL", standin.api_url)
    monkeypatch.setenv("SLACK_SECURITY_CHANNEL", SECURITY)
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # type: ignore[no-untyped-call]
    iam = stack.iam()
    iam.create_user(UserName="dana", Tags=[{"Key": "email", "Value": "dana@example.com"}])
    key = iam.create_access_key(UserName="dana")["AccessKey"]["AccessKeyId"]
    event = health_event(
        key, "dana", "123456789012", exposed_url="https://github.com/example/leak/blob/main/a.py"
    )
    # When the responder handles it
    result = responder.lambda_handler(
        sqs_event([json.dumps(event)], stack.queue_arn), lambda_context()
    )
    # Then the key is Inactive and dana got her DM
    assert result == {"batchItemFailures": []}
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName="dana")["AccessKeyMetadata"]
    }
    assert statuses[key] == "Inactive"
    dana = user_id_for_email("dana@example.com")
    [dm] = posts(standin, dm_channel_for(dana))
    assert key in dm["text"]
    assert "github.com/example/leak" in json.dumps(dm["blocks"])
    assert BOT_TOKEN not in json.dumps(recorded(standin))
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def test_reminder_handler_delivers_what_the_responder_could_not(
    stack: Stack, responder: Any, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Slack failing (500) while the responder contains erin's key
    monkeypatch.setenv("SLACK_API_URL", standin.api_url)
    monkeypatch.setenv("SLACK_SECURITY_CHANNEL", SECURITY)
    iam = stack.iam()
    iam.create_user(UserName="erin", Tags=[{"Key": "slack-user-id", "Value": "U0ERIN0001"}])
    key = iam.create_access_key(UserName="erin")["AccessKey"]["AccessKeyId"]
    standin.fail_next("conversations.open", 500, times=100)
    body = json.dumps(
        {
            "schema": "leak-responder/scanner-finding/v1",
            "key_id": key,
            "account_id": "123456789012",
            "secret_present": True,
            "detected_at": "2026-11-28T12:00:00Z",
            "scanner": "leak-scan 0.1.0",
            "location": {
                "repository": "git@example.com:org/repo.git",
                "path": "app.env",
                "line": 3,
                "commit": "3f2c" * 10,
                "url": None,
            },
        }
    )
    # The message is handed back to SQS for redelivery (the notice is pending), key contained.
    failed = responder.lambda_handler(sqs_event([body], stack.queue_arn), lambda_context())
    assert len(failed["batchItemFailures"]) == 1
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName="erin")["AccessKeyMetadata"]
    }
    assert statuses[key] == "Inactive"
    assert posts(standin) == []
    # When Slack recovers and the scheduled reminder runs, twice
    standin.fail_next("conversations.open", 500, times=0)
    reminder = load_handler("reminder")
    reminder.reminder_for.cache_clear()
    first = reminder.lambda_handler({"source": "aws.scheduler"}, lambda_context())
    second = reminder.lambda_handler({"source": "aws.scheduler"}, lambda_context())
    # Then erin got exactly one DM, and the security channel one copy
    assert first["delivered"] == 1 and second["delivered"] == 0
    assert len(posts(standin, dm_channel_for("U0ERIN0001"))) == 1
    assert len(posts(standin, SECURITY)) == 1
    # And SQS's redelivery of the original message afterwards sends nothing more
    again = responder.lambda_handler(sqs_event([body], stack.queue_arn, 2), lambda_context())
    assert again == {"batchItemFailures": []}
    assert len(posts(standin, dm_channel_for("U0ERIN0001"))) == 1


def test_a_long_retry_after_is_not_waited_for(standin: SlackStandIn, world: World) -> None:
    # Slack asks for a minute: better pending (redelivery, reminder) than a Lambda asleep.
    standin.fail_next("conversations.open", 429, times=1, retry_after=60)
    key = world.user("alice", {"slack-user-id": "U0ALICE001"})
    incident = world.contained(key, notifier(standin, world))
    assert incident.notification_status == NotificationStatus.PENDING
    assert standin.failed_calls() == [{"method": "conversations.open", "status": 429}]
