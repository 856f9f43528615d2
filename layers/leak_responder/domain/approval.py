"""The approval workflow: a verified click becomes a deletion (or a reactivation), or a refusal.

Only the incident id is taken from the button; everything else is re-read from the incident
record and from IAM. Before the old key is deleted we re-check that it is still Inactive and
has not been used since it was deactivated, and we say whether the replacement is in use yet.
Clicks are idempotent: a second click after the deletion changes nothing and says so. Delete
and Reactivate take one claim on the incident before touching the key, so they are never
carried out at once: a click of either kind that finds the other's fresh claim is told to try
again, and changes nothing.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from leak_responder.domain.errors import (
    AccessDeniedError,
    ApprovalError,
    ConflictError,
    IncidentNotFoundError,
    KeyNotFoundError,
    LeakResponderError,
    TransientError,
)
from leak_responder.domain.incidents import Lease, holds, released, take_lease, update_incident
from leak_responder.domain.model import Incident, IncidentStatus, Step, iso, parse_iso
from leak_responder.domain.ports import Accounts, Clock, IncidentStore, KeyAdmin, Observer, ignore
from leak_responder.domain.tags import reactivated_tag

# Incident ids are opaque and random; anything else in a button value is not ours.
INCIDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")

# Delete and Reactivate take this one claim (Incident.claims), so they never run at once.
APPROVAL_CLAIM = "approval"
# A click in flight blocks every other click on the incident for this long at most; after it,
# a crashed attempt no longer blocks a retry. Well above the function's 10 s timeout.
CLAIM_TTL = timedelta(seconds=60)
IN_PROGRESS = "another action is in progress on this incident; try again in a minute"

_SAVE_ATTEMPTS = 4


class UnauthorisedClickError(ApprovalError):
    """The clicker may not do this (stranger, wrong workspace, non-approver reactivating)."""


class UnknownIncidentError(ApprovalError):
    """The button's incident id names no incident (forged, or from another deployment)."""


class ApprovalRefusedError(ApprovalError):
    """The state of the key forbids the action: it is Active again, or was used after
    deactivation, or the incident is not waiting for this action."""


class ApprovalUnavailableError(ApprovalError):
    """AWS is throttling or unreachable: try again shortly."""


class ActionInProgressError(ApprovalError):
    """Another click on this incident holds it right now. Not an outage (nothing is down) but
    a conflict with a concurrent action, which the clicker can retry once it has finished."""


class Action(StrEnum):
    DELETE = "delete_old_key"
    REACTIVATE = "reactivate_key"


@dataclass(frozen=True)
class Click:
    """What a verified Slack payload says: who clicked which button, in which workspace."""

    action: Action
    incident_id: str
    user_id: str
    team_id: str | None = None


@dataclass(frozen=True)
class ApprovalPolicy:
    approvers: frozenset[str] = field(default_factory=frozenset)
    team_id: str | None = None  # when set, clicks from any other workspace are refused


@dataclass(frozen=True)
class ApprovalDeps:
    incidents: IncidentStore
    accounts: Accounts
    clock: Clock
    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    observe: Observer = ignore


@dataclass(frozen=True)
class ApprovalResult:
    incident: Incident
    changed: bool  # False for a repeated click: nothing was done this time
    message: str  # safe to show to the clicker and in the channel
    replacement_used: bool | None = None  # None: no replacement, or it could not be checked


def handle_click(click: Click, deps: ApprovalDeps) -> ApprovalResult:
    """Carry out one click, or raise an ApprovalError whose ``reason`` is safe to show."""
    if not INCIDENT_ID_PATTERN.match(click.incident_id):
        raise UnknownIncidentError("this button does not belong to a known incident")
    if deps.policy.team_id and click.team_id != deps.policy.team_id:
        deps.observe("click from another workspace refused", team_id=click.team_id)
        raise UnauthorisedClickError("this workspace may not act on leak-responder incidents")
    try:
        incident = deps.incidents.get_by_id(click.incident_id)
    except IncidentNotFoundError as exc:
        raise UnknownIncidentError("this button does not belong to a known incident") from exc
    except TransientError as exc:
        raise ApprovalUnavailableError("the incident store is busy; please try again") from exc
    _authorise(click, incident, deps.policy)
    if click.action == Action.DELETE:
        return _Delete(click, incident, deps).run()
    return _Reactivate(click, incident, deps).run()


def _authorise(click: Click, incident: Incident, policy: ApprovalPolicy) -> None:
    is_approver = click.user_id in policy.approvers
    if click.action == Action.REACTIVATE:
        if not is_approver:
            raise UnauthorisedClickError("only security approvers may reactivate a key")
        return
    if not is_approver and click.user_id != incident.owner_slack_id:
        raise UnauthorisedClickError("only the key's owner or a security approver may delete it")


def _audit(at: datetime, by: str, action: str, detail: str = "") -> dict[str, str]:
    entry = {"at": iso(at), "by": by, "action": action}
    if detail:
        entry["detail"] = detail
    return entry


def _save(
    deps: ApprovalDeps, incident: Incident, change: Callable[[Incident], Incident | None]
) -> Incident:
    """Apply ``change`` to the freshest copy and save (see domain.incidents.update_incident)."""
    try:
        return update_incident(deps.incidents, incident, change, attempts=_SAVE_ATTEMPTS)
    except ConflictError as exc:
        raise ApprovalUnavailableError("the incident is busy; please try again") from exc
    except TransientError as exc:
        raise ApprovalUnavailableError("the incident store is busy; please try again") from exc


def _admin(deps: ApprovalDeps, incident: Incident) -> KeyAdmin:
    try:
        return deps.accounts.key_admin(incident.account_id)
    except AccessDeniedError as exc:
        raise ApprovalRefusedError(
            f"leak-responder cannot reach account {incident.account_id}"
        ) from exc
    except TransientError as exc:
        raise ApprovalUnavailableError("AWS is busy; please try again") from exc


def _deactivated_at(incident: Incident) -> datetime | None:
    value = incident.deactivated_at or incident.steps.get(Step.DEACTIVATED.value)
    return parse_iso(value) if value else None


def _already_closed(incident: Incident) -> ApprovalResult | None:
    by = incident.closed_by or "someone"
    when = incident.closed_at or "earlier"
    if incident.status == IncidentStatus.DELETED:
        return ApprovalResult(
            incident, False, f"Nothing to do: the old key was already deleted ({by}, {when})."
        )
    if incident.status == IncidentStatus.REACTIVATED:
        return ApprovalResult(
            incident, False, f"Nothing to do: the key was already reactivated ({by}, {when})."
        )
    return None


class _Attempt(ABC):
    """One click's action on the key, under the incident's approval claim.

    The claim is taken with a conditional write before IAM is touched, so a Delete and a
    Reactivate (or two clicks of either) never act on the key at once; it is released in the
    same write that records the outcome, or with the refusal. A click that dies holding it
    blocks the incident for CLAIM_TTL at most.
    """

    closed_status: IncidentStatus
    refused_action: str

    def __init__(self, click: Click, incident: Incident, deps: ApprovalDeps) -> None:
        self.click = click
        self.incident = incident
        self.deps = deps
        self.now = deps.clock.now()

    def run(self) -> ApprovalResult:
        if self.incident.status == self.closed_status:
            return self._repeated(self.incident)
        self._check(self.incident)
        held = self._take_lease()
        if isinstance(held, ApprovalResult):
            return held
        try:
            return self._act(held)
        except ApprovalRefusedError as exc:
            self._release(held, exc.reason)
            raise
        except LeakResponderError:
            self._release(held, "not completed")
            raise

    @abstractmethod
    def _check(self, incident: Incident) -> None:
        """Refuse, with a reason, when the incident is not awaiting this action."""

    @abstractmethod
    def _act(self, held: Lease) -> ApprovalResult:
        """Act on the key while holding the claim; close the incident through ``_close``."""

    @abstractmethod
    def _may_close(self, current: Incident) -> bool:
        """Whether the record may take ``closed_status`` now that the key was acted on."""

    def _repeated(self, incident: Incident) -> ApprovalResult:
        done = _already_closed(incident)
        assert done is not None
        return done

    def _take_lease(self) -> Lease | ApprovalResult:
        try:
            held = take_lease(
                self.deps.incidents,
                self.incident,
                APPROVAL_CLAIM,
                self.now,
                CLAIM_TTL,
                lambda current: current.status != IncidentStatus.CONTAINED,
            )
        except ConflictError as exc:
            raise ApprovalUnavailableError("the incident is busy; please try again") from exc
        except TransientError as exc:
            raise ApprovalUnavailableError("the incident store is busy; please try again") from exc
        current = held.incident
        if held.mine:
            if held.stale_since is not None:
                self.deps.observe(
                    "took over an expired approval claim",
                    incident_id=current.incident_id,
                    since=iso(held.stale_since),
                )
            return held
        if current.status == self.closed_status:
            return self._repeated(current)
        # Closed the other way meanwhile: refused as for any click on a closed incident.
        self._check(current)
        self.deps.observe(
            "click refused: another action in progress", incident_id=current.incident_id
        )
        raise ActionInProgressError(IN_PROGRESS)

    def _release(self, held: Lease, reason: str) -> None:
        def release(current: Incident) -> Incident | None:
            entry = _audit(self.now, self.click.user_id, self.refused_action, reason)
            return replace(_without_claim(current, held), audit=(*current.audit, entry))

        try:
            _save(self.deps, held.incident, release)
        except (ApprovalError, TransientError):
            # The claim expires on its own after CLAIM_TTL.
            self.deps.observe(
                "could not release approval claim", incident_id=self.click.incident_id
            )

    def _close(self, held: Lease, audit_action: str, detail: str) -> Incident:
        def close(current: Incident) -> Incident | None:
            if not self._may_close(current):
                # Someone else closed it after our claim expired: only let go of the claim.
                mine = holds(current, APPROVAL_CLAIM, held)
                return released(current, APPROVAL_CLAIM) if mine else None
            entry = _audit(self.now, self.click.user_id, audit_action, detail)
            return replace(
                _without_claim(current, held),
                status=self.closed_status,
                closed_by=self.click.user_id,
                closed_at=iso(self.now),
                audit=(*current.audit, entry),
            )

        return _save(self.deps, held.incident, close)


def _without_claim(incident: Incident, held: Lease) -> Incident:
    """``incident`` with our approval claim released; another click's claim is left alone."""
    return released(incident, APPROVAL_CLAIM) if holds(incident, APPROVAL_CLAIM, held) else incident


class _Delete(_Attempt):
    closed_status = IncidentStatus.DELETED
    refused_action = "delete_refused"

    def _check(self, incident: Incident) -> None:
        if incident.status != IncidentStatus.CONTAINED or not incident.user_name:
            raise ApprovalRefusedError(
                f"this incident has no old key awaiting deletion (status {incident.status})"
            )
        if incident.dry_run:
            raise ApprovalRefusedError("dry run: leak-responder deletes nothing")

    def _may_close(self, current: Incident) -> bool:
        # The key is gone whatever the record said meanwhile: the record must say so too.
        return current.status != IncidentStatus.DELETED

    def _act(self, held: Lease) -> ApprovalResult:
        incident = held.incident
        assert incident.user_name is not None
        admin = _admin(self.deps, incident)
        try:
            keys = {k.key_id: k for k in admin.list_keys(incident.user_name)}
            old = keys.get(incident.key_id)
            if old is None:
                return self._done(
                    held,
                    admin,
                    None,
                    "The old key no longer exists (deleted outside "
                    "leak-responder). Incident closed.",
                    "already_absent",
                )
            if old.status != "Inactive":
                self.deps.observe("old key active again", incident_id=incident.incident_id)
                raise ApprovalRefusedError(
                    "the old key is Active again (re-activated after containment); nothing was "
                    "deleted. Investigate before deleting it."
                )
            deactivated = _deactivated_at(incident)
            if deactivated is None:
                raise ApprovalRefusedError(
                    "the incident does not record when the key was "
                    "deactivated; delete it by hand after checking"
                )
            last_used = admin.key_usage(incident.key_id).last_used_at
            if last_used is not None and last_used > deactivated:
                self.deps.observe(
                    "old key used after deactivation", incident_id=incident.incident_id
                )
                raise ApprovalRefusedError(
                    f"the old key was used at {iso(last_used)}, after it was deactivated; "
                    "nothing was deleted. Investigate before deleting it."
                )
            replacement_used = self._replacement_used(admin, incident)
            try:
                admin.delete_key(incident.user_name, incident.key_id)
            except KeyNotFoundError:
                self.deps.observe(
                    "old key vanished before delete", incident_id=incident.incident_id
                )
        except KeyNotFoundError as exc:
            raise ApprovalRefusedError(f"IAM user {incident.user_name} no longer exists") from exc
        except AccessDeniedError as exc:
            raise ApprovalRefusedError("leak-responder is not allowed to delete this key") from exc
        except TransientError as exc:
            raise ApprovalUnavailableError("AWS is busy; please try again") from exc
        return self._done(
            held, admin, replacement_used, _deleted_text(incident, replacement_used), "deleted"
        )

    def _untag(self, admin: KeyAdmin, incident: Incident) -> None:
        """Drop the gone key's tag: containment adds one per key, and IAM allows a user 50."""
        assert incident.user_name is not None
        try:
            admin.untag_user(incident.user_name, [incident.key_id])
        except LeakResponderError as exc:
            # The key is gone already; a leftover label must not fail the click.
            self.deps.observe(
                "could not untag deleted key",
                incident_id=incident.incident_id,
                error=type(exc).__name__,
            )

    def _replacement_used(self, admin: KeyAdmin, incident: Incident) -> bool | None:
        if not incident.new_key_id:
            return None
        try:
            return admin.key_usage(incident.new_key_id).last_used_at is not None
        except KeyNotFoundError:
            return None

    def _done(
        self, held: Lease, admin: KeyAdmin, replacement_used: bool | None, text: str, detail: str
    ) -> ApprovalResult:
        self._untag(admin, held.incident)
        saved = self._close(held, "delete_old_key", detail)
        self.deps.observe("old key deleted", incident_id=saved.incident_id, detail=detail)
        return ApprovalResult(saved, True, text, replacement_used)


class _Reactivate(_Attempt):
    closed_status = IncidentStatus.REACTIVATED
    refused_action = "reactivate_refused"

    def _check(self, incident: Incident) -> None:
        if incident.status != IncidentStatus.CONTAINED or not incident.user_name:
            raise ApprovalRefusedError(
                f"only a contained key can be reactivated (status {incident.status})"
            )

    def _may_close(self, current: Incident) -> bool:
        return current.status == IncidentStatus.CONTAINED

    def _act(self, held: Lease) -> ApprovalResult:
        incident = held.incident
        assert incident.user_name is not None
        admin = _admin(self.deps, incident)
        try:
            admin.activate(incident.user_name, incident.key_id)
        except KeyNotFoundError as exc:
            raise ApprovalRefusedError(
                "the old key no longer exists; nothing to reactivate"
            ) from exc
        except AccessDeniedError as exc:
            raise ApprovalRefusedError(
                "leak-responder is not allowed to reactivate this key"
            ) from exc
        except TransientError as exc:
            raise ApprovalUnavailableError("AWS is busy; please try again") from exc
        self._retag(admin, incident)
        saved = self._close(held, "reactivate_key", "false positive")
        self.deps.observe(
            "key reactivated", incident_id=incident.incident_id, by=self.click.user_id
        )
        text = f"The key {incident.key_id} is Active again (false positive)."
        if incident.new_key_id:
            text += (
                f" The replacement {incident.new_key_id} still exists: delete whichever is unused."
            )
        return ApprovalResult(saved, True, text, None)

    def _retag(self, admin: KeyAdmin, incident: Incident) -> None:
        """The key's description tag still says "leaked, deactivated"; the console should not
        lie."""
        assert incident.user_name is not None
        day = iso(self.now)[:10]
        note = reactivated_tag(day, incident.incident_id)
        try:
            admin.tag_user(incident.user_name, {incident.key_id: note})
        except LeakResponderError as exc:
            # The key is Active again already; a label IAM refuses must not fail the click.
            self.deps.observe(
                "could not retag reactivated key",
                incident_id=incident.incident_id,
                error=type(exc).__name__,
            )


def _deleted_text(incident: Incident, replacement_used: bool | None) -> str:
    text = f"The old key {incident.key_id} was deleted."
    if incident.new_key_id is None:
        return text + " No replacement exists: create a new key when you need one."
    if replacement_used:
        return text + f" The replacement {incident.new_key_id} is already in use."
    if replacement_used is False:
        return (
            text + f" The replacement {incident.new_key_id} has not been used yet: "
            "switch to it from Secrets Manager."
        )
    return text + f" The replacement {incident.new_key_id} could not be checked."
