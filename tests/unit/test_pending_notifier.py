from __future__ import annotations

import pytest

from leak_responder.adapters.pending import LazyNotifier, PendingNotifier
from leak_responder.domain.errors import ConfigurationError, NotificationError
from leak_responder.domain.ports import Notifier
from tests.fakes import RecordingNotifier
from tests.worlds import World, leaked


def test_factory_runs_once_on_first_notice() -> None:
    built: list[Notifier] = []

    def factory() -> Notifier:
        built.append(RecordingNotifier())
        return built[-1]

    lazy = LazyNotifier(factory)
    assert built == []
    world = World()
    world.home.add_user("alice")
    for _ in range(2):
        world.contain(leaked(world.home.add_key("alice"), user_name="alice"), notifier=lazy)
    assert len(built) == 1


def test_a_failing_factory_leaves_the_notice_pending() -> None:
    def factory() -> Notifier:
        raise ConfigurationError("slack token secret missing")

    with pytest.raises(NotificationError):
        LazyNotifier(factory).notify(object())  # type: ignore[arg-type]


def test_pending_notifier_records_nothing_sent() -> None:
    world = World()
    world.home.add_user("alice")
    outcome = world.contain(
        leaked(world.home.add_key("alice"), user_name="alice"), notifier=PendingNotifier()
    )
    assert outcome.notification_pending
    assert not outcome.notification_failed
