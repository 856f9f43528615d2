"""detect-secrets in pre-commit mode: its default plugins and filters, its baseline, no network.

detect-secrets' AWS plugin would send a found key pair to STS to "verify" it. That filter
(``is_ignored_due_to_verification_policies``) is removed from whatever configuration is in
force, so nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from typing import Any

from leak_scan.detector import KEY_ID_RE
from leak_scan.errors import BaselineError, MissingExtraError
from leak_scan.model import Finding

BASELINE_NAME = ".secrets.baseline"
VERIFY_FILTER = "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
# detect-secrets' own AWS plugin also reports key IDs; leak-scan's detector owns those.
DS_AWS_TYPE = "AWS Access Key"


class Baseline:
    """The secrets a repository has accepted: per file, the SHA-1 of each secret value."""

    def __init__(self, data: dict[str, Any] | None = None, path: str | None = None) -> None:
        self.data = data
        self.path = path
        self._hashes: dict[str, set[str]] = {}
        for filename, items in ((data or {}).get("results") or {}).items():
            self._hashes[os.path.normpath(filename)] = {
                str(item.get("hashed_secret")) for item in items if isinstance(item, dict)
            }

    @classmethod
    def load(cls, path: str | None) -> Baseline:
        if not path or not os.path.exists(path):
            return cls()
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise BaselineError(f"cannot read baseline {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise BaselineError(f"baseline {path} is not a JSON object")
        return cls(data, path)

    def __bool__(self) -> bool:
        return self.data is not None

    def accepts(self, finding: Finding) -> bool:
        """True if the baseline already lists this key ID in this file (any plugin's type)."""
        if finding.key_id is None:
            return False
        digest = hashlib.sha1(finding.key_id.encode(), usedforsecurity=False).hexdigest()
        return digest in self._hashes.get(os.path.normpath(finding.path), ())


def _settings_config(baseline: Baseline) -> dict[str, Any]:
    config: dict[str, Any]
    if baseline.data and baseline.data.get("plugins_used"):
        config = {k: v for k, v in baseline.data.items() if k in ("plugins_used", "filters_used")}
    else:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        # Annotated: mypy infers nothing from detect-secrets' untyped mapping.
        plugins: list[type] = list(get_mapping_from_secret_type_to_class().values())
        config = {"plugins_used": [{"name": plugin.__name__} for plugin in plugins]}
    if "filters_used" in config:
        config["filters_used"] = [
            f for f in config["filters_used"] if f.get("path") != VERIFY_FILTER
        ]
    return config


def scan_with_detect_secrets(
    files: Iterable[tuple[str, bytes]], baseline: Baseline
) -> list[Finding]:
    """Run detect-secrets' plugins and filters over in-memory files (e.g. staged blobs).

    The files are written under a private temporary root so that detect-secrets' file-based
    filters and transformers see their real relative names.
    """
    try:
        from detect_secrets.core.secrets_collection import SecretsCollection
        from detect_secrets.settings import get_settings, transient_settings
    except ModuleNotFoundError as exc:
        # Path and history scans need nothing but leak-scan; the pre-commit mode runs
        # detect-secrets' own plugins as well.
        raise MissingExtraError(
            "--staged runs detect-secrets, which is not installed: "
            "pip install 'leak-responder[scanner]'"
        ) from exc

    files = list(files)
    if not files:
        return []
    with transient_settings(_settings_config(baseline)), tempfile.TemporaryDirectory() as tmp:
        get_settings().disable_filters(VERIFY_FILTER)
        collection = SecretsCollection(root=tmp)
        for rel, data in files:
            target = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
            collection.scan_file(rel)
        if baseline.data is not None:
            collection = collection - SecretsCollection.load_from_baseline(
                {"results": baseline.data.get("results") or {}}
            )
        findings = []
        for filename, secret in collection:
            value = secret.secret_value or ""
            if secret.type == DS_AWS_TYPE and (KEY_ID_RE.match(value) or "EXAMPLE" in value):
                continue
            if os.path.basename(filename) == BASELINE_NAME:
                continue
            findings.append(
                Finding(
                    path=filename,
                    line=int(secret.line_number or 0),
                    detector=f"detect-secrets:{secret.type}",
                    secret_present=True,
                    secret_type=str(secret.type),
                )
            )
    return findings
