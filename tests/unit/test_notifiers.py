"""The notifiers the wiring chooses between: Slack built on the first notice, or none."""

from __future__ import annotations

import pytest

from leak_responder.adapters.notifiers import DeferredSlackNotifier, NoSlackNotifier
from leak_responder.domain.errors import NotificationError
from leak_responder.settings import Settings
from leak_responder.wiring import notifier_for
from leak_sandbox.testkit.world import World, leaked


def test_no_slack_leaves_the_notice_pending_and_refuses_reminders() -> None:
    world = World()
    world.home.add_user("alice")
    outcome = world.contain(
        leaked(world.home.add_key("alice"), user_name="alice"), notifier=NoSlackNotifier()
    )
    assert outcome.notification_pending
    assert not outcome.notification_failed
    with pytest.raises(NotificationError):
        NoSlackNotifier().remind(outcome.incident, 30.0)
    with pytest.raises(NotificationError):
        NoSlackNotifier().escalate(outcome.incident, 80.0)


def test_an_unusable_token_fails_the_notice_not_the_containment() -> None:
    # A token secret is named but cannot be read (no such secret behind a dead endpoint): the key
    # is Inactive all the same and the notice stays pending for a retry.
    world = World()
    world.home.add_user("alice")
    settings = Settings(incidents_table="t", slack_bot_token_secret="")
    deferred = DeferredSlackNotifier(settings, world.accounts)
    outcome = world.contain(
        leaked(world.home.add_key("alice"), user_name="alice"), notifier=deferred
    )
    assert outcome.notification_failed
    assert world.home.key(outcome.incident.key_id).status == "Inactive"


def test_the_wiring_chooses_slack_only_when_it_is_configured() -> None:
    world = World()
    bare = Settings(incidents_table="t")
    assert isinstance(notifier_for(bare, world.accounts), NoSlackNotifier)  # type: ignore[arg-type]
    for configured in (
        Settings(incidents_table="t", slack_bot_token_secret="slack/bot"),
        Settings(incidents_table="t", slack_api_url="http://127.0.0.1:1/api/"),
    ):
        chosen = notifier_for(configured, world.accounts)  # type: ignore[arg-type]
        assert isinstance(chosen, DeferredSlackNotifier)
