"""Block Kit messages for incidents, built with slack_sdk's models.

Every value that came from outside (evidence URLs, paths, user names, reasons) is escaped for
mrkdwn, so a crafted repository path cannot ping ``<!channel>`` or forge a link. No message ever
carries a secret value: the incident record holds none, and these builders read nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from leak_responder.domain.model import (
    Evidence,
    Incident,
    IncidentStatus,
    PrincipalType,
    Source,
    parse_iso,
)

DELETE_ACTION_ID = "leak_responder_delete_old_key"
REACTIVATE_ACTION_ID = "leak_responder_reactivate_key"
ACTIONS_BLOCK_ID = "leak_responder_actions"

_SOURCE_LABELS = {
    Source.HEALTH: "AWS Health",
    Source.GUARDDUTY: "Amazon GuardDuty",
    Source.SECURITYHUB: "AWS Security Hub",
    Source.TRUSTEDADVISOR: "AWS Trusted Advisor",
    Source.CLOUDTRAIL_QUARANTINE: "AWS quarantine policy (CloudTrail)",
    Source.SCANNER: "leak-scan",
    Source.MANUAL: "manual report",
}
_MAX_EVIDENCE = 3
_MAX_URL = 500  # longer ones are shown, not linked: a clipped link would break the markup
_MAX_FIELD = 1900  # Slack allows 2000 characters in a section field
_MAX_SECTION = 2900  # and 3000 in a section text


class Audience(StrEnum):
    OWNER = "owner"  # the DM: may delete the old key
    SECURITY = "security"  # the channel copy: may also reactivate (approvers, checked on click)


@dataclass(frozen=True)
class SlackMessage:
    text: str  # plain fallback, also what push notifications show
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class MessageContext:
    """What the message needs beyond the incident."""

    home_account_id: str = ""
    console_url: str = "https://console.aws.amazon.com"
    owner_tag_names: tuple[str, str] = ("slack-user-id", "email")


def escape(text: object) -> str:
    """Slack's three mrkdwn control characters; everything else is shown as typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    return "`" + escape(text).replace("`", "'") + "`"


def _link(url: str, label: str | None = None) -> str:
    if len(url) > _MAX_URL:
        return code(url[:_MAX_URL] + "…")
    if not re.match(r"^https?://[^\s]+$", url):
        return code(url)
    safe_url = escape(url).replace("|", "%7C")
    return f"<{safe_url}|{escape(label or url)}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: str | None) -> str:
    if not value:
        return "unknown time"
    try:
        return parse_iso(value).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return escape(value)


def _region_of(arn: str | None, default: str = "us-east-1") -> str:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


def secret_console_url(ctx: MessageContext, name: str, arn: str | None) -> str:
    region = _region_of(arn)
    base = ctx.console_url.rstrip("/")
    return f"{base}/secretsmanager/secret?name={quote(name, safe='')}&region={region}"


def _evidence_lines(incident: Incident) -> list[str]:
    known = {f.name for f in fields(Evidence)}
    lines: list[str] = []
    for sighting in incident.sightings:
        ev = Evidence(**{k: v for k, v in sighting.evidence.items() if k in known})
        if ev.url and not ev.path:
            line = _link(ev.url)
            extra = [p for p in (ev.finding_type, ev.severity and f"severity {ev.severity}") if p]
            if extra:
                line += " · " + escape(" · ".join(str(p) for p in extra))
        else:
            line = escape(ev.summary())
            if ev.severity and not ev.path:
                line += escape(f" · severity {ev.severity}")
            if ev.url:
                line += " · " + _link(ev.url, "link")
        label = _SOURCE_LABELS.get(sighting.source, str(sighting.source))
        entry = f"{escape(label)}: {line}" if len(incident.sources) > 1 else line
        if entry not in lines:
            lines.append(entry)
        if len(lines) >= _MAX_EVIDENCE:
            break
    return lines or ["no evidence recorded"]


def _sources(incident: Incident) -> str:
    labels = [_SOURCE_LABELS.get(s, str(s)) for s in incident.sources]
    return escape(", ".join(labels)) if labels else "unknown"


def _is_foreign(incident: Incident, ctx: MessageContext) -> bool:
    return bool(ctx.home_account_id) and incident.account_id != ctx.home_account_id


def _who(incident: Incident) -> str:
    if incident.principal_type == PrincipalType.ROOT:
        return f"the *root user* of account {code(incident.account_id)}"
    if incident.user_name:
        return f"IAM user {code(incident.user_name)} in account {code(incident.account_id)}"
    if incident.session_principal_arn:
        return f"{code(incident.session_principal_arn)}"
    return f"an unknown principal in account {code(incident.account_id)}"


def _headline(incident: Incident) -> str:
    if incident.principal_type == PrincipalType.ROOT:
        return ":rotating_light: Root access key leaked: act now"
    match incident.status:
        case IncidentStatus.CONTAINED:
            return ":lock: Leaked AWS access key contained"
        case IncidentStatus.REVOKED:
            return ":lock: Leaked temporary credentials: sessions revoked"
        case IncidentStatus.ALERT_ONLY:
            return ":warning: Leaked AWS access key: not changed automatically"
        case IncidentStatus.UNKNOWN_KEY:
            return ":grey_question: Reported AWS access key not found"
        case IncidentStatus.DELETED:
            return ":white_check_mark: Leaked AWS access key deleted"
        case IncidentStatus.REACTIVATED:
            return ":leftwards_arrow_with_hook: Leaked-key alert closed: key reactivated"
        case _:
            return ":hourglass: Leaked AWS access key: containment in progress"


def _what_happened(incident: Incident) -> str:
    key = code(incident.key_id)
    who = _who(incident)
    sources = _sources(incident)
    match incident.status:
        case IncidentStatus.CONTAINED | IncidentStatus.DELETED | IncidentStatus.REACTIVATED:
            return (
                f"The access key {key} of {who} was reported exposed by {sources}. "
                f"leak-responder made it *Inactive* at {_when(incident.deactivated_at)}."
            )
        case IncidentStatus.REVOKED:
            return (
                f"The temporary key {key} ({who}) was reported exposed by {sources}. "
                "Every session issued before the report was revoked; temporary keys cannot "
                "be deleted and expire on their own."
            )
        case IncidentStatus.ALERT_ONLY:
            return (
                f"The access key {key} of {who} was reported exposed by {sources}. "
                "*Nothing was changed*: the key may still be Active."
            )
        case IncidentStatus.UNKNOWN_KEY:
            return (
                f"The access key {key} was reported exposed by {sources}, but it does not "
                f"exist in account {code(incident.account_id)} (already deleted, or not ours)."
            )
        case _:
            return f"The access key {key} of {who} was reported exposed by {sources}."


def _warnings(incident: Incident, ctx: MessageContext, owner_known: bool) -> list[str]:
    out: list[str] = []
    if incident.principal_type == PrincipalType.ROOT:
        out.append(
            ":rotating_light: This is a *root* key. leak-responder never changes root "
            "credentials: sign in as root, delete the key, and check the account for misuse."
        )
    if incident.dry_run:
        out.append(":test_tube: *Dry run*: nothing was changed; the key is still Active.")
    if incident.status == IncidentStatus.ALERT_ONLY and _is_foreign(incident, ctx):
        out.append(
            f":globe_with_meridians: The key belongs to account {code(incident.account_id)}, "
            "which leak-responder cannot act in (no member role). Contain it there by hand."
        )
    if incident.alert_reason and incident.status in (
        IncidentStatus.ALERT_ONLY,
        IncidentStatus.UNKNOWN_KEY,
    ):
        out.append(f":information_source: Reason: {escape(incident.alert_reason)}")
    if incident.quarantined:
        out.append(
            ":warning: AWS attached its *quarantine policy* (AWSCompromisedKeyQuarantine) to "
            "this user. It restricts the *new key too* until an administrator detaches it."
        )
    if incident.status == IncidentStatus.CONTAINED and not incident.new_key_id:
        note = incident.replacement_note or "the user already has two access keys"
        out.append(
            f":warning: *No replacement key was made*: {escape(note)}. IAM allows two keys "
            "per user and an inactive key still counts. Delete the old key, then create a "
            "new one."
        )
    out.extend(f":heavy_exclamation_mark: {escape(note)}" for note in incident.notes)
    if not owner_known and incident.principal_type != PrincipalType.ROOT:
        slack_tag, email_tag = ctx.owner_tag_names
        out.append(
            ":bust_in_silhouette: *Owner unknown*: the IAM user has no "
            f"{code(slack_tag)} or {code(email_tag)} tag that resolves to a Slack user. "
            "Security: please find the owner."
        )
    return out


def _secret_section(incident: Incident, ctx: MessageContext) -> str | None:
    if not incident.secret_name:
        return None
    arn = incident.secret_arn or incident.secret_name
    console = secret_console_url(ctx, incident.secret_name, incident.secret_arn)
    lines = [
        "*Fetch the new secret* (only you and the security team can read it):",
        f"• Secret {code(incident.secret_name)}",
        f"• ARN {code(arn)}",
        f"• {_link(console, 'Open it in the Secrets Manager console')}, or run",
        f"```aws secretsmanager get-secret-value --secret-id {escape(arn)} "
        "--query SecretString --output text```",
        "Update whatever used the old key, then delete the old key below.",
    ]
    return "\n".join(lines)


def _buttons(incident: Incident, audience: Audience) -> ActionsBlock | None:
    if incident.status != IncidentStatus.CONTAINED or incident.dry_run:
        return None
    delete = ButtonElement(
        text="Delete old key",
        action_id=DELETE_ACTION_ID,
        value=incident.incident_id,
        style="danger",
        confirm=ConfirmObject(
            title="Delete the old key?",
            text=MarkdownTextObject(
                text=(
                    f"This permanently deletes {code(incident.key_id)}. Make sure nothing "
                    "still needs it: it cannot be undone."
                )
            ),
            confirm="Delete",
            deny="Cancel",
            style="danger",
        ),
    )
    elements = [delete]
    if audience == Audience.SECURITY:
        elements.append(
            ButtonElement(
                text="Reactivate (false positive)",
                action_id=REACTIVATE_ACTION_ID,
                value=incident.incident_id,
                confirm=ConfirmObject(
                    title="Reactivate the key?",
                    text=MarkdownTextObject(
                        text=(
                            f"Only for a false positive: {code(incident.key_id)} becomes "
                            "Active again. Security approvers only; this is audited."
                        )
                    ),
                    confirm="Reactivate",
                    deny="Cancel",
                ),
            )
        )
    return ActionsBlock(block_id=ACTIONS_BLOCK_ID, elements=elements)


def _context(incident: Incident, owner_slack_id: str | None) -> ContextBlock:
    owner = f"<@{escape(owner_slack_id)}>" if owner_slack_id else "unknown"
    count = max(incident.sighting_count, len(incident.sightings))
    parts = [
        f"Incident {code(incident.incident_id)}",
        f"first reported {_when(incident.first_received_at or incident.created_at)}",
        f"{count} report{'s' if count != 1 else ''}",
        f"owner {owner}",
    ]
    return ContextBlock(elements=[MarkdownTextObject(text=" · ".join(parts))])


def _fallback(incident: Incident, page: bool) -> str:
    prefix = "<!channel> " if page else ""
    head = _headline(incident).split(" ", 1)[1]
    who = incident.user_name or ("root" if incident.principal_type == PrincipalType.ROOT else "?")
    text = f"{prefix}{head}: {incident.key_id} (user {escape(who)}, account {incident.account_id})"
    if incident.status == IncidentStatus.CONTAINED:
        text += ". The old key is Inactive"
        text += f"; new key {incident.new_key_id}" if incident.new_key_id else "; no new key"
        if incident.secret_name:
            text += f", secret in Secrets Manager: {escape(incident.secret_name)}"
    return text + f". Incident {incident.incident_id}."


def incident_message(
    incident: Incident,
    *,
    audience: Audience,
    ctx: MessageContext,
    owner_slack_id: str | None = None,
    page: bool = False,
) -> SlackMessage:
    """The first notice: to the owner's DM, or the security channel's copy."""
    owner_known = owner_slack_id is not None
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_headline(incident), emoji=True))]
    lead = _what_happened(incident)
    if page:
        lead = "<!channel> " + lead
    blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(lead, _MAX_SECTION))))

    old_state = "*Inactive*" if incident.deactivated_at else "unchanged"
    if incident.status == IncidentStatus.REVOKED:
        old_state = "temporary; older sessions revoked"
    new_key = code(incident.new_key_id) if incident.new_key_id else "none"
    evidence = "\n".join(_evidence_lines(incident))
    blocks.append(
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Source*\n{_clip(_sources(incident), _MAX_FIELD)}"),
                MarkdownTextObject(text=f"*Evidence*\n{_clip(evidence, _MAX_FIELD)}"),
                MarkdownTextObject(text=f"*Old key*\n{code(incident.key_id)} · {old_state}"),
                MarkdownTextObject(text=f"*New key*\n{new_key}"),
            ]
        )
    )
    secret = _secret_section(incident, ctx)
    if secret and incident.status == IncidentStatus.CONTAINED:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(secret, _MAX_SECTION))))
    warnings = _warnings(incident, ctx, owner_known)
    if warnings:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=_clip("\n".join(warnings), _MAX_SECTION)))
        )
    actions = _buttons(incident, audience)
    if actions is not None:
        blocks.append(DividerBlock())
        blocks.append(actions)
    blocks.append(_context(incident, owner_slack_id))
    return SlackMessage(text=_fallback(incident, page), blocks=[b.to_dict() for b in blocks])


def outcome_message(incident: Incident, outcome: str, *, ctx: MessageContext) -> SlackMessage:
    """The message after a click: the incident and what was done, with no buttons left."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_headline(incident), emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=_clip(_what_happened(incident), _MAX_SECTION))),
        SectionBlock(text=MarkdownTextObject(text=_clip(escape(outcome), _MAX_SECTION))),
    ]
    closed = incident.closed_by and incident.closed_at
    if closed:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"Closed by <@{escape(incident.closed_by)}> at "
                        f"{_when(incident.closed_at)} · incident {code(incident.incident_id)}"
                    )
                ]
            )
        )
    else:
        blocks.append(_context(incident, incident.owner_slack_id))
    text = f"{incident.key_id}: {outcome} Incident {incident.incident_id}."
    return SlackMessage(text=text, blocks=[b.to_dict() for b in blocks])


def reminder_message(incident: Incident, hours: float) -> SlackMessage:
    text = (
        f":alarm_clock: Reminder: the old key {code(incident.key_id)} has been Inactive for "
        f"about {hours:.0f} h and still awaits deletion. When nothing needs it any more, use "
        "*Delete old key* on the message above."
    )
    block = SectionBlock(text=MarkdownTextObject(text=text))
    fallback = f"Reminder: old key {incident.key_id} still awaits deletion."
    return SlackMessage(text=fallback, blocks=[block.to_dict()])


def escalation_text(incident: Incident, hours: float) -> str:
    owner = f"<@{escape(incident.owner_slack_id)}>" if incident.owner_slack_id else "unknown"
    return (
        f"<!here> Escalation: the old key {code(incident.key_id)} of "
        f"{_who(incident)} has awaited deletion for about {hours:.0f} h. Owner: {owner}. "
        f"Incident {code(incident.incident_id)}."
    )


def escalation_message(incident: Incident, hours: float) -> SlackMessage:
    block = SectionBlock(text=MarkdownTextObject(text=escalation_text(incident, hours)))
    fallback = f"<!here> Escalation: old key {incident.key_id} still awaits deletion."
    return SlackMessage(text=fallback, blocks=[block.to_dict()])
