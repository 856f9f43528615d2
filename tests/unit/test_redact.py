from __future__ import annotations

import json
import secrets
import time

import pytest

from leak_responder.redact import REDACTED, redact_secrets, redact_text, safe_url
from leak_sandbox.testkit.fakes import fake_secret


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


# --- secrets written next to their name --------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("aws_secret_access_key={s}", id="key=secret"),
        pytest.param("aws_secret_access_key={s}\n", id="key=secret-newline"),
        pytest.param("AWS_SECRET_ACCESS_KEY: {s}", id="key: secret"),
        pytest.param("aws_secret_access_key:{s}", id="key:secret"),
        pytest.param("export AWS_SECRET_ACCESS_KEY='{s}'", id="shell-quoted"),
        pytest.param("--secret={s}=", id="trailing-equals"),
    ],
)
def test_secret_written_next_to_its_name_is_redacted(template: str) -> None:
    secret = fake_secret()
    scrubbed = redact_secrets(template.format(s=secret))
    assert secret not in scrubbed
    assert REDACTED in scrubbed


def test_secret_as_a_json_value_is_redacted() -> None:
    # Given the secret under a field whose name does not say "secret"
    secret = fake_secret()
    body = json.dumps({"key_id": "AKIA" + "B" * 16, "value": secret})

    # When redacted, Then the value goes and the JSON stays JSON
    assert json.loads(redact_secrets(body)) == {"key_id": "AKIA" + "B" * 16, "value": REDACTED}


def test_secret_inside_a_longer_json_string_value_is_redacted() -> None:
    secret = fake_secret()
    body = json.dumps({"error": f"bad line: aws_secret_access_key={secret} in .env"})
    assert json.loads(redact_secrets(body)) == {
        "error": f"bad line: aws_secret_access_key={REDACTED} in .env"
    }


def test_secret_in_text_that_is_not_json_is_redacted_in_json_form() -> None:
    # A truncated JSON body is text: the secret inside '"key":"SECRET"' must still go.
    secret = fake_secret()
    text = f'{{"aws_secret_access_key":"{secret}", "trunc'
    scrubbed = redact_secrets(text)
    assert secret not in scrubbed
    assert scrubbed == f'{{"aws_secret_access_key":"{REDACTED}", "trunc'


def test_commit_id_after_an_equals_sign_is_kept() -> None:
    commit = "0123456789abcdef" * 2 + "01234567"
    assert redact_secrets(f"commit={commit}") == f"commit={commit}"


def test_longer_base64_runs_are_not_cut_into_secrets() -> None:
    # 41+ characters of the alphabet are not a secret key: nothing to cut out of them.
    blob = "Ab1/" * 15
    assert redact_secrets(f"data={blob}") == f"data={blob}"


# --- URLs: userinfo and presigned query parameters ---------------------------------------


def _token() -> str:
    return "glcbt-" + secrets.token_hex(10)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param(
            "https://gitlab-ci-token:{t}@gitlab.example.com/org/repo.git",
            "https://gitlab.example.com/org/repo.git",
            id="gitlab-ci-job-token",
        ),
        pytest.param(
            "https://{t}@github.com/org/repo.git",
            "https://github.com/org/repo.git",
            id="token-as-user",
        ),
        pytest.param(
            "https://x-access-token:{t}@github.com:443/org/repo",
            "https://github.com:443/org/repo",
            id="with-port",
        ),
        pytest.param(
            "ssh://git:{t}@example.com/org/repo.git",
            "ssh://example.com/org/repo.git",
            id="ssh-scheme",
        ),
        pytest.param(
            "HTTPS://user:p@ss{t}@host.example.com",
            "HTTPS://host.example.com",
            id="unencoded-at-in-password-no-path",
        ),
        pytest.param(
            "https://user:{t}@host.example.com?ref=main#L3",
            "https://host.example.com?ref=main#L3",
            id="query-and-fragment-kept",
        ),
        pytest.param(
            "oauth2:{t}@gitlab.example.com:org/repo.git",
            "gitlab.example.com:org/repo.git",
            id="scp-like-with-password",
        ),
        pytest.param(
            "cloned from https://ci:{t}@git.example.com/a.git into /builds",
            "cloned from https://git.example.com/a.git into /builds",
            id="inside-free-text",
        ),
    ],
)
def test_safe_url_strips_userinfo(template: str, expected: str) -> None:
    token = _token()
    safe = safe_url(template.format(t=token))
    assert safe == expected
    assert token not in safe


@pytest.mark.parametrize(
    "param",
    [
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "Signature",
        "AWSAccessKeyId",
        "x-amz-signature",
    ],
)
def test_safe_url_redacts_presigned_url_parameters(param: str) -> None:
    value = secrets.token_hex(32)
    url = f"https://bucket.s3.amazonaws.com/k.env?X-Amz-Algorithm=AWS4-HMAC-SHA256&{param}={value}&x-id=GetObject#top"
    assert safe_url(url) == (
        "https://bucket.s3.amazonaws.com/k.env?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&{param}=REDACTED&x-id=GetObject#top"
    )


def test_safe_url_redacts_a_presigned_parameter_that_comes_first() -> None:
    value = secrets.token_hex(16)
    assert safe_url(f"https://h.example.com/o?Signature={value}") == (
        "https://h.example.com/o?Signature=REDACTED"
    )


@pytest.mark.parametrize(
    "text",
    [
        "git@example.com:org/repo.git",
        "https://github.com/example-org/payments/blob/4be1f0c9/deploy/.env",
        "https://github.com/org/repo/blob/main/a.py?plain=1#L3",
        "https://www.npmjs.com/package/@scope/name",
        "https://example.com/users/@someone",
        "https://example.com/o?MySignature=kept&signatures=kept",
        "arn:aws:sts::123456789012:assumed-role/deployer/someone@example.com",
        "Fraud Type: Exposed",
        "mailto:someone@example.com",
        "",
    ],
)
def test_safe_url_leaves_harmless_text_alone(text: str) -> None:
    assert safe_url(text) == text


def test_safe_url_is_linear_on_hostile_input() -> None:
    # No timing asserted: a quadratic pattern would not finish this in any sane time.
    hostile = ("a" * 50_000) + ":" + ("b" * 50_000) + ("://" + "c" * 1000) * 50
    assert safe_url(hostile) == hostile


def test_redacted_bodies_keep_urls_without_their_credentials() -> None:
    # A rejected scanner message goes to the DLQ through redact_secrets: the CI clone URL in
    # it must not keep the job token, in a JSON body or in text that is not JSON.
    token = _token()
    clone = f"https://gitlab-ci-token:{token}@gitlab.example.com/org/repo.git"
    body = json.dumps({"schema": "x", "location": {"repository": clone}})
    assert json.loads(redact_secrets(body)) == {
        "schema": "x",
        "location": {"repository": "https://gitlab.example.com/org/repo.git"},
    }
    assert token not in redact_secrets(body[:-3])


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.example.com/org/repo/-/raw/main/a.env?private_token=glpat-abcdef123456",
        "https://ci.example.com/artifact?job_token=abc123&x=1",
        "https://api.example.com/file?access_token=ya29.abcdef",
        "https://example.com/x?token=abcdef",
    ],
)
def test_query_string_tokens_are_redacted(url: str) -> None:
    cleaned = safe_url(url)
    assert "REDACTED" in cleaned
    assert not any(t in cleaned for t in ("glpat-abcdef123456", "abc123", "ya29", "=abcdef"))


def test_secret_present_flags_survive_field_redaction() -> None:
    body = json.dumps({"key_id": "AKIA" + "B" * 16, "secret_present": True})
    assert json.loads(redact_secrets(body))["secret_present"] is True


# --- bodies nested deeper than Python's stack --------------------------------------------


def _nested(depth: int, kind: str, leaf: str) -> str:
    if kind == "list":
        return "[" * depth + leaf + "]" * depth
    return '{"a":' * depth + leaf + "}" * depth


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", [500, 990, 5_000])
def test_deeply_nested_json_is_redacted_not_a_recursion_error(depth: int, kind: str) -> None:
    # Given a body nested as deep as the normaliser refuses (5,000 levels is 10,000 brackets)
    secret = fake_secret()
    body = _nested(depth, kind, json.dumps(secret))

    # When redacted for the dead-letter queue, Then it is, with no RecursionError
    scrubbed = redact_secrets(body)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


@pytest.mark.parametrize("depth", [500, 5_000])
def test_deeply_nested_secret_named_fields_are_redacted_too(depth: int) -> None:
    body = _nested(depth, "object", '{"password": "short-one", "token": 12345, "ok": "kept"}')
    scrubbed = redact_secrets(body)
    assert "short-one" not in scrubbed
    assert "12345" not in scrubbed
    assert '"kept"' in scrubbed


def test_secret_shaped_json_keys_are_redacted() -> None:
    secret = fake_secret()
    assert secret not in redact_secrets(json.dumps({"evidence": {secret: 1}}))


# --- userinfo with "/" in the password ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("https://user:pa/ss@host/path", "https://host/path", id="brief"),
        pytest.param(
            "https://AKIA" + "Q" * 16 + ":" + "wJal/K7MD" * 4 + "EXAM@h.example.com/x",
            "https://h.example.com/x",
            id="aws-secret-as-password",
        ),
        pytest.param("https://u:a/b:c/d@host.example.com", "https://host.example.com", id="colons"),
        pytest.param("https://u:a/b@c@host/p", "https://host/p", id="slash-then-at"),
        pytest.param(
            "https://u:a/b@host/users/@someone", "https://host/users/@someone", id="at-in-path"
        ),
        pytest.param(
            "git clone https://ci:x/y@git.example.com/a.git",
            "git clone https://git.example.com/a.git",
            id="in-text",
        ),
    ],
)
def test_safe_url_strips_userinfo_with_a_slash_in_the_password(text: str, expected: str) -> None:
    assert safe_url(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com:8443/users/@someone",
        "https://example.com:8443/a/b@c",
        "https://example.com/a:b/c@d",
        "https://example.com/users/@someone:1/x@y",
        "see https://example.com:443 and me@example.com",
        "https://[::1]:8080/p/@x",
        "http://localhost:3000/api/v1/users/@me",
    ],
)
def test_the_slash_rule_does_not_eat_ports_or_ordinary_paths(text: str) -> None:
    assert safe_url(text) == text


@pytest.mark.parametrize(
    "unit",
    [
        pytest.param("://a:", id="scheme-user-colon"),
        pytest.param("://a:b/", id="scheme-user-password-slash"),
        pytest.param("://:/", id="empty-user"),
        pytest.param("a:/b", id="no-scheme"),
        pytest.param("://a:b/c:", id="colon-after-slash"),
    ],
)
def test_safe_url_stays_linear_on_256_kib_of_hostile_input(unit: str) -> None:
    # A backtracking or overlapping scan takes minutes on this; a linear one milliseconds.
    hostile = unit * (256 * 1024 // len(unit))
    started = time.perf_counter()
    safe_url(hostile)
    safe_url(hostile + "@host")
    assert time.perf_counter() - started < 2.0


def test_a_secret_that_starts_with_a_slash_right_after_a_scheme_is_redacted() -> None:
    # Found by the fuzz: "https://" + "/..." ran the scheme's slashes into the secret.
    secret = "/" + fake_secret()[:39]
    for text in (f"https://{secret}@github.com/org/repo", f"s3://{secret}"):
        assert secret not in redact_secrets(text)
        assert secret not in redact_text(text)


def test_a_lower_case_url_path_of_forty_characters_is_evidence_not_a_secret() -> None:
    url = "https://github.com/example-org/notebooks/blob/main/analysis/explore.ipynb#L118"
    assert redact_text(url) == url
    # The same length with the mix of a secret key still goes.
    assert "[REDACTED]" in redact_text("https://github.com/x-" + "wJa1/" * 8 + ".py")
