"""EventBridge envelopes the responder consumes, and the repository's sample events.

``health_event`` and ``trusted_advisor_event`` build their source's credentials-exposed event
for any key, shaped like the samples in ``tests/events/`` (so the demo, which may run outside
the repository, needs no file). ``SampleEvents`` reads those samples from a folder that is
passed in, or found from the working directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MOTO_ACCOUNT = "123456789012"  # moto's default account
SAMPLES_FOLDER = Path("tests", "events")
EXPOSED_URL = "https://github.com/example-org/payments/blob/4be1f0c9/deploy/.env"


def health_event(
    key_id: str,
    user: str | None,
    account: str = MOTO_ACCOUNT,
    *,
    exposed_url: str = EXPOSED_URL,
) -> dict[str, Any]:
    """AWS Health's AWS_RISK_CREDENTIALS_EXPOSED for ``key_id`` in ``account``, its
    ``eventMetadata`` naming ``user`` (no user when None, as events without one do)."""
    metadata = {"publicKey": key_id, "exposedUrl": exposed_url}
    if user:
        metadata["userName"] = user
    return {
        "version": "0",
        "id": "3c1f2e6a-8d41-4b7e-9a51-0f6c2d7e91a4",
        "detail-type": "AWS Health Event",
        "source": "aws.health",
        "account": account,
        "time": "2026-11-28T09:14:02Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventArn": "arn:aws:health:us-east-1::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/"
            "AWS_RISK_CREDENTIALS_EXPOSED_6F1C0A2B9E",
            "service": "RISK",
            "eventTypeCode": "AWS_RISK_CREDENTIALS_EXPOSED",
            "eventTypeCategory": "issue",
            "eventScopeCode": "ACCOUNT_SPECIFIC",
            "communicationId": "6f1c0a2b9e-1",
            "startTime": "Sat, 28 Nov 2026 09:12:44 GMT",
            "lastUpdatedTime": "Sat, 28 Nov 2026 09:12:44 GMT",
            "statusCode": "open",
            "eventRegion": "us-east-1",
            "eventDescription": [
                {
                    "language": "en_US",
                    "latestDescription": (
                        "AWS has detected that an access key of your account was exposed."
                    ),
                }
            ],
            "eventMetadata": metadata,
            "affectedEntities": [
                {
                    "entityValue": key_id,
                    "lastUpdatedTime": "Sat, 28 Nov 2026 09:14:02 GMT",
                    "status": "IMPAIRED",
                }
            ],
            "affectedAccount": account,
            "page": "1",
            "totalPages": "1",
        },
    }


def trusted_advisor_event(
    key_id: str, user: str, account: str = MOTO_ACCOUNT, *, location: str = EXPOSED_URL
) -> dict[str, Any]:
    """Trusted Advisor's Exposed Access Keys check item for ``key_id`` of ``user``."""
    return {
        "version": "0",
        "id": "c4d5e6f7-0819-4a2b-b3c4-d5e6f708192a",
        "detail-type": "Trusted Advisor Check Item Refresh Notification",
        "source": "aws.trustedadvisor",
        "account": account,
        "time": "2026-11-28T19:00:42Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "check-name": "Exposed Access Keys",
            "check-item-detail": {
                "Case ID": "02648f3b-e18f-4b3d-9b8a-3f2c1d0e9a8b",
                "Usage (USD per Day)": "0",
                "User Name (IAM or Root)": user,
                "Deadline": "1795978800000",
                "Access Key ID": key_id,
                "Time Updated": "1795892400000",
                "Fraud Type": "Exposed",
                "Location": location,
            },
            "status": "ERROR",
            "resource_id": "",
            "uuid": "aa12345f-55c7-498e-b7ac-1c2d3e4f5a6b",
        },
    }


def put_events_entry(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as an entry of EventBridge's PutEvents, for the default bus to route."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
    }


@dataclass(frozen=True)
class SampleEvents:
    """The sample events of one folder (``tests/events``): EventBridge events and scanner
    messages, by name without ``.json``."""

    folder: Path

    @classmethod
    def find(cls, start: Path | None = None) -> SampleEvents:
        """``tests/events`` under ``start`` (the working directory) or the nearest parent."""
        here = (start or Path.cwd()).resolve()
        for base in (here, *here.parents):
            if (base / SAMPLES_FOLDER).is_dir():
                return cls(base / SAMPLES_FOLDER)
        raise FileNotFoundError(f"no {SAMPLES_FOLDER} in {here} or above: run from the repository")

    def path(self, name: str) -> Path:
        """The sample's file; the ``.json`` suffix is optional."""
        path = self.folder / (name if name.endswith(".json") else f"{name}.json")
        if not path.is_file():
            raise FileNotFoundError(f"no sample event {name!r} in {self.folder}")
        return path

    def load(self, name: str) -> dict[str, Any]:
        """A sample as a dict, fresh on every call (callers change it)."""
        event: dict[str, Any] = json.loads(self.path(name).read_text(encoding="utf-8"))
        return event

    def names(self) -> list[str]:
        """Every sample, by name without ``.json``."""
        return sorted(path.stem for path in self.folder.glob("*.json"))
