"""Block Kit notices: content, warnings, buttons, escaping, and never a secret."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from leak_responder.adapters.slack.messages import (
    DELETE_ACTION_ID,
    REACTIVATE_ACTION_ID,
    Audience,
    MessageContext,
    escape,
    incident_message,
    outcome_message,
)
from leak_responder.domain.model import Evidence, Incident, IncidentStatus, PrincipalType, Source
from leak_sandbox.testkit.world import HOME, World

CTX = MessageContext(home_account_id=HOME, console_url="https://console.aws.amazon.com")


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def contained(world: World) -> Incident:
    key = world.user("alice")
    return world.contained(key)


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_contained_notice_has_everything_the_owner_needs(contained: Incident) -> None:
    msg = incident_message(contained, audience=Audience.OWNER, ctx=CTX, owner_slack_id="U0OWNER001")
    body = text_of(msg.blocks)
    assert msg.blocks[0]["type"] == "header"
    assert "contained" in msg.blocks[0]["text"]["text"]
    assert contained.key_id in body and "*Inactive*" in body
    assert contained.new_key_id and contained.new_key_id in body
    assert contained.secret_name and contained.secret_name in body
    assert contained.secret_arn and contained.secret_arn in body
    assert "https://console.aws.amazon.com/secretsmanager/secret?name=" in body
    assert "AWS Health" in body
    assert "https://github.com/example/app/blob/main/.env" in body
    assert "alice" in body
    # Fallback text for notifications and clients without blocks
    assert contained.key_id in msg.text and contained.incident_id in msg.text


def test_owner_copy_has_delete_with_confirm_and_no_reactivate(contained: Incident) -> None:
    msg = incident_message(contained, audience=Audience.OWNER, ctx=CTX, owner_slack_id="U0OWNER001")
    [delete] = buttons(msg.blocks)
    assert delete["action_id"] == DELETE_ACTION_ID
    assert delete["style"] == "danger"
    assert delete["confirm"]["style"] == "danger"
    assert delete["confirm"]["confirm"]["text"] == "Delete"
    # The button carries the opaque incident id only
    assert delete["value"] == contained.incident_id


def test_security_copy_adds_reactivate(contained: Incident) -> None:
    msg = incident_message(contained, audience=Audience.SECURITY, ctx=CTX, owner_slack_id="U0X1")
    ids = [b["action_id"] for b in buttons(msg.blocks)]
    assert ids == [DELETE_ACTION_ID, REACTIVATE_ACTION_ID]
    assert all(b["value"] == contained.incident_id for b in buttons(msg.blocks))


def test_no_secret_value_ever(world: World, contained: Incident) -> None:
    stored = next(iter(world.secrets.secrets.values()))
    secret_value = stored["SecretAccessKey"]
    for audience in Audience:
        msg = incident_message(contained, audience=audience, ctx=CTX, page=True)
        assert secret_value not in text_of(msg.blocks) + msg.text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"quarantined": True}, "quarantine policy"),
        ({"new_key_id": None, "replacement_note": "user already has two keys"}, "No replacement"),
        ({"dry_run": True, "status": IncidentStatus.ALERT_ONLY}, "Dry run"),
        ({"principal_type": PrincipalType.ROOT, "status": IncidentStatus.ALERT_ONLY}, "root"),
        (
            {"account_id": "999999999999", "status": IncidentStatus.ALERT_ONLY},
            "no member role",
        ),
        ({"notes": ("leaked key not tagged: iam:TagUser: LimitExceeded",)}, "not tagged"),
    ],
)
def test_warnings(contained: Incident, change: dict[str, Any], expected: str) -> None:
    incident = replace(contained, **change)
    msg = incident_message(incident, audience=Audience.SECURITY, ctx=CTX, owner_slack_id="U0X1")
    assert expected in text_of(msg.blocks)
    # Only a contained (and not dry-run) key gets buttons
    if incident.status != IncidentStatus.CONTAINED or incident.dry_run:
        assert buttons(msg.blocks) == []


def test_owner_unknown_is_said_and_pages(contained: Incident) -> None:
    msg = incident_message(contained, audience=Audience.SECURITY, ctx=CTX, page=True)
    body = text_of(msg.blocks)
    assert "Owner unknown" in body
    assert "slack-user-id" in body and "email" in body
    assert "<!channel>" in body and msg.text.startswith("<!channel>")


def test_a_normal_notice_does_not_page(contained: Incident) -> None:
    msg = incident_message(contained, audience=Audience.OWNER, ctx=CTX, owner_slack_id="U0X1")
    assert "<!channel>" not in text_of(msg.blocks) + msg.text


def test_evidence_cannot_inject_mentions_or_links(world: World) -> None:
    key = world.user("alice")
    evil = Evidence(
        repository="<!channel>",
        path="x<https://evil.example|click me>.py",
        line=3,
        commit="3f2c" * 10,
    )
    incident = world.contained(key, evidence=evil, source=Source.SCANNER)
    body = text_of(incident_message(incident, audience=Audience.OWNER, ctx=CTX).blocks)
    assert "<!channel>" not in body
    assert "<https://evil.example" not in body
    assert escape("<!channel>") in body
    assert "leak-scan" in body and ":3" in body


def test_non_http_evidence_url_is_not_a_link(world: World) -> None:
    key = world.user("alice")
    incident = world.contained(key, evidence=Evidence(url="javascript:alert(1)"))
    body = text_of(incident_message(incident, audience=Audience.OWNER, ctx=CTX).blocks)
    assert "<javascript:" not in body


def test_outcome_has_no_buttons(contained: Incident) -> None:
    closed = replace(
        contained,
        status=IncidentStatus.DELETED,
        closed_by="U0OWNER001",
        closed_at="2026-11-28T13:00:00Z",
    )
    msg = outcome_message(closed, "The old key was deleted.", ctx=CTX)
    assert buttons(msg.blocks) == []
    body = text_of(msg.blocks)
    assert "deleted" in body and "<@U0OWNER001>" in body


def test_blocks_fit_slack_limits_with_huge_evidence(world: World) -> None:
    key = world.user("alice")
    incident = world.contained(key, evidence=Evidence(url="https://x.example/" + "a" * 5000))
    msg = incident_message(incident, audience=Audience.SECURITY, ctx=CTX)
    for block in msg.blocks:
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            for f in block.get("fields", []):
                assert len(f["text"]) <= 2000
