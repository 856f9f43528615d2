"""leak-scan's AWS key detector as a detect-secrets plugin.

    detect-secrets scan --plugin scanners/leak_scan/detect_secrets_plugin.py [--disable-plugin
    AWSKeyDetector] PATH

detect-secrets loads this file by path, so it must not rely on being imported as part of the
``leak_scan`` package; it falls back to putting its parent folder on ``sys.path``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Generator

from detect_secrets.constants import VerifiedResult
from detect_secrets.plugins.base import RegexBasedDetector

try:
    from leak_scan.detector import CANDIDATES, AwsKeyDetector
except ImportError:  # loaded by path from an environment where leak_scan is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from leak_scan.detector import CANDIDATES, AwsKeyDetector


class LeakScanAWSKeyDetector(RegexBasedDetector):
    """AWS access key IDs on token boundaries, also inside base64 and URL-encoding.

    Unlike detect-secrets' ``AWSKeyDetector`` it skips AWS's documented ``...EXAMPLE`` keys,
    DNA-like bodies, IAM resource IDs and IDs inside longer tokens, and it never verifies a key
    over the network.
    """

    secret_type = "AWS Access Key ID (leak-scan)"  # noqa: S105 (a label)

    # What RegexBasedDetector would search; analyze_string below adds the checks around it. Being
    # a RegexBasedDetector also exempts key IDs from detect-secrets' "likely an ID" filter, which
    # would otherwise drop every AWS_ACCESS_KEY_ID=... line.
    denylist = (re.compile(CANDIDATES.pattern.decode()),)

    def __init__(self) -> None:
        # detect-secrets applies its own allowlist filter, with the file's comment syntax.
        self._detector = AwsKeyDetector(honour_pragma=False)

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for finding in self._detector.scan(string):
            if finding.key_id:
                yield finding.key_id

    def verify(self, secret: str) -> VerifiedResult:
        return VerifiedResult.UNVERIFIED
