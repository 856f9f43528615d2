"""The approval workflow on fakes: who may click, what is re-checked, and idempotence."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import timedelta

import pytest

from leak_responder.domain.approval import (
    APPROVAL_CLAIM,
    CLAIM_TTL,
    Action,
    ActionInProgressError,
    ApprovalDeps,
    ApprovalPolicy,
    ApprovalRefusedError,
    ApprovalUnavailableError,
    Click,
    UnauthorisedClickError,
    UnknownIncidentError,
    handle_click,
)
from leak_responder.domain.errors import ConflictError, LeakResponderError, TransientError
from leak_responder.domain.incidents import take_lease
from leak_responder.domain.model import Incident, IncidentStatus
from leak_responder.domain.tags import iam_tag_value
from leak_sandbox.testkit.fakes import InMemoryIncidentStore
from leak_sandbox.testkit.world import APPROVER, OWNER_SLACK, STRANGER, TEAM, World


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
    incident = world.contained(key, OwnerNotifier())  # type: ignore[arg-type]
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


def test_deleting_the_old_key_drops_its_tag_and_keeps_the_replacement_s(
    world: World, contained: Incident
) -> None:
    # Given a contained key: containment tagged the user with the old key's and the
    # replacement's descriptions (one tag each; IAM allows a user 50)
    tags = world.home.users["alice"].tags
    assert contained.key_id in tags and contained.new_key_id in tags
    # When the owner deletes the old key
    assert handle_click(click(contained, OWNER_SLACK), deps(world)).changed
    # Then the old key's tag goes with it; the replacement's stays
    assert contained.key_id not in tags
    assert contained.new_key_id in tags
    assert ("UntagUser", ("alice", (contained.key_id,))) in world.home.calls


def test_a_refused_untag_does_not_fail_the_deletion(
    world: World, contained: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given IAM refusing UntagUser (a policy, throttling)
    def refused(user_name: str, keys: list[str]) -> None:
        raise TransientError("iam:UntagUser: Throttling")

    monkeypatch.setattr(world.home, "untag_user", refused)
    # When the owner deletes the old key
    result = handle_click(click(contained, OWNER_SLACK), deps(world))
    # Then the key is deleted and the incident closed: the tag is only a label
    assert result.changed
    assert contained.key_id not in world.home.users["alice"].keys
    assert world.incidents.get_by_id(contained.incident_id).status == IncidentStatus.DELETED


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


def hold_claim(store: InMemoryIncidentStore, incident: Incident, world: World) -> None:
    """Another click's approval claim, as it leaves it while it works (or after it crashed)."""
    current = store.get_by_id(incident.incident_id)
    held = take_lease(store, current, APPROVAL_CLAIM, world.clock.now(), CLAIM_TTL, lambda i: False)
    assert held.mine


def test_concurrent_second_click_stands_down(world: World, contained: Incident) -> None:
    # Given a first click that has claimed the incident but not finished (it crashed, or is slow)
    hold_claim(world.incidents, contained, world)
    # When a second click arrives within the claim's lifetime, it deletes nothing
    with pytest.raises(ActionInProgressError) as info:
        handle_click(click(contained, APPROVER), deps(world))
    assert "another action is in progress" in info.value.reason
    assert deletes(world) == []
    # And once the claim has expired, a retry goes through
    world.clock.advance(minutes=5)
    assert handle_click(click(contained, APPROVER), deps(world)).changed
    assert len(deletes(world)) == 1
    assert world.incidents.get_by_id(contained.incident_id).claims == {}


class RacingStore(InMemoryIncidentStore):
    """Another click's claim lands between our read and our first write."""

    def __init__(self, inner: InMemoryIncidentStore, world: World) -> None:
        super().__init__()
        self.items = inner.items
        self.inner = inner
        self.world = world
        self.raced = False

    def save(self, incident: Incident) -> Incident:
        if not self.raced:
            self.raced = True
            hold_claim(self.inner, incident, self.world)
        return super().save(incident)


@pytest.mark.parametrize("action", [Action.DELETE, Action.REACTIVATE])
def test_lost_race_to_another_click_touches_nothing(
    world: World, contained: Incident, action: Action
) -> None:
    store = RacingStore(world.incidents, world)
    with pytest.raises(ActionInProgressError):
        handle_click(click(contained, APPROVER, action), deps(world, store))
    assert deletes(world) == []
    assert world.home.key(contained.key_id).status == "Inactive"


class Crash(Exception):
    """The Lambda dies mid-click (timeout, out of memory): nothing of ours runs after it."""


def updates(world: World) -> list[tuple[object, ...]]:
    return [args for name, args in world.home.calls if name == "UpdateAccessKey"]


def test_reactivate_during_a_delete_in_flight_is_refused_and_changes_nothing(
    world: World, contained: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Delete click that has checked the key and is about to delete it
    real_delete = world.home.delete_key
    seen: dict[str, object] = {}

    def delete_key(user_name: str, key_id: str) -> None:
        # When an approver's Reactivate arrives at that moment
        before = world.incidents.get_by_id(contained.incident_id)
        with pytest.raises(ActionInProgressError) as info:
            handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world))
        seen["reason"] = info.value.reason
        # Then it is refused without touching the key or the record
        seen["unchanged"] = world.incidents.get_by_id(contained.incident_id) == before
        seen["status"] = world.home.key(contained.key_id).status
        real_delete(user_name, key_id)

    monkeypatch.setattr(world.home, "delete_key", delete_key)
    result = handle_click(click(contained, OWNER_SLACK), deps(world))
    assert "another action is in progress" in str(seen["reason"])
    assert seen["unchanged"] is True
    assert seen["status"] == "Inactive"
    assert [u for u in updates(world) if u[-1] == "Active"] == []
    # And the delete finishes, and the record tells the truth
    assert result.changed
    assert contained.key_id not in world.home.users["alice"].keys
    assert world.incidents.get_by_id(contained.incident_id).status == IncidentStatus.DELETED


def test_delete_during_a_reactivation_in_flight_is_refused_and_changes_nothing(
    world: World, contained: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Reactivate click about to make the key Active again
    real_activate = world.home.activate
    seen: dict[str, object] = {}

    def activate(user_name: str, key_id: str) -> None:
        # When the owner's Delete arrives at that moment
        before = world.incidents.get_by_id(contained.incident_id)
        with pytest.raises(ActionInProgressError) as info:
            handle_click(click(contained, OWNER_SLACK), deps(world))
        seen["reason"] = info.value.reason
        seen["unchanged"] = world.incidents.get_by_id(contained.incident_id) == before
        real_activate(user_name, key_id)

    monkeypatch.setattr(world.home, "activate", activate)
    result = handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world))
    # Then the delete was refused and deleted nothing; the reactivation stands
    assert "another action is in progress" in str(seen["reason"])
    assert seen["unchanged"] is True
    assert deletes(world) == []
    assert result.changed
    assert world.home.key(contained.key_id).status == "Active"
    assert world.incidents.get_by_id(contained.incident_id).status == IncidentStatus.REACTIVATED


def test_a_second_reactivate_while_one_is_in_flight_stands_down(
    world: World, contained: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_activate = world.home.activate
    refused: list[str] = []

    def activate(user_name: str, key_id: str) -> None:
        try:
            handle_click(click(contained, "U0SECURITY2", Action.REACTIVATE), deps_two(world))
        except ActionInProgressError as exc:
            refused.append(exc.reason)
        real_activate(user_name, key_id)

    monkeypatch.setattr(world.home, "activate", activate)
    assert handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world)).changed
    assert len(refused) == 1 and "another action is in progress" in refused[0]
    assert len([u for u in updates(world) if u[-1] == "Active"]) == 1


def deps_two(world: World) -> ApprovalDeps:
    return replace(
        deps(world), policy=ApprovalPolicy(approvers=frozenset({APPROVER, "U0SECURITY2"}))
    )


@pytest.mark.parametrize(
    ("crashed", "then"),
    [(Action.DELETE, Action.REACTIVATE), (Action.REACTIVATE, Action.DELETE)],
)
def test_after_a_crashed_click_s_lease_the_other_action_proceeds(
    world: World,
    contained: Incident,
    monkeypatch: pytest.MonkeyPatch,
    crashed: Action,
    then: Action,
) -> None:
    # Given a click that died holding the incident, before touching the key
    def crash(*args: object) -> None:
        raise Crash

    monkeypatch.setattr(world.home, "list_keys" if crashed == Action.DELETE else "activate", crash)
    with pytest.raises(Crash):
        handle_click(click(contained, APPROVER, crashed), deps(world))
    monkeypatch.undo()
    # When the other action is clicked while that claim is fresh, it is refused
    before = world.incidents.get_by_id(contained.incident_id)
    with pytest.raises(ActionInProgressError) as info:
        handle_click(click(contained, APPROVER, then), deps(world))
    assert "another action is in progress" in info.value.reason
    assert world.incidents.get_by_id(contained.incident_id) == before
    assert world.home.key(contained.key_id).status == "Inactive"
    # And once the lease has run out, it goes through
    world.clock.advance(minutes=2)
    result = handle_click(click(contained, APPROVER, then), deps(world))
    assert result.changed
    stored = world.incidents.get_by_id(contained.incident_id)
    if then == Action.DELETE:
        assert stored.status == IncidentStatus.DELETED
        assert contained.key_id not in world.home.users["alice"].keys
    else:
        assert stored.status == IncidentStatus.REACTIVATED
        assert world.home.key(contained.key_id).status == "Active"
    # And a repeat of it changes nothing and says so
    assert not handle_click(click(contained, APPROVER, then), deps(world)).changed


def test_a_refused_reactivation_releases_the_incident(world: World, contained: Incident) -> None:
    # Given a reactivation refused because the key is gone
    del world.home.users["alice"].keys[contained.key_id]
    with pytest.raises(ApprovalRefusedError):
        handle_click(click(contained, APPROVER, Action.REACTIVATE), deps(world))
    # Then a Delete right after is not told "in progress": it closes the incident
    result = handle_click(click(contained, OWNER_SLACK), deps(world))
    assert "no longer exists" in result.message


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
    # The tag of a key deleted outside leak-responder goes too
    assert contained.key_id not in world.home.users["alice"].tags


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
    incident = world.contained(root, user_name=None)
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
