"""Text, JSON and SARIF 2.1.0 renderings of findings. Key IDs are shown; secrets never are."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from leak_scan import __version__
from leak_scan.model import AWS_DETECTOR, Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"
AWS_RULE_ID = "aws-access-key-id"


def sort_key(finding: Finding) -> tuple[str, str, int, int, str]:
    return (finding.commit or "", finding.path, finding.line, finding.column, finding.key_id or "")


def render_text(findings: Sequence[Finding]) -> str:
    if not findings:
        return "leak-scan: no AWS access keys or other secrets found.\n"
    lines = []
    for f in findings:
        where = f"{f.path}:{f.line}:{f.column}"
        if f.commit:
            where = f"{f.commit[:12]} {where}"
        if f.key_id:
            account = f.account_id or "unknown account"
            secret = "secret present" if f.secret_present else "no secret nearby"
            extra = f", {f.encoding}" if f.encoding != "plain" else ""
            if f.verified is not None:
                extra += ", verified ACTIVE" if f.verified else ", verify: not active"
            lines.append(f"{where}: AWS access key {f.key_id} ({account}, {secret}{extra})")
        else:
            lines.append(f"{where}: {f.secret_type} [{f.detector}]")
    keys = {f.key_id for f in findings if f.key_id}
    others = sum(1 for f in findings if not f.key_id)
    lines.append(
        f"leak-scan: {len(findings)} finding(s): {len(keys)} distinct AWS key ID(s)"
        + (f", {others} other secret(s)" if others else "")
        + ". Rotate exposed keys; mark false positives with `pragma: allowlist secret`."
    )
    return "\n".join(lines) + "\n"


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2) + "\n"


def _rule_id(finding: Finding) -> str:
    if finding.detector == AWS_DETECTOR:
        return AWS_RULE_ID
    slug = re.sub(r"[^a-z0-9]+", "-", finding.secret_type.lower()).strip("-")
    return f"detect-secrets/{slug}"


def _rule(rule_id: str, finding: Finding) -> dict[str, Any]:
    if rule_id == AWS_RULE_ID:
        return {
            "id": AWS_RULE_ID,
            "name": "AwsAccessKeyId",
            "shortDescription": {"text": "AWS access key ID committed to the repository"},
            "fullDescription": {
                "text": "An AWS access key ID (AKIA/ASIA) appears in the source. If its "
                "secret access key was exposed too, the key must be deactivated and rotated."
            },
            "help": {
                "text": "Deactivate the key, rotate it, and remove it from history. "
                "Mark a false positive with `pragma: allowlist secret`.",
            },
            "helpUri": INFO_URI,
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["security", "secrets"], "security-severity": "9.0"},
        }
    return {
        "id": rule_id,
        "name": re.sub(r"[^A-Za-z0-9]", "", finding.secret_type.title()) or "Secret",
        "shortDescription": {"text": f"{finding.secret_type} committed to the repository"},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "secrets"], "security-severity": "8.0"},
    }


def _message(finding: Finding) -> str:
    if not finding.key_id:
        return f"Potential secret ({finding.secret_type}) found by {finding.detector}."
    account = f"account {finding.account_id}" if finding.account_id else "unknown account"
    secret = (
        "its secret access key is nearby"
        if finding.secret_present
        else "no secret access key nearby"
    )
    return f"AWS access key ID {finding.key_id} ({account}); {secret}."


def render_sarif(findings: Sequence[Finding]) -> str:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for f in findings:
        rule_id = _rule_id(f)
        if rule_id not in index:
            index[rule_id] = len(rules)
            rules.append(_rule(rule_id, f))
        fingerprint = hashlib.sha256(
            f"{rule_id}|{f.key_id or ''}|{f.path}|{f.line}".encode()
        ).hexdigest()
        properties: dict[str, Any] = {
            "secretPresent": f.secret_present,
            "encoding": f.encoding,
        }
        if f.key_id:
            properties["keyId"] = f.key_id
            properties["accountId"] = f.account_id
        if f.commit:
            properties["commit"] = f.commit
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": index[rule_id],
                "level": "error",
                "message": {"text": _message(f)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": max(1, f.line), "startColumn": f.column},
                        }
                    }
                ],
                "partialFingerprints": {"leakScanFinding/v1": fingerprint},
                "properties": properties,
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "leak-scan",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFO_URI,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "sarif": render_sarif}
