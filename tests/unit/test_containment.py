"""The containment workflow on in-memory fakes: every branch, and a crash after every port call."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from leak_responder.domain.containment import expand
from leak_responder.domain.errors import (
    AccessDeniedError,
    LeakResponderError,
    TransientError,
    UnmodifiableEntityError,
)
from leak_responder.domain.model import (
    Evidence,
    Incident,
    IncidentStatus,
    LeakedKey,
    NotificationStatus,
    PrincipalType,
    QuarantinedUser,
    Source,
    Step,
    iso,
)
from leak_responder.domain.ports import PrincipalRef
from leak_responder.domain.protection import Policy
from leak_sandbox.testkit.fakes import InMemoryIncidentStore, fake_key_id
from leak_sandbox.testkit.world import HOME, MEMBER, World, leaked

MUTATING = {"UpdateAccessKey", "CreateAccessKey", "DeleteAccessKey", "TagUser", "PutUserPolicy"}


@pytest.fixture
def world() -> World:
    w = World()
    w.home.add_user("alice", tags={"slack-user-id": "U0ALICE"})
    return w


def test_event_naming_the_user_costs_one_call_before_inactive(world: World) -> None:
    # Given alice's active key, reported by an event that names her
    key_id = world.home.add_key("alice")
    # When it is contained
    outcome = world.contain(leaked(key_id, user_name="alice"))
    # Then the very first IAM call deactivated it, and the rest followed
    assert world.home.calls[0] == ("UpdateAccessKey", ("alice", key_id, "Inactive"))
    assert world.home.key(key_id).status == "Inactive"
    incident = outcome.incident
    assert outcome.newly_contained and not outcome.duplicate
    assert incident.status == IncidentStatus.CONTAINED
    assert all(incident.done(step) for step in Step)
    new_key = world.home.key(incident.new_key_id or "")
    assert new_key.status == "Active"
    stored = world.secrets.secrets[incident.secret_name or ""]
    assert stored == {"AccessKeyId": new_key.key_id, "SecretAccessKey": new_key.secret}
    assert set(world.home.users["alice"].tags) >= {key_id, new_key.key_id}
    assert "leak-responder-revoke-older-sessions" in world.home.users["alice"].inline_policies
    assert incident.notification_status == NotificationStatus.SENT
    assert incident.slack_ts and len(world.notifier.sent) == 1
    assert new_key.secret not in repr(incident)


def test_event_without_user_costs_two_calls_before_inactive(world: World) -> None:
    key_id = world.home.add_key("alice")
    world.contain(leaked(key_id))
    assert [c[0] for c in world.home.calls[:2]] == ["GetAccessKeyLastUsed", "UpdateAccessKey"]
    assert world.home.key(key_id).status == "Inactive"


def test_event_naming_the_wrong_user_falls_back_to_iam(world: World) -> None:
    world.home.add_user("bob")
    key_id = world.home.add_key("alice")
    outcome = world.contain(leaked(key_id, user_name="bob"))
    assert world.home.key(key_id).status == "Inactive"
    assert outcome.incident.user_name == "alice"


def test_account_unknown_is_resolved_with_sts(world: World) -> None:
    key_id = world.home.add_key("alice")
    outcome = world.contain(leaked(key_id, account_id=None))
    assert world.accounts.calls == ["GetAccessKeyInfo"]
    assert outcome.incident.account_id == HOME


def test_fifty_duplicates_make_one_replacement(world: World) -> None:
    key_id = world.home.add_key("alice")
    sources = [Source.HEALTH, Source.GUARDDUTY, Source.SCANNER, Source.TRUSTEDADVISOR]
    outcomes = [
        world.contain(leaked(key_id, user_name="alice", source=sources[i % 4])) for i in range(50)
    ]
    creates = [c for c in world.home.calls if c[0] == "CreateAccessKey"]
    assert len(creates) == 1
    assert len(world.home.users["alice"].keys) == 2
    assert len(world.notifier.sent) == 1
    assert sum(o.newly_contained for o in outcomes) == 1
    incident = outcomes[-1].incident
    assert incident.sighting_count == 50
    assert {s.source for s in incident.sightings} == set(sources)


def test_two_key_limit_creates_nothing_and_says_why(world: World) -> None:
    key_id = world.home.add_key("alice")
    world.home.add_key("alice")
    outcome = world.contain(leaked(key_id, user_name="alice"))
    assert world.home.key(key_id).status == "Inactive"
    assert outcome.incident.new_key_id is None
    assert "two access keys" in (outcome.incident.replacement_note or "")
    assert outcome.incident.status == IncidentStatus.CONTAINED
    assert not [c for c in world.home.calls if c[0] == "CreateAccessKey"]


def test_an_inactive_key_counts_toward_the_limit(world: World) -> None:
    key_id = world.home.add_key("alice")
    world.home.add_key("alice", status="Inactive")
    outcome = world.contain(leaked(key_id))
    assert outcome.incident.new_key_id is None


def test_quarantine_policy_is_noticed(world: World) -> None:
    key_id = world.home.add_key("alice")
    world.home.attached["alice"] = ["AWSCompromisedKeyQuarantineV3"]
    outcome = world.contain(leaked(key_id, user_name="alice"))
    assert outcome.incident.quarantined


def test_unknown_key_is_recorded_once_and_not_retried(world: World) -> None:
    key_id = fake_key_id()
    first = world.contain(leaked(key_id))
    again = world.contain(leaked(key_id))
    assert first.incident.status == IncidentStatus.UNKNOWN_KEY
    assert again.duplicate and again.incident.sighting_count == 2
    assert len(world.notifier.sent) == 1
    assert not [c for c in world.home.calls if c[0] in MUTATING]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("root", "root"),
        ("protected", "protected"),
        ("dry_run", "dry run"),
        ("foreign", "no reachable member role"),
    ],
)
def test_alert_only_cases_touch_nothing(world: World, setup: str, reason: str) -> None:
    key_id = world.home.add_key("alice")
    kwargs: dict[str, Any] = {"user_name": "alice"}
    if setup == "root":
        kwargs = {"principal_type": PrincipalType.ROOT}
    if setup == "protected":
        world.policy = Policy(protected_principals=frozenset({"ali*"}))
    if setup == "dry_run":
        world.policy = Policy(dry_run=True)
    if setup == "foreign":
        world.accounts.reachable.discard(MEMBER)
        key_id = world.member.add_user("carol") and world.member.add_key("carol")
        kwargs["account_id"] = MEMBER
    outcome = world.contain(leaked(key_id, **kwargs))
    assert outcome.incident.status == IncidentStatus.ALERT_ONLY
    assert reason in (outcome.incident.alert_reason or "")
    assert not [c for c in world.home.calls + world.member.calls if c[0] in MUTATING]
    assert len(world.notifier.sent) == 1


def test_root_key_found_by_iam_is_not_touched(world: World) -> None:
    key_id = fake_key_id()
    world.home.root_keys.add(key_id)
    outcome = world.contain(leaked(key_id))
    assert outcome.incident.status == IncidentStatus.ALERT_ONLY
    assert not [c for c in world.home.calls if c[0] in MUTATING]


def test_key_in_reachable_member_account_is_contained_there(world: World) -> None:
    world.member.add_user("carol")
    key_id = world.member.add_key("carol")
    outcome = world.contain(leaked(key_id, account_id=MEMBER))
    assert world.member.key(key_id).status == "Inactive"
    assert outcome.incident.account_id == MEMBER
    assert outcome.incident.pk == f"{MEMBER}#{key_id}"


def test_session_key_of_a_role_revokes_the_role_sessions(world: World) -> None:
    world.home.add_role("deploy")
    key_id = fake_key_id("ASIA")
    outcome = world.contain(
        leaked(key_id, user_name="deploy", principal_type=PrincipalType.ASSUMED_ROLE)
    )
    assert "leak-responder-revoke-older-sessions" in world.home.roles["deploy"]
    assert outcome.incident.status == IncidentStatus.REVOKED
    assert outcome.newly_contained
    assert not [c for c in world.home.calls if c[0] == "CreateAccessKey"]


def test_session_key_owner_found_in_cloudtrail(world: World) -> None:
    key_id = fake_key_id("ASIA")
    world.sessions.owners[key_id] = PrincipalRef("user", "alice", "arn:aws:iam::1:user/alice")
    outcome = world.contain(leaked(key_id))
    assert "leak-responder-revoke-older-sessions" in world.home.users["alice"].inline_policies
    assert outcome.incident.session_principal_arn


def test_session_key_with_no_trace_is_unknown(world: World) -> None:
    outcome = world.contain(leaked(fake_key_id("ASIA")))
    assert outcome.incident.status == IncidentStatus.UNKNOWN_KEY


def test_quarantine_event_expands_to_every_active_key(world: World) -> None:
    active = world.home.add_key("alice")
    world.home.add_key("alice", status="Inactive")
    # AWS attaches its policy after the key leaked, so after the key was made.
    quarantined_at = world.clock.now() + timedelta(minutes=5)
    report = QuarantinedUser("alice", "AWSCompromisedKeyQuarantineV3", quarantined_at, HOME)
    keys = expand(report, world.accounts)
    assert [k.key_id for k in keys] == [active]
    assert keys[0].quarantined and keys[0].source == Source.CLOUDTRAIL_QUARANTINE


def test_failed_notification_stays_pending_and_is_delivered_later(world: World) -> None:
    key_id = world.home.add_key("alice")
    world.notifier.fail_times = 1
    first = world.contain(leaked(key_id, user_name="alice"))
    assert world.home.key(key_id).status == "Inactive"
    assert first.notification_pending
    again = world.contain(leaked(key_id, user_name="alice"))
    assert not again.notification_pending
    assert len(world.notifier.sent) == 1


def test_false_positive_repeat_is_kept_active(world: World) -> None:
    key_id = world.home.add_key("alice")
    outcome = world.contain(leaked(key_id, user_name="alice"))
    world.home.activate("alice", key_id)
    world.incidents.save(replace(outcome.incident, status=IncidentStatus.REACTIVATED))
    world.contain(leaked(key_id, user_name="alice"))
    assert world.home.key(key_id).status == "Active"
    assert len(world.notifier.sent) == 1


def test_new_evidence_after_a_false_positive_reopens_and_contains_fully(world: World) -> None:
    # Given a key an approver reactivated as a false positive, an hour after containment
    key_id = world.home.add_key("alice")
    first = world.contain(leaked(key_id, user_name="alice")).incident
    world.home.activate("alice", key_id)
    world.incidents.save(replace(first, status=IncidentStatus.REACTIVATED))
    world.clock.advance(hours=1)
    # When a new report with new evidence arrives
    again = world.contain(
        leaked(key_id, user_name="alice", evidence=Evidence(path="new.env", line=1))
    ).incident
    # Then it is contained again from now on: sessions minted while it was active are revoked,
    # the incident is ready for approval again, and the owner is told again
    assert world.home.key(key_id).status == "Inactive"
    assert again.status == IncidentStatus.CONTAINED
    assert all(again.done(step) for step in Step)
    assert again.deactivated_at == iso(world.clock.now())
    cutoff = world.home.users["alice"].inline_policies["leak-responder-revoke-older-sessions"]
    assert cutoff == world.clock.now().isoformat()
    assert again.new_key_id == first.new_key_id
    assert len(world.notifier.sent) == 2


def test_a_refused_tag_is_noted_and_does_not_hold_containment(world: World) -> None:
    # Given IAM refusing tags on alice (her 50-tag quota is full, say)
    key_id = world.home.add_key("alice")

    def refuse(user_name: str, tags: dict[str, str]) -> None:
        raise LeakResponderError("iam:TagUser: limit exceeded (LimitExceeded)")

    world.home.tag_user = refuse  # type: ignore[method-assign]
    # When the key is contained
    incident = world.contain(leaked(key_id, user_name="alice")).incident
    # Then containment completes, the owner is notified, and the incident says what failed
    assert incident.status == IncidentStatus.CONTAINED
    assert incident.new_key_id
    assert incident.done(Step.NOTIFIED)
    assert any("not tagged" in note for note in incident.notes)


def test_throttled_tagging_is_retried_not_noted(world: World) -> None:
    key_id = world.home.add_key("alice")

    def throttled(user_name: str, tags: dict[str, str]) -> None:
        raise TransientError("iam:TagUser: Throttling")

    world.home.tag_user = throttled  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        world.contain(leaked(key_id, user_name="alice"))


def test_a_session_key_of_an_unmodifiable_role_alerts(world: World) -> None:
    world.home.add_role("AWSReservedSSO_Admin_0123")

    def unmodifiable(principal: PrincipalRef, issued_before: datetime, **_: object) -> None:
        raise UnmodifiableEntityError("iam:PutRolePolicy: UnmodifiableEntity")

    world.home.revoke_sessions = unmodifiable  # type: ignore[method-assign]
    key = leaked(
        fake_key_id("ASIA"),
        user_name="AWSReservedSSO_Admin_0123",
        principal_type=PrincipalType.ASSUMED_ROLE,
    )
    incident = world.contain(key).incident
    assert incident.status == IncidentStatus.ALERT_ONLY
    assert "Identity Center" in (incident.alert_reason or "")
    assert len(world.notifier.sent) == 1


BREAKGLASS = "arn:aws:iam::111111111111:user/breakglass/bg-admin"
SSO = "arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_*"


@pytest.mark.parametrize(
    ("pattern", "kind", "name", "arn", "protected"),
    [
        ("breakglass", "user", "BreakGlass", None, True),
        (BREAKGLASS, "user", "bg-admin", BREAKGLASS, True),
        (BREAKGLASS, "user", "bg-admin", "arn:aws:iam::111111111111:user/bg-admin", False),
        (
            BREAKGLASS,
            "role",
            "bg-admin",
            "arn:aws:iam::111111111111:role/breakglass/bg-admin",
            False,
        ),
        ("arn:aws:iam::222222222222:user/bg-admin", "user", "bg-admin", None, False),
        ("arn:aws:iam::*:user/breakglass/*", "user", "alice", None, False),
        (
            "arn:aws:iam::*:user/breakglass/*",
            "user",
            "alice",
            "arn:aws:iam::111111111111:user/alice",
            False,
        ),
        (
            "arn:aws:iam::*:user/breakglass/*",
            "user",
            "alice",
            "arn:aws:iam::111111111111:user/breakglass/alice",
            True,
        ),
        (
            SSO,
            "role",
            "AWSReservedSSO_Admin_0123",
            "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123",
            True,
        ),
        (SSO, "role", "deploy", "arn:aws:iam::111111111111:role/deploy", False),
        ("ops-*", "user", "ops-oncall", None, True),
        ("ops-*", "user", "dev-ops", None, False),
    ],
)
def test_protected_principals_match_names_and_arns_with_paths(
    pattern: str, kind: str, name: str, arn: str | None, protected: bool
) -> None:
    policy = Policy(protected_principals=frozenset({pattern}))
    assert policy.protects(HOME, kind, name, arn) is protected


def test_a_path_pattern_looks_up_the_real_arn_before_deactivating(world: World) -> None:
    # Given break-glass users under /breakglass/, protected by a path pattern
    world.policy = Policy(protected_principals=frozenset({"arn:aws:iam::*:user/breakglass/*"}))
    world.home.add_user("bg-admin")
    world.home.paths["bg-admin"] = "/breakglass/"
    guarded = world.home.add_key("bg-admin")
    exposed = world.home.add_key("alice")
    # When both leak
    first = world.contain(leaked(guarded, user_name="bg-admin")).incident
    second = world.contain(leaked(exposed, user_name="alice")).incident
    # Then only the break-glass user is left alone, and the lookup was a read before any change
    assert first.status == IncidentStatus.ALERT_ONLY
    assert world.home.key(guarded).status == "Active"
    assert second.status == IncidentStatus.CONTAINED
    alice_calls = [c[0] for c in world.home.calls if c[1] and c[1][0] == "alice"]
    assert alice_calls[:2] == ["GetUser", "UpdateAccessKey"]


def test_without_path_patterns_the_fast_path_is_one_call(world: World) -> None:
    world.policy = Policy(protected_principals=frozenset({"breakglass", "arn:aws:iam::*:user/x"}))
    key_id = world.home.add_key("alice")
    world.contain(leaked(key_id, user_name="alice"))
    assert world.home.calls[0] == ("UpdateAccessKey", ("alice", key_id, "Inactive"))


class InjectedCrashError(Exception):
    """Stands in for a Lambda timeout or an out-of-memory kill right after a call returned."""


class Crashing:
    """Wraps a port; the shared countdown crashes the run right after the Nth call returns."""

    def __init__(self, target: Any, countdown: list[int], log: list[str]) -> None:
        self._target, self._countdown, self._log = target, countdown, log

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            self._log.append(name)
            self._countdown[0] -= 1
            if self._countdown[0] == 0:
                raise InjectedCrashError(name)
            return result

        return call


class CrashingAccounts(Crashing):
    def key_admin(self, account_id: str) -> Any:
        return Crashing(self._target.key_admin(account_id), self._countdown, self._log)


def crashing_deps(world: World, countdown: list[int], log: list[str]) -> dict[str, Any]:
    return {
        "accounts": CrashingAccounts(world.accounts, countdown, log),
        "secrets": Crashing(world.secrets, countdown, log),
        "incidents": Crashing(world.incidents, countdown, log),
        "notifier": Crashing(world.notifier, countdown, log),
    }


def _port_calls_in_clean_run(named: bool) -> list[str]:
    w = World()
    w.home.add_user("alice")
    key_id = w.home.add_key("alice")
    log: list[str] = []
    w.contain(leaked(key_id, user_name="alice" if named else None), **crashing_deps(w, [-1], log))
    return log


@pytest.mark.parametrize("named", [True, False])
def test_crash_after_every_call_then_redelivery_converges(named: bool) -> None:
    calls = _port_calls_in_clean_run(named)
    assert len(calls) > 10
    for crash_at in range(1, len(calls) + 1):
        w = World()
        w.home.add_user("alice", tags={"email": "alice@example.com"})
        key_id = w.home.add_key("alice")
        report = leaked(key_id, user_name="alice" if named else None)
        with pytest.raises(InjectedCrashError):
            w.contain(report, **crashing_deps(w, [crash_at], []))
        # The redelivery comes after the queue's visibility timeout.
        w.clock.advance(minutes=10)
        outcome = _redeliver(w, report)
        where = f"crash after call {crash_at} ({calls[crash_at - 1]})"
        incident = outcome.incident
        assert w.home.key(key_id).status == "Inactive", where
        assert incident.status == IncidentStatus.CONTAINED, where
        assert all(incident.done(step) for step in Step), where
        keys = w.home.users["alice"].keys
        assert len(keys) == 2, where
        if calls[crash_at - 1] == "create_key":
            # Crashed before the new key was even recorded: nothing proves it is ours, so it is
            # never deleted; the owner is told a key without a known secret may exist.
            assert incident.new_key_id is None, where
            assert "interrupted" in (incident.replacement_note or ""), where
            continue
        new_key = keys[incident.new_key_id or ""]
        assert w.secrets.secrets[incident.secret_name or ""]["SecretAccessKey"] == new_key.secret
        # At-least-once: a crash between Slack's answer and our write repeats the notice.
        assert 1 <= len(w.notifier.sent) <= 2, where


def _redeliver(w: World, report: LeakedKey) -> Any:
    for _ in range(3):
        try:
            return w.contain(report)
        except TransientError:
            w.clock.advance(minutes=10)
    raise AssertionError("never converged")


def test_concurrent_replacement_in_progress_is_retried_not_duplicated(world: World) -> None:
    key_id = world.home.add_key("alice")
    report = leaked(key_id, user_name="alice")
    log: list[str] = []
    calls = _port_calls_in_clean_run(True)
    # Stop the first worker right after it claimed the replacement (the save after the revoke's
    # own save), as if it were still busy.
    claim_index = calls.index("revoke_sessions") + 3
    with pytest.raises(InjectedCrashError):
        world.contain(report, **crashing_deps(world, [claim_index], log))
    assert log[-1] == "save"
    with pytest.raises(TransientError):
        world.contain(report)
    assert not [c for c in world.home.calls if c[0] == "CreateAccessKey"]


def test_settings_protect_the_stacks_own_roles() -> None:
    from leak_responder.settings import Settings

    settings = Settings.from_env(
        {
            "INCIDENTS_TABLE": "t",
            "PROTECTED_PRINCIPALS": "breakglass",
            "OWN_ROLE_NAMES": "stack-ResponderFunctionRole-X",
        }
    )
    policy = Policy(protected_principals=settings.protected_principals)
    assert policy.protects(HOME, "role", "stack-ResponderFunctionRole-X")
    assert policy.protects(HOME, "user", "breakglass")
    assert not policy.protects(HOME, "user", "alice")


def test_a_notice_another_sender_is_sending_is_not_sent_again(world: World) -> None:
    # Given a contained key whose notice failed, and a reminder run now sending it
    key_id = world.home.add_key("alice")
    world.notifier.fail_times = 1
    pending = world.contain(leaked(key_id, user_name="alice")).incident
    world.incidents.save(
        replace(pending, claims={"notify": f"reminder-run|{iso(world.clock.now())}"})
    )
    # When the message is redelivered meanwhile, it leaves the notice to the reminder
    world.contain(leaked(key_id, user_name="alice"))
    assert world.notifier.sent == []
    # And once that claim is stale (its sender died), a redelivery sends it, once
    world.clock.advance(minutes=5)
    world.contain(leaked(key_id, user_name="alice"))
    world.contain(leaked(key_id, user_name="alice"))
    assert len(world.notifier.sent) == 1


def test_a_claim_lost_at_the_conditional_write_is_not_overwritten(world: World) -> None:
    # Given worker B about to claim the replacement, when worker A's claim lands first (B's
    # conditional write then fails on the version it read)
    key_id = world.home.add_key("alice")
    first = world.contain(leaked(key_id, user_name="alice")).incident
    world.incidents.save(
        replace(
            first,
            steps={k: v for k, v in first.steps.items() if k not in ("replaced", "delivered")},
            new_key_id=None,
        )
    )
    theirs = f"worker-a|{iso(world.clock.now())}"

    class RacingStore(InMemoryIncidentStore):
        def __init__(self, inner: InMemoryIncidentStore) -> None:
            super().__init__()
            self.items = inner.items
            self.raced = False

        def save(self, incident: Incident) -> Incident:
            if not self.raced and "replace" in incident.claims:
                self.raced = True
                current = self.items[incident.pk]
                super().save(replace(current, claims={**current.claims, "replace": theirs}))
            return super().save(incident)

    creates = len([c for c in world.home.calls if c[0] == "CreateAccessKey"])
    # When B goes on, it backs off instead of taking the claim over
    with pytest.raises(TransientError):
        world.contain(leaked(key_id, user_name="alice"), incidents=RacingStore(world.incidents))
    assert world.incidents.get(HOME, key_id).claims["replace"] == theirs  # type: ignore[union-attr]
    assert len([c for c in world.home.calls if c[0] == "CreateAccessKey"]) == creates


def test_a_replacement_that_cannot_be_delivered_is_deleted_and_the_owner_told(
    world: World,
) -> None:
    # Given Secrets Manager refusing the secret (a permission, an invalid policy)
    key_id = world.home.add_key("alice")

    def refuse(*_args: Any) -> Any:
        raise LeakResponderError("secretsmanager:PutResourcePolicy: MalformedPolicyDocument")

    world.secrets.store = refuse  # type: ignore[method-assign]
    # When the key is contained
    incident = world.contain(leaked(key_id, user_name="alice")).incident
    # Then the old key is Inactive, no unusable key is left, and the notice goes out with why
    assert world.home.key(key_id).status == "Inactive"
    assert list(world.home.users["alice"].keys) == [key_id]
    assert incident.new_key_id is None
    assert "could not be delivered" in (incident.replacement_note or "")
    assert incident.claims == {}
    assert incident.status == IncidentStatus.CONTAINED
    assert len(world.notifier.sent) == 1


def test_refused_session_revocation_is_retried_by_the_next_delivery(world: World) -> None:
    key_id = world.home.add_key("alice")
    real_revoke = world.home.revoke_sessions

    def refuse(principal: PrincipalRef, issued_before: datetime) -> None:
        raise AccessDeniedError("iam:PutUserPolicy: access denied (AccessDenied)")

    world.home.revoke_sessions = refuse  # type: ignore[method-assign]
    first = world.contain(leaked(key_id, user_name="alice")).incident
    assert not first.done(Step.SESSIONS_REVOKED)
    assert any("sessions not revoked" in note for note in first.notes)
    assert first.status == IncidentStatus.CONTAINED
    world.home.revoke_sessions = real_revoke  # type: ignore[method-assign]
    again = world.contain(leaked(key_id, user_name="alice")).incident
    assert again.done(Step.SESSIONS_REVOKED)
    assert "leak-responder-revoke-older-sessions" in world.home.users["alice"].inline_policies


def test_a_sender_dying_mid_send_leaves_the_notice_pending_and_counted(world: World) -> None:
    key_id = world.home.add_key("alice")

    class DiesMidSend:
        def notify(self, incident: Incident) -> Any:
            raise InjectedCrashError("Lambda timed out during the Slack call")

    with pytest.raises(InjectedCrashError):
        world.contain(leaked(key_id, user_name="alice"), notifier=DiesMidSend())
    stuck = world.incidents.get(HOME, key_id)
    assert stuck is not None
    # The reminder looks for exactly this: pending, with the attempt counted
    assert stuck.notification_status == NotificationStatus.PENDING
    assert stuck.notification_attempts == 1
    assert stuck in list(world.incidents.awaiting_action())
