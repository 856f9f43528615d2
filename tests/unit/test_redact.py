from __future__ import annotations

import json

import pytest

from leak_responder.redact import REDACTED, redact_secrets
from tests.fakes import fake_secret


def test_secret_shaped_token_in_text_is_redacted() -> None:
    secret = fake_secret()
    assert secret not in redact_secrets(f"aws_secret_access_key = {secret}\n")


def test_commit_ids_are_kept() -> None:
    commit = "3f2c" * 10
    assert redact_secrets(f"commit {commit}") == f"commit {commit}"


@pytest.mark.parametrize("field", ["secret", "SecretAccessKey", "slack_token", "password"])
def test_secret_named_json_fields_are_redacted_whatever_their_shape(field: str) -> None:
    body = json.dumps({"key_id": "AKIA" + "A" * 16, "nested": {field: "short"}})
    assert json.loads(redact_secrets(body)) == {
        "key_id": "AKIA" + "A" * 16,
        "nested": {field: REDACTED},
    }


def test_plain_json_is_unchanged() -> None:
    body = {"schema": "x", "location": {"path": "a.env", "line": 3}}
    assert json.loads(redact_secrets(json.dumps(body))) == body
