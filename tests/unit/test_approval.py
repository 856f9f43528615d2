"""The approval workflow on fakes: who may click, what is re-checked, and idempotence."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import timedelta

import pytest

from leak_responder.domain.approval import (
    Action,
    ApprovalDeps,
    ApprovalPolicy,
    ApprovalRefusedError,
    ApprovalUnavailableError,
    Click,
    UnauthorisedClickError,
    UnknownIncidentError,
    handle_click,
    iam_tag_value,
)
from leak_responder.domain.model import Incident, IncidentStatus
from leak_responder.errors import ConflictError, LeakResponderError, TransientError
from tests.fakes import InMemoryIncidentStore
from tests.slack_support import APPROVER, OWNER_SLACK, STRANGER, TEAM, World


class OwnerNotifier:
    """Delivers every notice to the owner's DM, as the Slack notifier would."""

    def notify(self, incident: Incident) -> object:
        from leak_responder.domain.ports import NotificationReceipt

        return NotificationReceipt("D0OWNER", "1700000000.000001", OWNER_SLACK, "1700000000.000002")


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def contained(world: World) -> Incident:
    key = world.user("alice", {"slack-user-id": OWNER_SLACK})
    incident = world.contain(key, OwnerNotifier())  # type: ignore[arg-type]
    assert incident.status == IncidentStatus.CONTAINED
    assert incident.owner_slack_id == OWNER_SLACK
    world.clock.advance(hours=1)
    return incident


def deps(world: World, store: InMemoryIncidentStore | None = None) -> ApprovalDeps:
    return ApprovalDeps(
        incidents=store or world.incidents,
        accounts=world.accounts,
        clock=world.clock,
        policy=ApprovalPolicy(approvers=frozenset({APPROVER}), team_id=TEAM),
    )


def click(incident: Incident, user: str, action: Action = Action.DELETE, team: str = TEAM) -> Click:
    return Click(action=action, incident_id=incident.incident_id, user_id=user, team_id=team)


def iam_tag_value_ok(value: str) -> bool:
    """IAM's rule for a tag value, [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]{0,256}: the fakes (and moto)
    accept anything, real IAM answers ValidationError."""
    return len(value) <= 256 and all(
        unicodedata.category(ch)[0] in "LZN" or ch in "_.:/=+-@" for ch in value
    )


def deletes(world: World) -> list[tuple[object, ...]]:
    return [args for name, args in world.home.calls if name == "DeleteAccessKey"]


def test_owner_deletes_the_old_key(world: World, contained: Incident) -> None:
    # Given a contained key whose replacement is unused
    # When its owner clicks Delete
    result = handle_click(click(contained, OWNER_SLACK), deps(world))
    # Then the old key is gone, the replacement stays, and the incident is closed and audited
    assert result.changed
    assert contained.key_id not in world.home.users["alice"].keys
    assert contained.new_key_id in world.home.users["alice"].keys
    stored = world.incidents.get_by_id(contained.incident_id)
    assert stored.status == IncidentStatus.DELETED
    assert stored.closed_by == OWNER_SLACK
    assert stored.closed_at == "2026-11-28T13:00:00Z"
    assert stored.audit[-1]["action"] == "delete_old_key"
    assert stored.audit[-1]["by"] == OWNER_SLACK
    assert result.replacement_used is False
    assert "not been used yet" in result.message


def test_approver_may_delete_too(world: World, contained: Incident) -> None:
    assert handle_click(click(contained, APPROVER), deps(world)).changed


def test_says_when_the_replacement_is_already_in_use(world: World, contained: Incident) -> None:
    assert contained.new_key_id
    world.home.key(contained.new_key_id).last_used_at = world.clock.now()
    result = handle_click(click(contained, OWNER_SLACK), deps(world))
    assert result.replacement_used is True
    assert "already in use" in result.message


def test_double_click_deletes_once_and_says_so(world: World, contained: Incident) -> None:
    first = handle_click(click(contained, OWNER_SLACK), deps(world))
    second = handle_click(click(contained, OWNER_SLACK), deps(world))
    assert first.changed and not second.changed
    assert "already deleted" in second.message
    assert len(deletes(world)) == 1


def test_concurrent_second_click_stands_down(world: World, contained: Incident) -> None:
    # Given a first click that has claimed the incident but not finished (it crashed, or is slow)
    current = world.incidents.get_by_id(contained.incident_id)
    claim = {"at": "2026-11-28T13:00:00Z", "by": OWNER_SLACK, "action": "delete_started"}
    world.incidents.save(replace(current, audit=(*current.audit, claim)))
    # When a second click arrives within the claim's lifetime, it deletes nothing
    with pytest.raises(ApprovalUnavailableError):
        handle_click(click(contained, APPROVER), deps(world))
    assert deletes(world) == []
    # And once the claim has expired, a retry goes through
    world.clock.advance(minutes=5)
    assert handle_click(click(contained, APPROVER), deps(world)).changed
    assert len(deletes(world)) == 1


class RacingStore(InMemoryIncidentStore):
    """Another click's claim lands between our read and our first write."""

    def __init__(self, inner: InMemoryIncidentStore, rival: str) -> None:
        super().__init__()
        self.items = inner.items
        self.rival = rival
        self.raced = False

    def save(self, incident: Incident) -> Incident:
        if not self.raced:
            self.raced = True
            current = self.items[incident.pk]
            claim = {"at": "2026-11-28T13:00:00Z", "by": self.rival, "action": "delete_started"}
            super().save(replace(current, audit=(*current.audit, claim)))
        return super().save(incident)


def test_lost_race_to_another_click_deletes_nothing(world: World, contained: Incident) -> None:
    store = RacingStore(world.incidents, APPROVER)
    with pytest.raises(ApprovalUnavailableError):
        handle_click(click(contained, OWNER_SLACK), deps(world, store))
    assert deletes(world) == []


def test_stranger_is_refused(world: World, contained: Incident) -> None:
    with pytest.raises(UnauthorisedClickError) as info:
        handle_click(click(contained, STRANGER), deps(world))
    assert "owner" in info.value.reason
    assert deletes(world) == []


def test_other_workspace_is_refused_even_for_the_owner(world: World, contained: Incident) -> None:
    with pytest.raises(UnauthorisedClickError):
        handle_click(click(contained, OWNER_SLACK, team="T0OTHERTEAM"), deps(world))
    assert deletes(world) == []


@pytest.mark.parametrize("forged", ["no-such-incident-id", "x", "../../etc/passwd", "a" * 300])
def test_forged_incident_id_is_unknown(world: World, contained: Incident, forged: str) -> None:
    bad = Click(Action.DELETE, forged, OWNER_SLACK, TEAM)
    with pytest.raises(UnknownIncidentError):
        handle_click(bad, deps(world))
    assert deletes(world) == []


def test_reactivated_key_is_not_deleted(world: World, contained: Incident) -> None:
    world.home.key(contained.key_id).status = "Active"
    with pytest.raises(ApprovalRefusedError) as info:
        handle_click(click(contained, OWNER_SLACK), deps(world))
    assert "Active again" in info.value.reason
    assert deletes(world) == []
    stored = world.incidents.get_by_id(contained.incident_id)
    assert stored.status == IncidentStatus.CONTAINED
    assert stored.audit[-1]["action"] == "delete_refused"


def test_key_used_after_deactivation_is_not_deleted(world: World, contained: Incident) -> None:
    world.home.key(contained.key_id).last_used_at = world.clock.now() - timedelta(minutes=30)
    with pytest.raises(ApprovalRefusedError) as info:
        handle_click(click(contained, OWNER_SLACK), deps(world))
    assert "after it was deactivated" in info.value.reason
    assert deletes(world) == []
    # The refusal released the claim: once investigated, the key is still deletable by hand,
    # and a new click is refused again for the same reason rather than "in progress".
    with pytest.raises(ApprovalRefusedError):
        handle_click(click(contained, APPROVER), deps(world))


def test_use_before_deactivation_does_not_block(world: World, contained: Incident) -> None:
    world.home.key(contained.key_id).last_used_at = world.clock.now() - timedelta(hours=3)
    assert handle_click(click(contained, OWNER_SLACK), deps(world)).changed


def test_key_already_gone_closes_the_incident(world: World, contained: Incident) -> None:
    del world.home.users["alice"].keys[contained.key_id]
    result = handle_click(click(contained, OWNER_SLACK), deps(world))
    assert result.changed
    assert "no longer exists" in result.message
    assert world.incidents.get_by_id(contained.incident_id).status == IncidentStatus.DELETED
    assert deletes(world) == []


def test_reactivate_is_for_approvers_only(world: World, contained: Incident) -> None:
    with pytest.raises(UnauthorisedClickError):
        handle_click(click(contained, OWNER_SLACK, Action.REACTIVATE), deps(world))
    assert world.home.key(contained.key_id).status == "Inactive"

    result = handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world))
    assert result.changed
    assert world.home.key(contained.key_id).status == "Active"
    note = world.home.users["alice"].tags[contained.key_id]
    assert "reactivated" in note and contained.incident_id in note
    assert iam_tag_value_ok(note), note
    stored = world.incidents.get_by_id(contained.incident_id)
    assert stored.status == IncidentStatus.REACTIVATED
    assert stored.closed_by == APPROVER
    assert stored.audit[-1] == {
        "at": "2026-11-28T13:00:00Z",
        "by": APPROVER,
        "action": "reactivate_key",
        "detail": "false positive",
    }
    again = handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world))
    assert not again.changed
    # And a late Delete click on a reactivated incident deletes nothing
    with pytest.raises(ApprovalRefusedError):
        handle_click(click(contained, OWNER_SLACK), deps(world))
    assert deletes(world) == []


def test_a_refused_retag_does_not_undo_the_reactivation(
    world: World, contained: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given IAM refusing the description tag (a quota, a policy, an invalid value)
    def refused(user_name: str, tags: dict[str, str]) -> None:
        raise LeakResponderError("iam:TagUser: ValidationError")

    monkeypatch.setattr(world.home, "tag_user", refused)
    # When an approver reactivates the key
    result = handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world))
    # Then the key is Active and the incident says so: the tag is only the console's label
    assert result.changed
    assert world.home.key(contained.key_id).status == "Active"
    assert world.incidents.get_by_id(contained.incident_id).status == IncidentStatus.REACTIVATED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("leak-responder: reactivated 2026-11-28", "leak-responder: reactivated 2026-11-28"),
        ("reactivated (false positive), by U0SEC", "reactivated -false positive-- by U0SEC"),
        ("Zoë's key\tnote;", "Zoë-s key-note-"),
        ("x" * 300, "x" * 256),
    ],
)
def test_tag_values_are_made_acceptable_to_iam(text: str, expected: str) -> None:
    assert iam_tag_value(text) == expected
    assert iam_tag_value_ok(iam_tag_value(text))


def test_deleted_key_cannot_be_reactivated(world: World, contained: Incident) -> None:
    handle_click(click(contained, OWNER_SLACK), deps(world))
    with pytest.raises(ApprovalRefusedError):
        handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world))


def test_not_contained_incident_has_nothing_to_delete(world: World) -> None:
    world.home.add_user("carol")
    world.home.root_keys.add(root := "AKIA" + "R" * 16)
    incident = world.contain(root, user_name=None)
    assert incident.status == IncidentStatus.ALERT_ONLY
    with pytest.raises(ApprovalRefusedError):
        handle_click(Click(Action.DELETE, incident.incident_id, APPROVER, TEAM), deps(world))


def test_aws_throttling_is_try_again_and_releases_the_claim(
    world: World, contained: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    def throttled(user_name: str) -> list[object]:
        raise TransientError("Throttling")

    monkeypatch.setattr(world.home, "list_keys", throttled)
    with pytest.raises(ApprovalUnavailableError):
        handle_click(click(contained, OWNER_SLACK), deps(world))
    monkeypatch.undo()
    assert handle_click(click(contained, OWNER_SLACK), deps(world)).changed


def test_store_conflicts_are_retried(world: World, contained: Incident) -> None:
    class FlakyStore(InMemoryIncidentStore):
        def __init__(self, inner: InMemoryIncidentStore) -> None:
            super().__init__()
            self.items = inner.items
            self.fail = 1

        def save(self, incident: Incident) -> Incident:
            if self.fail:
                self.fail -= 1
                raise ConflictError(incident.pk)
            return super().save(incident)

    assert handle_click(
        click(contained, OWNER_SLACK), deps(world, FlakyStore(world.incidents))
    ).changed
