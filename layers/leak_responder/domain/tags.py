"""The tag vocabulary: what leak-responder writes on an IAM user about each of its keys.

IAM has no description on an access key, but the console shows a user tag whose key is the
access key ID as that key's description. Containment labels the leaked key and its replacement
that way; approval relabels a key it reactivates. A quarantine event names only the user, so
the replacement's label is also how containment tells our own new key from the leaked one.
"""

from __future__ import annotations

PREFIX = "leak-responder: "
REPLACEMENT_PREFIX = f"{PREFIX}replaces "

# IAM accepts tag values of at most 256 letters, numbers, spaces and these marks; anything else
# (a comma, a parenthesis) is a ValidationError that moto does not reproduce.
VALUE_MAX = 256
PUNCTUATION = frozenset("_.:/=+-@")


def iam_tag_value(text: str) -> str:
    """``text`` as IAM will take it for a tag value: other characters become "-", and it is cut
    to length."""
    kept = (ch if ch.isalnum() or ch == " " or ch in PUNCTUATION else "-" for ch in text)
    return "".join(kept)[:VALUE_MAX]


def leaked_tag(day: str, incident_id: str) -> str:
    return f"{PREFIX}leaked - deactivated {day} - incident {incident_id}"


def replacement_tag(leaked_key_id: str, incident_id: str) -> str:
    return f"{REPLACEMENT_PREFIX}{leaked_key_id} - incident {incident_id}"


def reactivated_tag(day: str, incident_id: str) -> str:
    return iam_tag_value(f"{PREFIX}reactivated {day} - false positive - incident {incident_id}")


def is_replacement_tag(value: str) -> bool:
    return value.startswith(REPLACEMENT_PREFIX)
