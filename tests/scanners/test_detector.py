"""The detector as a table of lines and verdicts, in the style of detect-secrets' plugin tests."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import quote

import pytest

from leak_scan.detector import (
    CONTEXT,
    AwsKeyDetector,
    account_id_from_key_id,
    hits_to_findings,
    iter_regions,
)
from leak_scan.model import Finding
from tests.scanners.conftest import make_key, make_secret

K = "{key}"
S = "{secret}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# (case, template, secret expected nearby). {key} and {secret} are filled at test time.
POSITIVES = [
    ("env", "AWS_ACCESS_KEY_ID={key}\nAWS_SECRET_ACCESS_KEY={secret}\n", True),
    ("env-export-quoted", 'export AWS_ACCESS_KEY_ID="{key}"\n', False),
    ("json", '{{"AccessKeyId": "{key}", "SecretAccessKey": "{secret}"}}', True),
    ("yaml", "aws:\n  access_key_id: {key}\n  secret_access_key: '{secret}'\n", True),
    (
        "ini-credentials",
        "[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n",
        True,
    ),
    (
        "python",
        'boto3.client("s3", aws_access_key_id="{key}", aws_secret_access_key="{secret}")',
        True,
    ),
    ("java", 'AWSCredentials c = new BasicAWSCredentials("{key}", "{secret}");', True),
    (
        "terraform",
        'provider "aws" {{\n  access_key = "{key}"\n  secret_key = "{secret}"\n}}\n',
        True,
    ),
    (
        "dockerfile",
        "FROM python:3.12\nENV AWS_ACCESS_KEY_ID={key} \\\n    AWS_SECRET_ACCESS_KEY={secret}\n",
        True,
    ),
    ("csv-console", "Access key ID,Secret access key\n{key},{secret}\n", True),
    (
        "csv-console-old",
        "User name,Password,Access key ID,Secret access key,Console login link\n"
        "alice,,{key},{secret},https://123456789012.signin.aws.amazon.com/console\n",
        True,
    ),
    (
        "url-query-presigned",
        "https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential={key}%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab12",
        False,
    ),
    ("url-encoded-nested", "next=https%3A%2F%2Fh%3FAWSAccessKeyId%3D{key}%26Expires%3D1", False),
    (
        "k8s-secret-base64",
        "data:\n  AWS_ACCESS_KEY_ID: {b64key}\n  AWS_SECRET_ACCESS_KEY: {b64secret}\n",
        True,
    ),
    ("base64-credentials-align0", "creds: {b64creds0}\n", True),
    ("base64-credentials-align1", "creds: {b64creds1}\n", True),
    ("base64-credentials-align2", "creds: {b64creds2}\n", True),
    ("base64-urlsafe-unpadded", "token={b64urlsafe}", False),
    (
        "notebook-json",
        '{{"cell_type": "code", "source": '
        '["os.environ[\\"AWS_ACCESS_KEY_ID\\"] = \\"{key}\\"\\n"]}}',
        False,
    ),
    (
        "minified-js",
        'var c={{accessKeyId:"{key}",secretAccessKey:"{secret}"}};function f(){{return c}}',
        True,
    ),
    ("shell-cli", "aws configure set aws_access_key_id {key}\n", False),
    ("xml", "<Credentials><AccessKeyId>{key}</AccessKeyId></Credentials>", False),
    ("go", 'credentials.NewStaticCredentials("{key}", "{secret}", "")', True),
    (
        "sts-session-json",
        '{{"Credentials": {{"AccessKeyId": "{session}", "SecretAccessKey": "{secret}"}}}}',
        True,
    ),
    ("markdown", "Use the key `{key}` for staging.", False),
    ("php", "'credentials' => ['key' => '{key}', 'secret' => '{secret}'],", True),
    ("dotnet-config", '<add key="AWSAccessKey" value="{key}" />', False),
    (
        "sigv4-header",
        "Authorization: AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/s3/aws4_request",
        False,
    ),
    ("url-encoded-secret", "u=https%3A%2F%2Fx%3Fid%3D{key}%26s%3D{urlsecret}", True),
]


def fill(template: str, key: str, session: str, secret: str) -> str:
    creds = f"[default]\naws_access_key_id={key}\naws_secret_access_key={secret}\n"
    return template.format(
        key=key,
        session=session,
        secret=secret,
        urlsecret=quote(secret, safe=""),
        b64key=b64(key),
        b64secret=b64(secret),
        b64creds0=b64(creds),
        b64creds1=b64("#" + creds),
        b64creds2=b64("##" + creds),
        b64urlsafe=base64.urlsafe_b64encode(f"k={key};".encode()).decode().rstrip("="),
    )


@pytest.mark.parametrize(
    ("case", "template", "with_secret"), POSITIVES, ids=[p[0] for p in POSITIVES]
)
def test_positive_formats_are_found(case: str, template: str, with_secret: bool) -> None:
    # Given a key (and maybe its secret) written the way this format writes it
    key, session, secret = make_key("111122223333"), make_key("444455556666", "ASIA"), make_secret()
    text = fill(template, key, session, secret)
    expected = session if "{session}" in template else key

    # When it is scanned
    findings = list(AwsKeyDetector().scan(text))

    # Then exactly that key is reported, with its account, and the secret only as a flag
    assert [f.key_id for f in findings] == [expected], case
    assert findings[0].account_id == ("444455556666" if expected == session else "111122223333")
    assert findings[0].secret_present is with_secret
    assert all(f.secret is None for f in findings)
    assert secret not in json.dumps([f.as_dict() for f in findings])


def test_at_least_twenty_positive_formats() -> None:
    assert len(POSITIVES) >= 20


def _random_body(n: int = 16) -> str:
    return "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))


NEGATIVES = [
    ("aws-doc-example", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
    ("aws-doc-example-session", '"AccessKeyId": "ASIAIOSFODNN7EXAMPLE"'),
    ("aws-doc-example-2", "key=AKIAI44QH8DHBEXAMPLE"),
    ("dna", "seq = AKIAGATTACAGATTACAGA"),
    ("dna-acgt", ">chr1 ASIAACGTACGTTGCAACGT"),
    ("placeholder", "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX"),
    ("zeros", "AWS_ACCESS_KEY_ID=AKIA0000000000000000"),
    ("iam-user-id", "UserId: AIDA{body}"),
    ("iam-role-id", "RoleId: AROA{body}"),
    ("iam-group-id", "GroupId: AGPA{body}"),
    ("iam-policy-id", "PolicyId: ANPA{body}"),
    ("instance-profile-id", "InstanceProfileId: AIPA{body}"),
    ("cert-id", "ServerCertificateId: ASCA{body}"),
    ("lowercase", "aws_access_key_id = akia{lower}"),
    ("lowercase-body", "aws_access_key_id = AKIA{lower}"),
    ("embedded-prefix", "token=xAKIA{body}"),
    ("embedded-suffix", "token=AKIA{body}Z"),
    ("embedded-both", "id=fooAKIA{body}bar"),
    ("too-short", "AKIA{short}"),
    ("inside-hex", "sha=0123abcdAKIA{body}99"),
]


@pytest.mark.parametrize(("case", "template"), NEGATIVES, ids=[n[0] for n in NEGATIVES])
def test_negatives_are_not_keys(case: str, template: str) -> None:
    text = template.format(
        body=_random_body(), lower=_random_body().lower(), short=_random_body(15)
    )
    assert list(AwsKeyDetector().scan(text)) == [], case


@pytest.mark.parametrize(
    ("key_id", "account"),
    [
        # aws-account-id-from-key-id crate docs
        ("AKIASP2TPHJSQH3FJXYZ", "171436882533"),  # pragma: allowlist secret
        # psanford/aws-account-id-from-key README
        ("ASIAVJ2E6QGR2WZILJFM", "364679954851"),  # pragma: allowlist secret
        # localstack's documented example
        ("ASIAQAAAAAAAGMKEM7X5", "000000000000"),  # pragma: allowlist secret
        # aidansteele's key-format post
        ("ASIAY34FZKBOKMUTVV7A", "609629065308"),  # pragma: allowlist secret
        ("AKIAIOSFODNN7EXAMPLE", None),  # 5th character I: pre-2019 format, no account
        ("ASIAJEXAMPLEXEG2JICEA"[:20], None),  # 5th character J
        ("AKIA1111111111111111", None),  # digits outside base32: not issued by AWS
    ],
)
def test_account_id_is_decoded_offline(key_id: str, account: str | None) -> None:
    assert account_id_from_key_id(key_id) == account


def test_generated_keys_round_trip_their_account() -> None:
    for account in ("000000000001", "123456789012", "999999999999"):
        assert account_id_from_key_id(make_key(account)) == account


def test_secret_far_away_is_not_nearby() -> None:
    key, secret = make_key(), make_secret()
    text = f"id={key}\n" + ("filler line\n" * 200) + f"secret={secret}\n"
    (finding,) = AwsKeyDetector().scan(text)
    assert finding.secret_present is False


def test_git_sha_next_to_a_key_is_not_a_secret() -> None:
    key = make_key()
    text = f"commit 3f2c9a1b0e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b\nkey={key}\n"
    (finding,) = AwsKeyDetector().scan(text)
    assert finding.secret_present is False


@pytest.mark.parametrize(
    ("template", "allowed"),
    [
        ("key = '{key}'  # pragma: allowlist secret\n", True),
        ("// pragma: allowlist nextline secret\nkey = '{key}'\n", True),
        ("key = '{key}'  # pragma: allowlist something-else\n", False),
        ("# pragma: allowlist nextline secret\n\nkey = '{key}'\n", False),
    ],
)
def test_allowlist_pragma(template: str, allowed: bool) -> None:
    text = template.format(key=make_key())
    assert (list(AwsKeyDetector().scan(text)) == []) is allowed


def test_lines_and_columns() -> None:
    key = make_key()
    text = f"a\nb\n  x = {key}\n"
    (finding,) = AwsKeyDetector().scan(text)
    assert (finding.line, finding.column) == (3, 7)


def test_keep_secrets_is_opt_in() -> None:
    key, secret = make_key(), make_secret()
    text = f"{key},{secret}\n"
    assert next(AwsKeyDetector().scan(text)).secret is None
    assert next(AwsKeyDetector(keep_secrets=True).scan(text)).secret == secret


def test_chunked_regions_find_keys_across_boundaries() -> None:
    # Given a long stream with keys at many offsets, some right at chunk edges
    keys = [make_key() for _ in range(40)]
    filler = "lorem ipsum dolor sit amet\n" * 60
    parts, expected_lines, line = [], [], 1
    for key in keys:
        parts.append(filler)
        line += filler.count("\n")
        parts.append(f"k={key}\n")
        expected_lines.append(line)
        line += 1
    data = "".join(parts).encode()

    # When it is read through iter_regions with small chunks
    stream = iter(data[i : i + 3000] for i in range(0, len(data), 3000))
    found: list[Finding] = []
    for region in iter_regions(lambda _n: next(stream, b""), chunk_size=2 * CONTEXT):
        hits = AwsKeyDetector().hits(region.buf, region.start, region.cut)
        found += hits_to_findings(
            region.buf, hits, path="x", first_line=region.first_line, base=region.start
        )

    # Then every key is found once, on its line
    assert [(f.key_id, f.line) for f in found] == list(zip(keys, expected_lines, strict=True))


def test_one_huge_line_is_cut_without_losing_keys() -> None:
    keys = [make_key() for _ in range(30)]
    data = ",".join(f'"{"x" * 997}":"{k}"' for k in keys).encode()  # minified, no newline
    chunks = iter(data[i : i + 4096] for i in range(0, len(data), 4096))
    found: list[str] = []
    for region in iter_regions(lambda _n: next(chunks, b""), chunk_size=2 * CONTEXT):
        found += [h.key_id for h in AwsKeyDetector().hits(region.buf, region.start, region.cut)]
    assert found == keys


@pytest.mark.parametrize(
    "pointer",
    [
        "/definitions/TrainedModelArtifactMaxSize",  # 12 case switches, found in a CFN schema
        "/properties/ProvisionedConcurrencyConfig",
    ],
)
def test_a_json_pointer_next_to_a_key_is_not_a_secret(pointer: str) -> None:
    key = make_key()
    text = f'"$ref": "#{pointer}",\nnext={key}\n'
    (finding,) = AwsKeyDetector().scan(text)
    assert finding.secret_present is False
