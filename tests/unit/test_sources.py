"""The normalisers, as a table: each sample event in tests/events/ and what it must become.

Valid events (``<source>_<case>.json``) map to their records; ``rejected_<case>.json`` and the
inline malformed bodies map to a RejectedMessageError with a reason substring. A new event file
without a row here fails ``test_every_event_file_has_an_expectation``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from leak_responder.domain.errors import InvalidKeyIdError, RejectedMessageError
from leak_responder.domain.model import (
    LeakedKey,
    PrincipalType,
    QuarantinedUser,
    Report,
    Source,
)
from leak_responder.sources import event_types, normalise, schemas
from leak_responder.sources._common import parse_time
from leak_responder.sources.registry import event_normaliser
from tests.helpers import event_names, event_path, load_event

HOME, MEMBER = "123456789012", "210987654321"
RECEIVED = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)


def key(n: int, prefix: str = "AKIA") -> str:
    """The fake key IDs of the sample events (not AWS's documented examples)."""
    return f"{prefix}Q7ZSLEAKTEST{n:04d}"


@dataclass(frozen=True)
class Key:
    """The expected LeakedKey; ``evidence`` lists the fields that must match exactly."""

    key_id: str
    source: Source
    observed_at: str
    account_id: str | None = HOME
    user_name: str | None = None
    principal_type: PrincipalType = PrincipalType.UNKNOWN
    quarantined: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    """The expected QuarantinedUser."""

    user_name: str
    policy_name: str
    observed_at: str
    account_id: str | None = HOME
    evidence: dict[str, Any] = field(default_factory=dict)


H, GD, SH = Source.HEALTH, Source.GUARDDUTY, Source.SECURITYHUB
TA, SC = Source.TRUSTEDADVISOR, Source.SCANNER
IAM_USER, ROLE, ROOT = PrincipalType.IAM_USER, PrincipalType.ASSUMED_ROLE, PrincipalType.ROOT

VALID: dict[str, list[Key | User]] = {
    # --- AWS Health ---
    "health_credentials_exposed": [
        Key(
            key(1),
            H,
            "2026-11-28T09:12:44+00:00",
            user_name="ci-deployer",
            principal_type=IAM_USER,
            evidence={
                "url": "https://github.com/example-org/payments/blob/4be1f0c9/deploy/.env",
                "finding_type": "AWS_RISK_CREDENTIALS_EXPOSED",
                "event_id": "arn:aws:health:us-east-1::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/"
                "AWS_RISK_CREDENTIALS_EXPOSED_6F1C0A2B9E",
            },
        )
    ],
    "health_2016_entity_only": [
        Key(
            key(2),
            H,
            "2016-06-05T06:10:09+00:00",  # RFC 1123 startTime
            evidence={"url": None, "finding_type": "AWS_RISK_CREDENTIALS_EXPOSED"},
        )
    ],
    # Organisation view: envelope account is the management account; the owner is affectedAccount.
    "health_global_region": [
        Key(
            key(3),
            H,
            "2026-11-28T10:02:11+00:00",
            account_id=MEMBER,
            user_name="analytics-etl",
            principal_type=IAM_USER,
            evidence={"url": "https://gist.github.com/example-user/9a0c4e"},
        )
    ],
    "health_iam_quarantine": [
        Key(
            key(4),
            H,
            "2026-11-28T11:20:00+00:00",
            user_name="build-bot",
            principal_type=IAM_USER,
            quarantined=True,
            evidence={"finding_type": "AWS_RISK_IAM_QUARANTINE"},
        )
    ],
    "health_exposure_suspected_no_account": [
        Key(key(7), H, "2026-11-28T12:00:05+00:00", account_id=None)
    ],
    # Two distinct keys (one listed twice); the one userName cannot be pinned to either.
    "health_compromised_multiple_entities": [
        Key(key(5), H, "2026-11-28T13:45:00+00:00"),
        Key(key(6), H, "2026-11-28T13:45:00+00:00"),
    ],
    "health_compromise_suspected_metadata_case": [
        Key(
            key(8),
            H,
            "2026-11-28T14:05:00+00:00",
            user_name="reporting",
            principal_type=IAM_USER,
            evidence={"url": "https://pastebin.com/raw/Xy12Ab34"},
        )
    ],
    # --- GuardDuty ---
    "guardduty_iam_user": [
        Key(
            key(11),
            GD,
            "2026-11-28T15:11:02.518000+00:00",
            user_name="data-loader",
            principal_type=IAM_USER,
            evidence={
                "finding_type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
                "severity": "8",
                "event_id": "58c6a4b1f8e2d7c09a3b5e1d2f4c6a80",
            },
        )
    ],
    "guardduty_assumed_role": [
        Key(
            key(12, "ASIA"),
            GD,
            "2026-11-28T15:21:44.007000+00:00",
            user_name="web-instance-role",  # the role's name
            principal_type=ROLE,
            evidence={"severity": "8"},  # 8.0 in the event
        )
    ],
    "guardduty_root": [
        Key(
            key(13),
            GD,
            "2026-11-28T15:30:00+00:00",
            principal_type=ROOT,
            evidence={"finding_type": "Policy:IAMUser/RootCredentialUsage", "severity": "2"},
        )
    ],
    "guardduty_iam_user_no_account": [
        Key(
            key(14),
            GD,
            "2026-11-28T15:40:12+00:00",
            account_id=MEMBER,  # from detail.accountId
            user_name="backup-agent",
            principal_type=IAM_USER,
            evidence={"severity": "5.5"},
        )
    ],
    # --- Security Hub ---
    "securityhub_access_key": [
        Key(
            key(21),
            SH,
            "2026-11-28T17:05:12.271000+00:00",
            user_name="reports-exporter",
            principal_type=IAM_USER,
            evidence={
                "finding_type": "TTPs/Initial Access/UnauthorizedAccess:IAMUser-MaliciousIPCaller",
                "severity": "HIGH",
                "event_id": f"arn:aws:guardduty:us-east-1:{HOME}:detector/7ab2c5e1f0d3/finding/"
                "3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d",
            },
        )
    ],
    "securityhub_resource_id_only_no_account": [
        Key(
            key(22),
            SH,
            "2026-11-28T17:15:40+00:00",
            account_id=MEMBER,
            user_name="legacy-sync",  # the deprecated UserName
            principal_type=IAM_USER,
            evidence={"severity": "MEDIUM"},
        )
    ],
    # Four findings: the S3 one is ignored and key 23 appears twice.
    "securityhub_custom_action_multiple": [
        Key(
            key(23),
            SH,
            "2026-11-28T17:30:00+00:00",
            user_name="ops-admin",
            principal_type=IAM_USER,
            evidence={"detail": "User ops-admin invoked CreateUser in an anomalous way."},
        ),
        Key(
            key(24, "ASIA"),
            SH,
            "2026-11-28T17:31:00+00:00",
            account_id=MEMBER,
            user_name="batch-worker",
            principal_type=ROLE,
        ),
    ],
    "securityhub_root_session": [
        Key(key(25, "ASIA"), SH, "2026-11-28T17:45:00+00:00", principal_type=ROOT)
    ],
    # Not GuardDuty's: its LOW severity is not held to the GuardDuty threshold.
    "securityhub_other_product_low_severity": [
        Key(
            key(20),
            SH,
            "2026-11-28T18:50:11+00:00",
            user_name="site-deployer",
            principal_type=IAM_USER,
            evidence={"severity": "LOW", "event_id": f"leak-scan-ci/{key(20)}"},
        )
    ],
    # Findings Imported V2 (OCSF).
    "securityhub_v2_guardduty_access_key": [
        Key(
            key(51, "ASIA"),
            SH,
            "2026-11-28T20:05:02+00:00",  # finding_info.modified_time_dt
            user_name="etl-runner",
            principal_type=ROLE,
            evidence={
                "finding_type": "UnauthorizedAccess:IAMUser/"
                "InstanceCredentialExfiltration.OutsideAWS",
                "severity": "High",
                "event_id": f"arn:aws:guardduty:us-east-1:{HOME}:detector/7ab2c5e1f0d3/finding/"
                "6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
                "detail": "Credentials for instance role etl-runner were used from an external "
                "IP address.",
            },
        )
    ],
    "securityhub_v2_other_product_key_name": [
        Key(
            key(54),
            SH,
            "2026-11-28T20:35:01+00:00",
            account_id=MEMBER,  # cloud.account.uid; the envelope names none
            evidence={"severity": "Low", "event_id": f"leak-scan-ci/{key(54)}"},
        )
    ],
    # --- Trusted Advisor ---
    "trustedadvisor_exposed_keys": [
        Key(
            key(31),
            TA,
            "2026-11-28T19:00:00+00:00",  # "Time Updated", epoch milliseconds
            user_name="release-uploader",
            principal_type=IAM_USER,
            evidence={
                "url": "https://github.com/example-org/site/blob/9c0d1e2f/scripts/upload.sh",
                "finding_type": "Exposed Access Keys",
                "event_id": "02648f3b-e18f-4b3d-9b8a-3f2c1d0e9a8b",
                "detail": "Fraud Type: Exposed",
            },
        )
    ],
    "trustedadvisor_root": [
        Key(
            key(32),
            TA,
            "2026-11-28T19:10:00+00:00",
            principal_type=ROOT,
            evidence={"detail": "Fraud Type: Suspected Fraud"},
        )
    ],
    "trustedadvisor_exposed_keys_no_account": [
        Key(
            key(33),
            TA,
            "2026-11-28T19:20:00+00:00",
            account_id=None,
            user_name="metrics-pusher",
            principal_type=IAM_USER,
        )
    ],
    # --- CloudTrail: AWS attached its quarantine policy ---
    "cloudtrail_quarantine_v2": [
        User(
            "build-bot",
            "AWSCompromisedKeyQuarantineV2",
            "2026-11-28T20:10:05+00:00",
            evidence={"event_id": "7c1e9a2b-3d4f-4a5b-8c6d-7e8f9a0b1c2d"},
        )
    ],
    "cloudtrail_quarantine_v3": [
        User("ci-deployer", "AWSCompromisedKeyQuarantineV3", "2026-11-28T20:20:05+00:00")
    ],
    "cloudtrail_quarantine_v4_future": [
        User("reporting", "AWSCompromisedKeyQuarantineV4", "2026-11-28T20:40:05+00:00")
    ],
    "cloudtrail_quarantine_original_no_account": [
        User(
            "legacy-sync",
            "AWSCompromisedKeyQuarantine",
            "2026-11-28T20:30:05+00:00",
            account_id=MEMBER,  # from recipientAccountId
        )
    ],
    # --- leak-scan ---
    "scanner_v1": [
        Key(
            key(41),
            SC,
            "2026-11-28T12:00:00+00:00",
            evidence={
                "repository": "git@example.com:org/repo.git",
                "path": "config/app.env",
                "line": 3,
                "commit": "3f2c9a1b7e5d4c6a8b0f1e2d3c4b5a6978a9b0c1",
                "url": None,
            },
        )
    ],
    "scanner_v1_no_account": [
        Key(
            key(42),
            SC,
            "2026-11-28T12:05:00.123456+00:00",
            account_id=None,
            evidence={
                "path": "analysis/explore.ipynb",
                "line": 118,
                "commit": None,
                "url": "https://github.com/example-org/notebooks/blob/main/analysis/explore.ipynb#L118",
                "detail": "leak-scan 0.1.0, key id only",
            },
        )
    ],
}

INVALID_KEY = "invalid access key id"
REJECTED: dict[str, tuple[str, type[RejectedMessageError]]] = {
    "rejected_unknown_source": ("unsupported event: source 'aws.ec2'", RejectedMessageError),
    "rejected_health_abuse_event": ("detail-type 'AWS Health Abuse Event'", RejectedMessageError),
    "rejected_envelope_without_detail": ("has no detail object", RejectedMessageError),
    "rejected_neither_event_nor_scanner": ("neither an EventBridge event", RejectedMessageError),
    "rejected_health_other_event_type": (
        "'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED' is not a credential-exposure event",
        RejectedMessageError,
    ),
    "rejected_health_no_entities": ("health: no access key", RejectedMessageError),
    "rejected_health_iam_user_id": (f"{INVALID_KEY} ('AIDAQ7ZS…', 20 chars)", InvalidKeyIdError),
    "rejected_guardduty_sample_finding": (f"guardduty: {INVALID_KEY}", InvalidKeyIdError),
    "rejected_guardduty_no_access_key": (
        "'Recon:EC2/PortProbeUnprotectedPort' has no access key resource",
        RejectedMessageError,
    ),
    "rejected_securityhub_no_access_key": (
        "no open finding has an AwsIamAccessKey",
        RejectedMessageError,
    ),
    "rejected_securityhub_archived": (
        "no open finding has an AwsIamAccessKey",
        RejectedMessageError,
    ),
    "rejected_securityhub_iam_user_id": (f"securityhub: {INVALID_KEY}", InvalidKeyIdError),
    "rejected_trustedadvisor_wrong_check": (
        "check 'IAM Access Key Rotation' is not 'Exposed Access Keys'",
        RejectedMessageError,
    ),
    "rejected_trustedadvisor_status_ok": ("status is OK", RejectedMessageError),
    "rejected_trustedadvisor_lowercase_key_id": (f"{INVALID_KEY} ('akiaq7zs…'", InvalidKeyIdError),
    "rejected_cloudtrail_other_policy": (
        "'arn:aws:iam::aws:policy/AdministratorAccess' is not AWS's compromised-key quarantine",
        RejectedMessageError,
    ),
    "rejected_cloudtrail_customer_policy_same_name": (
        f"'arn:aws:iam::{HOME}:policy/AWSCompromisedKeyQuarantineV2' is not AWS's",
        RejectedMessageError,
    ),
    "rejected_cloudtrail_failed_attach": ("failed with 'AccessDenied'", RejectedMessageError),
    "rejected_cloudtrail_not_attach_user_policy": (
        "event 'DetachUserPolicy' is not AttachUserPolicy",
        RejectedMessageError,
    ),
    "rejected_scanner_unknown_schema": (
        "unknown scanner message schema 'leak-responder/scanner-finding/v2'",
        RejectedMessageError,
    ),
    "rejected_scanner_carries_secret": ("secret field 'secret_access_key'", RejectedMessageError),
    "rejected_scanner_nested_secret": (
        "secret field 'AWS_SECRET_ACCESS_KEY'",
        RejectedMessageError,
    ),
    "rejected_scanner_missing_key": ("scanner: no access key id", RejectedMessageError),
    "rejected_scanner_invalid_account": ("invalid account id '12345678901'", RejectedMessageError),
    "rejected_scanner_invalid_key_id": (f"{INVALID_KEY} ('AKIA-NOT…'", InvalidKeyIdError),
}

# Bodies that cannot be files: not JSON, not an object, not text.
MALFORMED: list[tuple[str, object, str]] = [
    ("empty", "", "body is empty"),
    ("blank", "  \n", "body is empty"),
    ("not-json", "AKIA this is not json", "body is not JSON"),
    ("truncated-json", '{"source": "aws.health", "detail-type"', "body is not JSON"),
    ("json-array", "[1, 2]", "body is a JSON list, not an object"),
    ("json-null", "null", "body is a JSON null, not an object"),
    ("json-string", '"aws.health"', "body is a JSON str, not an object"),
    ("json-number", "42", "body is a JSON int, not an object"),
    ("empty-object", "{}", "neither an EventBridge event nor a scanner message"),
    ("bytes-not-utf8", b"\xff\xfe{}", "body is not UTF-8"),
    ("bytes-array", b"[]", "body is a JSON list"),
    ("detail-type-not-string", '{"source": "aws.health", "detail-type": 7}', "detail-type a int"),
    ("schema-not-string", '{"schema": 1, "key_id": "x"}', "unknown scanner message schema a int"),
    (
        "detail-not-object",
        '{"source": "aws.health", "detail-type": "AWS Health Event", "detail": []}',
        "aws.health event has no detail object",
    ),
    ("deep-nesting", "[" * 100_000 + "]" * 100_000, "body is not JSON"),
]


def _check(report: Report, expected: Key | User) -> None:
    if isinstance(expected, User):
        assert isinstance(report, QuarantinedUser)
        assert report.user_name == expected.user_name
        assert report.policy_name == expected.policy_name
    else:
        assert isinstance(report, LeakedKey)
        assert report.key_id == expected.key_id
        assert report.source is expected.source
        assert report.user_name == expected.user_name
        assert report.principal_type is expected.principal_type
        assert report.quarantined is expected.quarantined
    assert report.account_id == expected.account_id
    assert report.observed_at.isoformat() == expected.observed_at
    evidence = report.evidence
    for name, value in expected.evidence.items():
        assert getattr(evidence, name) == value, name


# --- the table ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_event_becomes_its_records(name: str) -> None:
    # Given an SQS body as the queue delivers it: a string of JSON
    body = event_path(name).read_text(encoding="utf-8")

    # When it is normalised
    reports = normalise(body, received_at=RECEIVED)

    # Then it yields exactly the expected records, in order
    expected = VALID[name]
    assert len(reports) == len(expected), reports
    for report, want in zip(reports, expected, strict=True):
        _check(report, want)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_event_gives_its_reason(name: str) -> None:
    substring, error = REJECTED[name]
    with pytest.raises(RejectedMessageError) as caught:
        normalise(event_path(name).read_text(encoding="utf-8"), received_at=RECEIVED)
    assert isinstance(caught.value, error)
    assert substring in caught.value.reason
    _assert_safe_reason(caught.value.reason)


@pytest.mark.parametrize(
    ("body", "substring"), [(b, s) for _, b, s in MALFORMED], ids=[case for case, _, _ in MALFORMED]
)
def test_malformed_body_is_rejected(body: Any, substring: str) -> None:
    with pytest.raises(RejectedMessageError) as caught:
        normalise(body, received_at=RECEIVED)
    assert substring in caught.value.reason
    _assert_safe_reason(caught.value.reason)


# Events the template's EventBridge rules must NOT route; their expectations live with the
# routing tests. Here they only have to be handled without surprise (see below).
NOMATCH_PREFIX = "nomatch_"


def test_every_event_file_has_an_expectation() -> None:
    files = {name for name in event_names() if not name.startswith(NOMATCH_PREFIX)}
    assert files == set(VALID) | set(REJECTED), "add a row to VALID or REJECTED"
    assert all(name.startswith("rejected_") for name in REJECTED)
    assert not any(name.startswith("rejected_") for name in VALID)
    assert len(files) > 40  # the glob really found the directory


@pytest.mark.parametrize("name", event_names())
def test_any_sample_event_gives_records_or_a_rejection(name: str) -> None:
    # Whatever reaches the queue, the outcome is records or a rejection, never a crash.
    try:
        reports = normalise(event_path(name).read_text(encoding="utf-8"))
    except RejectedMessageError as exc:
        _assert_safe_reason(exc.reason)
    else:
        assert reports


# --- body forms and record properties ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_str_bytes_and_mapping_bodies_agree(name: str) -> None:
    text = event_path(name).read_text(encoding="utf-8")
    as_str = normalise(text, received_at=RECEIVED)
    assert normalise(text.encode(), received_at=RECEIVED) == as_str
    assert normalise(load_event(name), received_at=RECEIVED) == as_str


def test_records_are_immutable() -> None:
    (report,) = normalise(load_event("guardduty_iam_user"))
    assert isinstance(report, LeakedKey)
    with pytest.raises(FrozenInstanceError):
        report.key_id = key(99)  # type: ignore[misc]


def test_observed_at_falls_back_to_received_at_then_now() -> None:
    # Given a Health event and a scanner message with none of their own timestamps
    event = load_event("health_2016_entity_only")
    del event["time"]
    del event["detail"]["startTime"]
    message = load_event("scanner_v1")
    message["detected_at"] = "not a time"

    # When received at a known moment (naive means UTC), then without one
    naive = RECEIVED.replace(tzinfo=None)
    before = datetime.now(UTC)
    (from_event,) = normalise(event, received_at=naive)
    (from_message,) = normalise(message, received_at=RECEIVED)
    (now,) = normalise(event)

    # Then observed_at is the receipt time, else the current time
    assert from_event.observed_at == RECEIVED
    assert from_message.observed_at == RECEIVED
    assert now.observed_at >= before


def test_envelope_time_is_used_when_the_detail_has_none() -> None:
    event = load_event("trustedadvisor_exposed_keys")
    del event["detail"]["check-item-detail"]["Time Updated"]
    (report,) = normalise(event, received_at=RECEIVED)
    assert report.observed_at == datetime(2026, 11, 28, 19, 0, 42, tzinfo=UTC)


# --- safety of rejection reasons ---------------------------------------------------------

SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")


def _assert_safe_reason(reason: str) -> None:
    assert 0 < len(reason) <= 240
    assert reason.isprintable()
    assert not SECRET_SHAPE.search(reason)


def test_secret_in_scanner_message_is_never_echoed() -> None:
    message = load_event("rejected_scanner_carries_secret")
    secret = message["secret_access_key"]
    with pytest.raises(RejectedMessageError) as caught:
        normalise(message)
    assert secret not in caught.value.reason
    assert secret[:6] not in caught.value.reason
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "field_name",
    ["secret", "SecretAccessKey", "aws_secret_access_key", "session-token", "password"],
)
def test_any_secret_named_field_rejects_a_scanner_message(field_name: str) -> None:
    message = load_event("scanner_v1")
    message["location"] = {**message["location"], "extra": [{field_name: "x"}]}
    with pytest.raises(RejectedMessageError, match="secret field"):
        normalise(message)


def test_secret_shaped_key_id_is_not_shown_even_in_part() -> None:
    # A 40-character secret pasted where the key ID belongs: the reason gives only its length.
    secret = "Q" + "z9/" * 13  # 40 chars, secret-shaped, generated here
    event = load_event("trustedadvisor_exposed_keys")
    event["detail"]["check-item-detail"]["Access Key ID"] = secret
    with pytest.raises(InvalidKeyIdError) as caught:
        normalise(event)
    assert "value not shown" in caught.value.reason
    assert secret[:4] not in caught.value.reason


def test_untrusted_strings_are_truncated_and_escaped() -> None:
    event = {"source": "evil\n" + "x" * 10_000, "detail-type": "y", "detail": {}}
    with pytest.raises(RejectedMessageError) as caught:
        normalise(json.dumps(event))
    _assert_safe_reason(caught.value.reason)
    assert "\\n" in caught.value.reason


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(key(1) + "\n", id="trailing-newline"),
        pytest.param(" " + key(1), id="leading-space"),
        pytest.param(key(1)[:-1], id="too-short"),
        pytest.param(key(1) + "0", id="too-long"),
        pytest.param("AKIAq7zsleaktest0001", id="mixed-case"),
        pytest.param("ABIA" + key(1)[4:], id="unknown-prefix"),
        pytest.param(12345, id="number"),
    ],
)
def test_near_miss_key_ids_are_rejected(value: object) -> None:
    message = load_event("scanner_v1")
    message["key_id"] = value
    with pytest.raises(InvalidKeyIdError):
        normalise(message)


# --- multi-item events -------------------------------------------------------------------


def test_one_bad_finding_does_not_hold_back_the_others(caplog: pytest.LogCaptureFixture) -> None:
    # Given a custom action on two findings, one of which names an IAM user ID, not a key
    event = load_event("securityhub_custom_action_multiple")
    bad = load_event("rejected_securityhub_iam_user_id")["detail"]["findings"][0]
    event["detail"]["findings"].insert(0, bad)

    # When normalised
    with caplog.at_level(logging.WARNING, logger="leak_responder.sources._common"):
        reports = normalise(event)

    # Then the valid keys are reported and the skipped one is logged, not silently dropped
    assert [r.key_id for r in reports if isinstance(r, LeakedKey)] == [key(23), key(24, "ASIA")]
    assert "invalid access key id" in caplog.text


def test_health_user_applies_to_the_key_in_metadata_only() -> None:
    event = load_event("health_credentials_exposed")
    event["detail"]["affectedEntities"].append({"entityValue": key(9)})
    reports = normalise(event)
    owners = {r.key_id: r.user_name for r in reports if isinstance(r, LeakedKey)}
    assert owners == {key(1): "ci-deployer", key(9): None}


def test_malformed_user_name_is_dropped_not_trusted() -> None:
    event = load_event("guardduty_iam_user")
    event["detail"]["resource"]["accessKeyDetails"]["userName"] = "a b;c"
    (report,) = normalise(event)
    assert report.user_name is None
    assert isinstance(report, LeakedKey) and report.principal_type is IAM_USER


def test_invalid_envelope_account_is_ignored_when_the_detail_names_one() -> None:
    event = load_event("guardduty_iam_user")
    event["account"] = "12345678910"  # 11 digits, seen in real-world sample events
    (report,) = normalise(event)
    assert report.account_id == HOME

    del event["detail"]["accountId"]
    with pytest.raises(RejectedMessageError, match="invalid account id"):
        normalise(event)


# --- registry and timestamps -------------------------------------------------------------


def test_registry_knows_every_source_once() -> None:
    assert event_types() == {
        ("aws.health", "AWS Health Event"),
        ("aws.guardduty", "GuardDuty Finding"),
        ("aws.securityhub", "Security Hub Findings - Imported"),
        ("aws.securityhub", "Security Hub Findings - Custom Action"),
        ("aws.securityhub", "Findings Imported V2"),
        ("aws.trustedadvisor", "Trusted Advisor Check Item Refresh Notification"),
        ("aws.iam", "AWS API Call via CloudTrail"),
    }
    assert schemas() == {"leak-responder/scanner-finding/v1"}
    with pytest.raises(ValueError, match="two normalisers"):
        event_normaliser("aws.health", "AWS Health Event")(lambda event: [])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-28T09:12:44Z", datetime(2026, 11, 28, 9, 12, 44, tzinfo=UTC)),
        ("2026-11-28T09:12:44.123456789Z", datetime(2026, 11, 28, 9, 12, 44, 123456, tzinfo=UTC)),
        ("2026-11-28T10:12:44+01:00", datetime(2026, 11, 28, 9, 12, 44, tzinfo=UTC)),
        ("2026-11-28T09:12:44", datetime(2026, 11, 28, 9, 12, 44, tzinfo=UTC)),
        ("Sat, 28 Nov 2026 09:12:44 GMT", datetime(2026, 11, 28, 9, 12, 44, tzinfo=UTC)),
        ("1795892400000", datetime(2026, 11, 28, 19, 0, tzinfo=UTC)),
        (1795892400, datetime(2026, 11, 28, 19, 0, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
        ("9" * 40, None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


# --- credentials inside URLs never reach the evidence ------------------------------------


def _set(event: dict[str, Any], path: tuple[str | int, ...], value: str) -> None:
    node: Any = event
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


# Where each normaliser copies untrusted text into Evidence, and the Evidence field it fills.
URL_FIELDS = [
    pytest.param("scanner_v1", ("location", "repository"), "repository", id="scanner-repository"),
    pytest.param("scanner_v1", ("location", "url"), "url", id="scanner-url"),
    pytest.param(
        "health_credentials_exposed", ("detail", "eventMetadata", "exposedUrl"), "url", id="health"
    ),
    pytest.param(
        "trustedadvisor_exposed_keys",
        ("detail", "check-item-detail", "Location"),
        "url",
        id="trustedadvisor",
    ),
    pytest.param("guardduty_iam_user", ("detail", "title"), "detail", id="guardduty-title"),
    pytest.param(
        "securityhub_access_key", ("detail", "findings", 0, "Title"), "detail", id="securityhub"
    ),
]


@pytest.mark.parametrize(("name", "path", "field_name"), URL_FIELDS)
def test_userinfo_is_stripped_from_urls_in_evidence(
    name: str, path: tuple[str | int, ...], field_name: str
) -> None:
    # Given a GitLab CI clone URL, which carries the job token as its password
    token = "glcbt-" + secrets.token_hex(10)
    event = load_event(name)
    _set(event, path, f"https://gitlab-ci-token:{token}@gitlab.example.com/org/repo.git")

    # When normalised
    (report,) = normalise(event, received_at=RECEIVED)

    # Then the URL is kept without its credentials, in the record and in its summary
    assert getattr(report.evidence, field_name) == "https://gitlab.example.com/org/repo.git"
    assert token not in repr(report)
    assert token not in report.evidence.summary()


@pytest.mark.parametrize(("name", "path", "field_name"), URL_FIELDS)
def test_presigned_url_signatures_are_redacted_in_evidence(
    name: str, path: tuple[str | int, ...], field_name: str
) -> None:
    signature, session = secrets.token_hex(32), secrets.token_urlsafe(60)
    event = load_event(name)
    _set(
        event,
        path,
        "https://b.s3.amazonaws.com/app.env?X-Amz-Security-Token="
        f"{session}&X-Amz-Signature={signature}&x-id=GetObject",
    )
    (report,) = normalise(event, received_at=RECEIVED)
    assert getattr(report.evidence, field_name) == (
        "https://b.s3.amazonaws.com/app.env?X-Amz-Security-Token=REDACTED"
        "&X-Amz-Signature=REDACTED&x-id=GetObject"
    )
    assert signature not in repr(report)
    assert session not in repr(report)


def test_userinfo_is_stripped_before_long_text_is_cut() -> None:
    # Cut first, and a URL near the limit would lose its '@' and keep part of the token.
    token = "glcbt-" + secrets.token_hex(10)
    event = load_event("guardduty_iam_user")
    event["detail"]["title"] = "x" * 170 + f" https://ci:{token}@git.example.com/r.git"
    (report,) = normalise(event, received_at=RECEIVED)
    assert report.evidence.detail is not None
    assert token[:8] not in report.evidence.detail
    assert report.evidence.detail.endswith("https://git.example.com/r.git")


def test_rejection_reasons_do_not_echo_url_credentials() -> None:
    token = "glcbt-" + secrets.token_hex(10)
    event = load_event("cloudtrail_quarantine_v2")
    event["detail"]["requestParameters"]["policyArn"] = f"https://u:{token}@h.example.com/p"
    with pytest.raises(RejectedMessageError) as caught:
        normalise(event)
    assert "'https://h.example.com/p' is not AWS's" in caught.value.reason
    assert token[: 6 + 4] not in caught.value.reason
