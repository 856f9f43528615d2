"""Containment: from one leaked-key report to a deactivated, replaced key.

A resumable state machine per key (docs/architecture.md). The old key is deactivated before any
other write: the fast path for an event that names the user is a single UpdateAccessKey call, and
for one that does not, GetAccessKeyLastUsed then UpdateAccessKey. Only then is the incident
recorded. Every later step is recorded on the incident under optimistic locking, so a duplicate
delivery, from any source, appends a sighting and redoes nothing, and a crash after any step
resumes at the next one.
"""

from __future__ import annotations

import contextlib
import secrets as _random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from leak_responder.domain.errors import (
    AccessDeniedError,
    ConflictError,
    KeyLimitError,
    KeyNotFoundError,
    LeakResponderError,
    RejectedMessageError,
    TransientError,
    UnmodifiableEntityError,
)
from leak_responder.domain.incidents import (
    MAX_WRITE_ATTEMPTS,
    Pause,
    abandoned,
    deliver_notice,
    holds,
    patiently,
    record_done_outside,
    released,
    take_lease,
    update_incident,
)
from leak_responder.domain.model import (
    Incident,
    IncidentStatus,
    LeakedKey,
    NotificationStatus,
    PrincipalType,
    QuarantinedUser,
    Report,
    Source,
    Step,
    iso,
    parse_iso,
)
from leak_responder.domain.ports import (
    Accounts,
    Clock,
    IncidentStore,
    KeyAdmin,
    Notifier,
    Observer,
    PrincipalRef,
    SecretStore,
    SessionLocator,
    ignore,
)
from leak_responder.domain.protection import Policy, is_protected
from leak_responder.domain.tags import is_replacement_tag, leaked_tag, replacement_tag

T = TypeVar("T")

QUARANTINE_POLICY_PREFIX = "AWSCompromisedKeyQuarantine"
MAX_STORED_SIGHTINGS = 50
# A replacement claimed less than this long ago is assumed to be in progress in another worker.
# The queue's visibility timeout is longer, so a crashed worker's redelivery always sees it stale.
REPLACE_LEASE = timedelta(minutes=3)
# CreateAccessKey's CreateDate and our clock may disagree slightly.
CLOCK_SKEW = timedelta(seconds=30)


def _noted(notes: tuple[str, ...], note: str | None) -> tuple[str, ...]:
    return (*notes, note) if note and note not in notes else notes


@dataclass(frozen=True)
class ContainmentDeps:
    accounts: Accounts
    sessions: SessionLocator
    secrets: SecretStore
    incidents: IncidentStore
    notifier: Notifier
    clock: Clock
    policy: Policy = field(default_factory=Policy)
    observe: Observer = ignore
    # How a write that records a change already made in IAM or Slack waits between tries.
    pause: Pause = time.sleep


@dataclass(frozen=True)
class Outcome:
    incident: Incident
    newly_contained: bool  # this delivery made the key Inactive (or revoked its sessions) first
    duplicate: bool  # the incident already existed
    contained_at: datetime | None  # when the key became Inactive, if it did in this delivery
    # The notifier raised NotificationError in this delivery (Slack down, rate limited): worth
    # retrying soon. A notice pending because no channel is configured is not.
    notification_failed: bool = False
    # The key is Inactive and its incident recorded, and the steps after that were left for a
    # later delivery (``finish(defer=True)``): the caller must hand them on (``resume``).
    deferred: bool = False

    @property
    def notification_pending(self) -> bool:
        return self.incident.notification_status == NotificationStatus.PENDING


def expand(report: Report, accounts: Accounts) -> list[LeakedKey]:
    """A quarantine event names only the user: each of their active keys is a leaked key."""
    if isinstance(report, LeakedKey):
        return [report]
    account_id = report.account_id or accounts.home_account_id
    try:
        admin = accounts.key_admin(account_id)
    except AccessDeniedError as exc:
        raise RejectedMessageError(
            f"AWS quarantined user {report.user_name} in account {account_id}, which has no "
            "reachable member role: its keys cannot be listed; contain them by hand"
        ) from exc
    try:
        keys = admin.list_keys(report.user_name)
    except KeyNotFoundError:
        return []
    # A key made after AWS attached the policy is not the one it detected (the policy also
    # denies creating keys). An older one may still be our own replacement, made when another
    # source reported the leak before AWS quarantined the user: those carry our tag.
    suspects = [
        k for k in keys if k.status == "Active" and k.created_at <= report.observed_at + CLOCK_SKEW
    ]
    ours = _our_replacements(admin, report.user_name) if suspects else set()
    return [
        _with_account(report, account_id).leaked_key(k.key_id)
        for k in suspects
        if k.key_id not in ours
    ]


def _our_replacements(admin: KeyAdmin, user_name: str) -> set[str]:
    return {
        key_id for key_id, value in admin.user_tags(user_name).items() if is_replacement_tag(value)
    }


def _with_account(report: QuarantinedUser, account_id: str) -> QuarantinedUser:
    return report if report.account_id else replace(report, account_id=account_id)


def contain(key: LeakedKey, deps: ContainmentDeps, *, received_at: datetime) -> Outcome:
    """Contain one leaked key, or resume its containment. Safe to call any number of times."""
    return begin(key, deps, received_at=received_at).finish()


# What is left of one key's containment after its first move: ``finish(defer)``.
Rest = Callable[[bool], Outcome]


class Started:
    """One key's containment after its first move: the key Inactive, or its sessions revoked,
    or (for a key that is only alerted on) nothing written yet.

    ``begin`` for every key of a batch, then ``finish`` for each, puts every key's one urgent
    write before any other write of any incident (docs/architecture.md, "Deactivate first").
    """

    def __init__(self, containment: _Containment, rest: Rest) -> None:
        self._containment = containment
        self._rest = rest
        self._finished = False

    @property
    def key(self) -> LeakedKey:
        return self._containment.key

    @property
    def contained_at(self) -> datetime | None:
        return self._containment.contained_at

    def finish(self, *, defer: bool = False) -> Outcome:
        """Record the incident and run its remaining steps, once.

        ``defer``: stop after the record if IAM steps remain (revoke, replace, tag); the
        outcome is ``deferred`` and ``resume`` finishes it later.
        """
        if self._finished:
            raise RuntimeError("finish() was already called for this key")
        self._finished = True
        return self._rest(defer)


def begin(key: LeakedKey, deps: ContainmentDeps, *, received_at: datetime) -> Started:
    """The first move of one key's containment: whatever makes the leaked key useless, and
    nothing else (no incident write, no replacement, no notice)."""
    containment = _Containment(key, deps, received_at)
    return Started(containment, containment.start())


def resume(
    account_id: str,
    key_id: str,
    deps: ContainmentDeps,
    *,
    received_at: datetime,
    incident_id: str | None = None,
) -> Outcome:
    """Run what is left of a recorded incident (a deferred ``finish``). Idempotent.

    Resuming never deactivates or records a sighting: only the steps after the record run,
    from what the incident says is done. An incident that is closed (deleted, reactivated)
    or has nothing left is returned as it is. ``incident_id``: the incident must be that one.
    """
    incident = deps.incidents.get(account_id, key_id)
    if incident is None:
        raise RejectedMessageError(f"resume: no incident for key {key_id} in {account_id}")
    if incident_id is not None and incident.incident_id != incident_id:
        raise RejectedMessageError(
            f"resume: the incident of key {key_id} in {account_id} is not {incident_id[:64]!r}"
        )
    key = LeakedKey(
        key_id=incident.key_id,
        # Not a new report: the source only labels what is observed while resuming.
        source=incident.sightings[0].source if incident.sightings else Source.MANUAL,
        observed_at=parse_iso(incident.first_received_at or incident.created_at),
        account_id=incident.account_id,
        user_name=incident.user_name,
        principal_type=incident.principal_type,
    )
    return _Containment(key, deps, received_at).resume(incident)


class _Containment:
    def __init__(self, key: LeakedKey, deps: ContainmentDeps, received_at: datetime) -> None:
        self.key = key
        self.deps = deps
        self.received_at = received_at
        self.contained_at: datetime | None = None
        self.notification_failed = False
        self.create_attempted = False  # this delivery called CreateAccessKey

    # -- entry --------------------------------------------------------------------------------
    def start(self) -> Rest:
        key, deps = self.key, self.deps
        account_id = key.account_id or deps.accounts.account_of(key.key_id)
        self._observe("resolved", account_id=account_id)

        if key.principal_type == PrincipalType.ROOT:
            return self._later_alert(
                account_id, "root", "root user access key: never touched by automation"
            )
        try:
            admin = deps.accounts.key_admin(account_id)
        except AccessDeniedError:
            return self._later_alert(
                account_id,
                key.user_name,
                f"key belongs to account {account_id}, which has no reachable member role",
            )
        if key.is_session_key:
            return self._contain_session_key(account_id, admin)
        return self._contain_user_key(account_id, admin)

    def resume(self, incident: Incident) -> Outcome:
        steps_left = (
            incident.status in (IncidentStatus.OPEN, IncidentStatus.CONTAINED)
            and incident.done(Step.DEACTIVATED)
            and incident.user_name is not None
            and not self.key.is_session_key
        )
        if steps_left:
            assert incident.user_name is not None
            try:
                admin = self.deps.accounts.key_admin(incident.account_id)
            except AccessDeniedError as exc:
                # The member role was removed after the key was deactivated: nothing left here
                # can be done, and retrying will not change that.
                raise RejectedMessageError(
                    f"resume: account {incident.account_id} has no reachable member role; "
                    f"finish incident {incident.incident_id} by hand"
                ) from exc
            self._observe("resumed", incident_id=incident.incident_id)
            incident = self._steps(incident, admin, incident.user_name)
        elif incident.status not in (IncidentStatus.DELETED, IncidentStatus.REACTIVATED):
            incident = self._notify(incident)
        return self._outcome(incident, False, False, None)

    def _later_alert(self, account_id: str, principal: str | None, reason: str) -> Rest:
        return lambda _defer: self._alert(account_id, principal, reason)

    def _later_unknown(self, account_id: str, why: str) -> Rest:
        return lambda _defer: self._unknown_key(account_id, why)

    def _protected(self, account_id: str, admin: KeyAdmin, kind: str, name: str) -> bool:
        return is_protected(self.deps.policy, admin, account_id, kind, name)

    # -- long-term (AKIA) keys ------------------------------------------------------------------
    def _contain_user_key(self, account_id: str, admin: KeyAdmin) -> Rest:
        key, policy = self.key, self.deps.policy
        user_name = None
        if key.user_name and key.principal_type in (PrincipalType.IAM_USER, PrincipalType.UNKNOWN):
            try:
                if self._protected(account_id, admin, "user", key.user_name):
                    return self._later_alert(account_id, key.user_name, "protected principal")
                if policy.dry_run:
                    return self._later_alert(account_id, key.user_name, "dry run: would deactivate")
                admin.deactivate(key.user_name, key.key_id)
                user_name = key.user_name
            except KeyNotFoundError:
                # The event named the wrong user, or the key is gone: ask IAM who owns it.
                self._observe("named user does not own key", user_name=key.user_name)
        if user_name is None:
            try:
                owner = admin.key_usage(key.key_id)
            except (KeyNotFoundError, AccessDeniedError) as exc:
                return self._later_unknown(account_id, type(exc).__name__)
            self._observe("located", user_name=owner.user_name)
            if owner.is_root:
                return self._later_alert(
                    account_id, "root", "root user access key: never touched by automation"
                )
            if self._protected(account_id, admin, "user", owner.user_name):
                return self._later_alert(account_id, owner.user_name, "protected principal")
            if policy.dry_run:
                return self._later_alert(account_id, owner.user_name, "dry run: would deactivate")
            try:
                admin.deactivate(owner.user_name, key.key_id)
            except KeyNotFoundError:
                return self._later_unknown(account_id, "KeyNotFoundError")
            user_name = owner.user_name
        self.contained_at = self.deps.clock.now()
        self._observe("deactivated", user_name=user_name)
        deactivated_user = user_name
        return lambda defer: self._after_deactivation(account_id, admin, deactivated_user, defer)

    def _after_deactivation(
        self, account_id: str, admin: KeyAdmin, user_name: str, defer: bool
    ) -> Outcome:
        incident, duplicate, first = self._record(
            account_id,
            user_name=user_name,
            principal_type=PrincipalType.IAM_USER,
            steps=(Step.RESOLVED, Step.LOCATED, Step.DEACTIVATED),
        )
        if incident.status == IncidentStatus.REACTIVATED:
            # An approver judged this key a false positive, and this report repeats one already
            # judged: undo the reflex deactivation. New evidence reopens instead (see _merge).
            admin.activate(user_name, self.key.key_id)
            self._observe("known false positive: reactivated again", user_name=user_name)
            return self._outcome(incident, False, duplicate, None)
        if defer and not (incident.done(Step.REPLACED) and incident.done(Step.TAGGED)):
            self._observe("steps deferred", incident_id=incident.incident_id)
            return self._outcome(incident, first, duplicate, self.contained_at, deferred=True)
        incident = self._steps(incident, admin, user_name)
        return self._outcome(incident, first, duplicate, self.contained_at)

    def _steps(self, incident: Incident, admin: KeyAdmin, user_name: str) -> Incident:
        """Everything after the record: each step skips itself when the incident says done."""
        incident = self._revoke(incident, admin, admin.principal("user", user_name))
        incident = self._replace(incident, admin)
        incident = self._tag(incident, admin)
        return self._notify(incident)

    # -- temporary (ASIA) keys ----------------------------------------------------------------
    def _contain_session_key(self, account_id: str, admin: KeyAdmin) -> Rest:
        key, deps = self.key, self.deps
        principal: PrincipalRef | None = None
        exact = False  # CloudTrail gives the real ARN, path included; an event only the name
        if key.user_name and key.principal_type == PrincipalType.ASSUMED_ROLE:
            principal = admin.principal("role", key.user_name)
        elif key.user_name and key.principal_type == PrincipalType.IAM_USER:
            principal = admin.principal("user", key.user_name)
        else:
            principal = deps.sessions.principal_of_session_key(key.key_id, account_id)
            exact = True
        if principal is None:
            return self._later_unknown(
                account_id, "no CloudTrail record of who minted this session"
            )
        self._observe("located", principal=principal.arn)
        if exact and deps.policy.protects(
            account_id, principal.kind, principal.name, principal.arn
        ):
            return self._later_alert(account_id, principal.name, "protected principal")
        if not exact and self._protected(account_id, admin, principal.kind, principal.name):
            return self._later_alert(account_id, principal.name, "protected principal")
        if deps.policy.dry_run:
            return self._later_alert(account_id, principal.name, "dry run: would revoke sessions")
        # For a session key, revoking the principal's older sessions *is* the containment.
        now = deps.clock.now()
        try:
            # The cutoff is this very moment, which no earlier incident's can exceed: skip the
            # read that keeps a later one, on the one call that contains the key.
            admin.revoke_sessions(principal, now, keep_later=False)
        except (AccessDeniedError, UnmodifiableEntityError) as exc:
            # IAM Identity Center and service-linked roles refuse inline policies: their
            # sessions are revoked in Identity Center, by a person.
            return self._later_alert(
                account_id,
                principal.name,
                f"cannot revoke the sessions of {principal.arn} ({type(exc).__name__}); "
                "revoke them in IAM Identity Center or by hand",
            )
        self.contained_at = now
        self._observe("sessions revoked", principal=principal.arn)
        revoked = principal
        return lambda _defer: self._after_revoke(account_id, revoked)

    def _after_revoke(self, account_id: str, principal: PrincipalRef) -> Outcome:
        incident, duplicate, first = self._record(
            account_id,
            user_name=principal.name,
            principal_type=(
                PrincipalType.ASSUMED_ROLE if principal.kind == "role" else PrincipalType.IAM_USER
            ),
            steps=(Step.RESOLVED, Step.LOCATED, Step.SESSIONS_REVOKED),
            session_principal_arn=principal.arn,
            status=IncidentStatus.REVOKED,
        )
        incident = self._notify(incident)
        return self._outcome(incident, first, duplicate, self.contained_at)

    # -- steps ----------------------------------------------------------------------------------
    def _revoke(self, incident: Incident, admin: KeyAdmin, principal: PrincipalRef) -> Incident:
        if incident.done(Step.SESSIONS_REVOKED):
            return incident
        # Sessions minted before deactivation are the ones the leaked key could have made.
        cutoff = parse_iso(incident.deactivated_at or iso(self.deps.clock.now()))
        note = self._best_effort(
            "sessions not revoked", lambda: admin.revoke_sessions(principal, cutoff)
        )
        if note:
            # Not marked done: the next delivery or `leak-responder contain` tries again.
            return self._update(incident, lambda i: replace(i, notes=_noted(i.notes, note)))
        self._observe("sessions revoked", principal=principal.arn)
        return self._complete(incident, Step.SESSIONS_REVOKED, session_principal_arn=principal.arn)

    def _replace(self, incident: Incident, admin: KeyAdmin) -> Incident:
        if incident.done(Step.REPLACED) and incident.done(Step.DELIVERED):
            return incident
        user = incident.user_name
        assert user is not None
        # Only the worker holding the claim creates a key; another one waits for redelivery.
        held = take_lease(
            self.deps.incidents,
            incident,
            "replace",
            self.deps.clock.now(),
            REPLACE_LEASE,
            lambda i: i.done(Step.REPLACED),
        )
        incident = held.incident
        if incident.done(Step.REPLACED):
            return incident
        if not held.mine:
            raise TransientError("replacement is in progress in another worker")
        if incident.new_key_id:
            # Created by a worker that crashed before storing its secret: nobody can ever use
            # it. It is ours by record, so it is the one key this step may delete.
            with contextlib.suppress(KeyNotFoundError):
                admin.delete_key(user, incident.new_key_id)
            self._observe("unusable replacement deleted", orphan_key_id=incident.new_key_id)
            incident = self._update(incident, lambda i: replace(i, new_key_id=None))
        self.create_attempted = False
        try:
            return self._create_and_deliver(incident, admin, user, held.stale_since)
        except TransientError:
            # This worker stops here, so the next delivery may take the step at once rather
            # than wait out the lease: a resume comes back in seconds, not the queue's minutes.
            # Once CreateAccessKey was tried, that delivery must know a replacement may have
            # been interrupted (it deletes a key recorded here, as after a crash); before, the
            # claim is simply let go, so no key of the user's own is ever blamed.
            attempted = self.create_attempted

            def give_up(i: Incident) -> Incident | None:
                if attempted:
                    return abandoned(i, "replace", held)
                return released(i, "replace") if holds(i, "replace", held) else None

            with contextlib.suppress(LeakResponderError):
                self._update(incident, give_up)
            raise
        except LeakResponderError as exc:
            # Retrying cannot fix it (a permission, an invalid policy): the owner is told, and
            # a key whose secret nobody will ever have is not left behind.
            current = self.deps.incidents.get(incident.account_id, incident.key_id) or incident
            if current.new_key_id:
                with contextlib.suppress(LeakResponderError):
                    admin.delete_key(user, current.new_key_id)
                current = self._update(current, lambda i: replace(i, new_key_id=None))
            why = f"the replacement could not be delivered ({exc})"
            self._observe("no replacement", reason=why)
            return self._no_replacement(current, why, current.quarantined)

    def _create_and_deliver(
        self, incident: Incident, admin: KeyAdmin, user: str, stale_since: datetime | None
    ) -> Incident:
        quarantined = incident.quarantined or any(
            name.startswith(QUARANTINE_POLICY_PREFIX) for name in admin.attached_policy_names(user)
        )
        limit = "the user already has two access keys"
        if stale_since:
            limit += (
                "; one may be a key created by a replacement interrupted at "
                f"{iso(stale_since)}, whose secret nobody has: delete it"
            )
        if len(admin.list_keys(user)) >= 2:
            return self._no_replacement(incident, limit, quarantined)
        self.create_attempted = True
        try:
            new_key = admin.create_key(user)
        except KeyLimitError:
            return self._no_replacement(incident, limit, quarantined)
        self._observe("replacement created", new_key_id=new_key.key_id)
        try:
            incident = self._record_outside(
                incident, lambda i: replace(i, new_key_id=new_key.key_id, quarantined=quarantined)
            )
        except TransientError:
            # Nothing records this key and nobody has its secret: delete it while this worker
            # still knows its ID, or it stays Active and the redelivery finds the user at two
            # keys with no replacement to give.
            with contextlib.suppress(LeakResponderError):
                admin.delete_key(user, new_key.key_id)
            self._observe("unrecorded replacement deleted", orphan_key_id=new_key.key_id)
            raise
        # From here until the secret is stored, only this worker can ever deliver this key: a
        # throttled call is tried again in place rather than throwing the key away.
        # Tagged at once, so a quarantine event for this user never mistakes it for the leak.
        tag = {new_key.key_id: replacement_tag(incident.key_id, incident.incident_id)}
        note = self._best_effort(
            "replacement not tagged", lambda: self._patiently(lambda: admin.tag_user(user, tag))
        )
        owner = PrincipalRef(
            "user", user, self._patiently(lambda: admin.principal_arn("user", user))
        )
        stored = self._patiently(
            lambda: self.deps.secrets.store(
                incident.account_id, owner, new_key, incident.incident_id
            )
        )
        self._observe("secret stored", secret_name=stored.name)
        stamp = iso(self.deps.clock.now())
        return self._record_outside(
            incident,
            lambda i: replace(
                released(i, "replace"),
                secret_name=stored.name,
                secret_arn=stored.arn,
                steps={**i.steps, Step.REPLACED.value: stamp, Step.DELIVERED.value: stamp},
                notes=_noted(i.notes, note),
            ),
        )

    def _no_replacement(self, incident: Incident, why: str, quarantined: bool) -> Incident:
        self._observe("no replacement", reason=why)
        stamp = iso(self.deps.clock.now())
        return self._update(
            incident,
            lambda i: replace(
                released(i, "replace"),
                replacement_note=why,
                quarantined=quarantined,
                steps={**i.steps, Step.REPLACED.value: stamp, Step.DELIVERED.value: stamp},
            ),
        )

    def _tag(self, incident: Incident, admin: KeyAdmin) -> Incident:
        """The IAM console's key description, as a user tag: key ID -> what happened to it."""
        if incident.done(Step.TAGGED):
            return incident
        user = incident.user_name
        assert user is not None
        day = (incident.deactivated_at or "")[:10]
        tags = {incident.key_id: leaked_tag(day, incident.incident_id)}
        note = self._best_effort("leaked key not tagged", lambda: admin.tag_user(user, tags))
        if note:
            # Contained all the same, and ready for approval; the tag is retried next time.
            return self._update(
                incident,
                lambda i: replace(i, status=IncidentStatus.CONTAINED, notes=_noted(i.notes, note)),
            )
        self._observe("tagged", keys=sorted(tags))
        return self._complete(incident, Step.TAGGED, status=IncidentStatus.CONTAINED)

    def _patiently(self, action: Callable[[], T]) -> T:
        return patiently(action, self.deps.pause)

    def _best_effort(self, what: str, action: Callable[[], None]) -> str | None:
        """Run a step that must not hold containment hostage. A refusal (invalid input, a
        quota, a permission) becomes a note on the incident; only transient errors retry."""
        try:
            action()
        except TransientError:
            raise
        except LeakResponderError as exc:
            self._observe(what, error=type(exc).__name__)
            return f"{what}: {exc}"
        return None

    def _notify(self, incident: Incident) -> Incident:
        if incident.done(Step.NOTIFIED):
            return incident
        delivery = deliver_notice(
            incident,
            self.deps.incidents,
            self.deps.notifier,
            self.deps.clock.now(),
            self.deps.pause,
        )
        if delivery.failed:
            self.notification_failed = True
            self._observe("notification failed")
        elif delivery.sent:
            self._observe("notified", channel=delivery.incident.slack_channel)
        elif not delivery.skipped:
            self._observe("notification pending")
        return delivery.incident

    # -- outcomes without containment --------------------------------------------------------
    def _alert(self, account_id: str, principal: str | None, reason: str) -> Outcome:
        self._observe("alert only", reason=reason)
        incident, duplicate, _ = self._record(
            account_id,
            user_name=principal,
            principal_type=self.key.principal_type,
            steps=(Step.RESOLVED,),
            status=IncidentStatus.ALERT_ONLY,
            alert_reason=reason,
            dry_run=self.deps.policy.dry_run,
        )
        return self._outcome(self._notify(incident), False, duplicate, None)

    def _unknown_key(self, account_id: str, why: str) -> Outcome:
        self._observe("unknown key", reason=why)
        incident, duplicate, _ = self._record(
            account_id,
            user_name=self.key.user_name,
            principal_type=self.key.principal_type,
            steps=(Step.RESOLVED,),
            status=IncidentStatus.UNKNOWN_KEY,
            alert_reason=f"key not found in account {account_id} ({why})",
        )
        return self._outcome(self._notify(incident), False, duplicate, None)

    def _outcome(
        self,
        incident: Incident,
        first: bool,
        duplicate: bool,
        contained_at: datetime | None,
        *,
        deferred: bool = False,
    ) -> Outcome:
        return Outcome(incident, first, duplicate, contained_at, self.notification_failed, deferred)

    # -- the incident record ----------------------------------------------------------------------
    def _record(
        self,
        account_id: str,
        *,
        user_name: str | None,
        principal_type: PrincipalType,
        steps: Iterable[Step],
        status: IncidentStatus = IncidentStatus.OPEN,
        **fields: Any,
    ) -> tuple[Incident, bool, bool]:
        """Create the incident, or append this sighting to it. Returns (incident, duplicate, first
        containment): first is true only for the delivery that made the key Inactive first."""
        store, now = self.deps.incidents, self.deps.clock.now()
        sighting = self.key.sighting(self.received_at)
        stamp = iso(now)
        done = {s.value: stamp for s in steps}
        contained = self.contained_at is not None
        fresh = Incident(
            incident_id=_random.token_urlsafe(12),
            account_id=account_id,
            key_id=self.key.key_id,
            created_at=stamp,
            status=status,
            user_name=user_name,
            principal_type=principal_type,
            steps=done,
            sightings=(sighting,),
            sighting_count=1,
            first_received_at=iso(self.received_at),
            deactivated_at=iso(self.contained_at) if self.contained_at else None,
            quarantined=self.key.quarantined,
            **fields,
        )
        for _ in range(MAX_WRITE_ATTEMPTS):
            existing = store.get(account_id, self.key.key_id)
            try:
                if existing is None:
                    self._observe("incident opened", incident_id=fresh.incident_id)
                    return store.create(fresh), False, contained
                merged, first = self._merge(existing, sighting, done, status, user_name, fields)
                saved = store.save(merged)
                self._observe(
                    "sighting recorded", incident_id=saved.incident_id, count=saved.sighting_count
                )
                return saved, True, first
            except ConflictError:
                continue
        raise TransientError(f"incident {account_id}#{self.key.key_id} is contended")

    def _merge(
        self,
        existing: Incident,
        sighting: Any,
        done: dict[str, str],
        status: IncidentStatus,
        user_name: str | None,
        fields: dict[str, Any],
    ) -> tuple[Incident, bool]:
        known = {s.fingerprint() for s in existing.sightings}
        sightings = existing.sightings
        if sighting.fingerprint() not in known and len(sightings) < MAX_STORED_SIGHTINGS:
            sightings = (*sightings, sighting)
        merged = replace(
            existing,
            sightings=sightings,
            sighting_count=existing.sighting_count + 1,
            quarantined=existing.quarantined or self.key.quarantined,
        )
        first = False
        contained_now = self.contained_at is not None
        repeat_of_false_positive = (
            existing.status == IncidentStatus.REACTIVATED and sighting.fingerprint() in known
        )
        if (
            contained_now
            and not repeat_of_false_positive
            and existing.status
            in (IncidentStatus.ALERT_ONLY, IncidentStatus.UNKNOWN_KEY, IncidentStatus.REACTIVATED)
        ):
            # Containment now happened where an earlier delivery only alerted (dry run since
            # switched off, a member role since configured) or after a false-positive
            # reactivation that a new report contradicts: reopen and resume from here.
            first = existing.status != IncidentStatus.REACTIVATED
            # Sessions minted while the key was active again must be revoked from the new
            # deactivation on, and the owner told again; the replacement stays as it is.
            redo = {Step.SESSIONS_REVOKED.value, Step.TAGGED.value, Step.NOTIFIED.value}
            merged = replace(
                merged,
                status=status,
                user_name=user_name or existing.user_name,
                steps={**{k: v for k, v in existing.steps.items() if k not in redo}, **done},
                deactivated_at=iso(self.contained_at or self.deps.clock.now()),
                notification_status=None,
                alert_reason=None,
                audit=(*existing.audit, {"at": iso(self.deps.clock.now()), "event": "reopened"}),
                **{k: v for k, v in fields.items() if k not in ("alert_reason", "dry_run")},
            )
        elif contained_now and not existing.done(Step.DEACTIVATED) and Step.DEACTIVATED in done:
            first = True
            merged = replace(
                merged,
                steps={**existing.steps, **done},
                deactivated_at=iso(self.contained_at) if self.contained_at else None,
            )
        return merged, first

    def _complete(self, incident: Incident, step: Step, **fields: Any) -> Incident:
        stamp = iso(self.deps.clock.now())
        return self._update(
            incident,
            lambda i: (
                None if i.done(step) else replace(i, steps={**i.steps, step.value: stamp}, **fields)
            ),
        )

    def _update(
        self, incident: Incident, change: Callable[[Incident], Incident | None]
    ) -> Incident:
        try:
            return update_incident(self.deps.incidents, incident, change)
        except ConflictError as exc:
            raise TransientError(str(exc)) from exc

    def _record_outside(
        self, incident: Incident, change: Callable[[Incident], Incident | None]
    ) -> Incident:
        """``_update`` for what IAM already holds (a new key, its stored secret): tried again
        through throttling before the caller gives up on it."""
        try:
            return record_done_outside(self.deps.incidents, incident, change, self.deps.pause)
        except ConflictError as exc:
            raise TransientError(str(exc)) from exc

    def _observe(self, event: str, **fields: Any) -> None:
        self.deps.observe(event, key_id=self.key.key_id, **fields)
