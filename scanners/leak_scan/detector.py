"""The AWS access key detector: one compiled bytes regex, and per-line work only around its hits.

The hot path is ``CANDIDATES.finditer`` over a large buffer. Everything else (token boundaries,
line numbers, the allowlist pragma, the nearby secret, base64 and URL decoding) runs only for
the rare positions that regex reports, so a scan costs about as much as the regex itself.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from leak_scan.model import AWS_DETECTOR, Finding

KEY_ID_RE = re.compile(r"^(?:AKIA|ASIA)[A-Z0-9]{16}$")

# A plain key ID, or the three base64 encodings of "AKIA"/"ASIA" (one per alignment in a
# 3-byte group). Every alternative starts with a literal character, which keeps sre's scan loop
# fast; boundaries are checked in Python on the few hits, since a leading lookbehind would make
# the whole pattern ~20x slower.
CANDIDATES = re.compile(rb"(?:AKIA|ASIA)[A-Z0-9]{16}|Q(?:UtJ|VNJ)Q|F[LT]SU|B[SU]0lB")
_PLAIN = re.compile(rb"(?:AKIA|ASIA)[A-Z0-9]{16}")
_ENCODED = tuple(re.compile(p) for p in (rb"Q(?:UtJ|VNJ)Q", rb"F[LT]SU", rb"B[SU]0lB"))
# Where the encoded 4-character group starts, relative to the literal, for each literal's
# first byte: "QUtJQ" starts a group, "..FLSU" is one byte into a group, "...BS0lB" two.
_GROUP_OFFSET = {ord("Q"): 0, ord("F"): 2, ord("B"): 3}

_TOKEN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_URLSAFE = bytes.maketrans(b"-_", b"+/")

_SECRET_RE = re.compile(rb"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")
# A 40-byte secret, base64-encoded on its own (Kubernetes Secret data): 54 characters and "==".
_SECRET_B64_RE = re.compile(rb"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{54}==")
_PRAGMA = re.compile(rb"pragma: ?(?:allowlist|whitelist)[ -]secret")
_PRAGMA_NEXT = re.compile(rb"pragma: ?(?:allowlist|whitelist)[ -]nextline[ -]secret")

# Bytes either side of a key in which a secret counts as "nearby" (a few lines of a credentials
# file, a CSV row, a JSON object).
SECRET_WINDOW = 768
# Base64 characters decoded before and after an encoded "AKIA": the key itself, and room for
# the secret that usually follows it in an encoded credentials file.
_B64_BEFORE = 64
_B64_AFTER = 480
_MAX_DEPTH = 2

_ACCOUNT_MASK = 0x7FFFFFFFFF80


def account_id_from_key_id(key_id: str) -> str | None:
    """The 12-digit account that owns ``key_id``, decoded offline; None if it encodes none.

    Key IDs issued since about 2019 carry the account in characters 5..20, base32-encoded:
    the first 6 decoded bytes, big-endian, masked with 0x7fffffffff80 and shifted right by 7.
    Older IDs, whose fifth character is ``I`` or ``J``, do not encode it.
    """
    if not KEY_ID_RE.match(key_id) or key_id[4] in "IJ":
        return None
    try:
        raw = base64.b32decode(key_id[4:])
    except (binascii.Error, ValueError):
        return None  # digits 0, 1, 8, 9 are outside base32: not an ID AWS issued
    value = int.from_bytes(raw[:6], "big")
    return f"{(value & _ACCOUNT_MASK) >> 7:012d}"


def is_excluded_key_id(key_id: str) -> bool:
    """AWS's documented examples and low-entropy bodies (DNA, placeholders) are not keys."""
    if key_id.endswith("EXAMPLE"):
        return True
    # Real IDs are random base32; a body of four or fewer distinct characters is a DNA
    # sequence (ACGT) or a placeholder such as AKIAXXXXXXXXXXXXXXXX.
    return len(set(key_id[4:])) <= 4


_LOWER_RUN = re.compile(rb"[a-z]+")


def _char_class(c: int) -> int:
    if 65 <= c <= 90:
        return 0
    if 97 <= c <= 122:
        return 1
    return 2


def is_plausible_secret(candidate: bytes) -> bool:
    """A 40-character AWS secret access key: random mixed case, not a path or an identifier.

    Random base64 switches between upper case, lower case and digits/symbols about 25 times in
    40 characters (fewer than 12 in about 1 of 100,000 secrets); a JSON pointer such as
    "/properties/ProvisionedConcurrencyConfig" or a CamelCase name switches far less often.
    """
    if b"EXAMPLE" in candidate:
        return False
    classes = [_char_class(c) for c in candidate]
    if 0 not in classes or 1 not in classes:
        return False
    switches = sum(1 for a, b in itertools.pairwise(classes) if a != b)
    if switches < 12:
        return False
    # A long pointer can switch often enough ("/definitions/TrainedModelArtifactMaxSize": 12),
    # but its lower-case runs are words. In random base64 they average under 2 letters, and 5
    # or more in about 1 of 70,000 secrets.
    lower_runs = [len(run) for run in _LOWER_RUN.findall(candidate)]
    return sum(lower_runs) < 5 * len(lower_runs)


@dataclass(slots=True)
class Hit:
    """A key found at byte offset ``pos`` of the buffer that was scanned."""

    pos: int
    key_id: str
    secret_present: bool
    encoding: str
    secret: str | None = None


def _line_bounds(buf: bytes, pos: int) -> tuple[int, int]:
    start = buf.rfind(b"\n", 0, pos) + 1
    end = buf.find(b"\n", pos)
    return start, (len(buf) if end < 0 else end)


def _allowlisted(buf: bytes, line_start: int, line_end: int) -> bool:
    if _PRAGMA.search(buf, line_start, line_end):
        return True
    if line_start == 0:
        return False
    prev_start = buf.rfind(b"\n", 0, line_start - 1) + 1
    return _PRAGMA_NEXT.search(buf, prev_start, line_start) is not None


def _plain_encoding(buf: bytes, pos: int) -> str | None:
    """'plain' or 'url' if the ID at ``pos`` stands on token boundaries, else None."""
    end = pos + 20
    if end < len(buf) and buf[end] in _TOKEN:
        return None
    if pos == 0 or buf[pos - 1] not in _TOKEN:
        return "plain"
    # "%3DAKIA..." in a URL-encoded query string: the boundary is the escape, not the "D".
    if pos >= 3 and buf[pos - 3] == 0x25 and buf[pos - 2] in _HEX and buf[pos - 1] in _HEX:
        return "url"
    return None


def find_secret(window: bytes) -> str | None:
    """The first plausible secret access key in ``window``: plain, URL-encoded or base64."""
    for m in _SECRET_RE.finditer(window):
        if is_plausible_secret(m.group()):
            return m.group().decode("ascii")
    if b"%" in window:
        decoded = unquote_to_bytes(window)
        for m in _SECRET_RE.finditer(decoded):
            if is_plausible_secret(m.group()):
                return m.group().decode("ascii")
    for m in _SECRET_B64_RE.finditer(window):
        try:
            raw = base64.b64decode(m.group(), validate=True)
        except (binascii.Error, ValueError):
            continue
        if _SECRET_RE.fullmatch(raw) and is_plausible_secret(raw):
            return raw.decode("ascii")
    return None


def _nearby_secret(buf: bytes, pos: int) -> str | None:
    lo = max(0, pos - SECRET_WINDOW)
    hi = min(len(buf), pos + 20 + SECRET_WINDOW)
    return find_secret(buf[lo:hi])


def _decode_b64_window(buf: bytes, pos: int, first: int) -> bytes | None:
    group = pos - _GROUP_OFFSET[first]
    if group < 0:
        return None
    lo = group
    floor = max(0, group - _B64_BEFORE)
    while lo > floor and buf[lo - 1] in _B64:
        lo -= 1
    lo += (group - lo) % 4  # stay on the 4-character grid of the group holding "AKIA"
    hi = group
    ceiling = min(len(buf), group + _B64_AFTER)
    while hi < ceiling and buf[hi] in _B64:
        hi += 1
    if (hi - lo) % 4 == 1:
        hi -= 1  # a lone trailing character encodes no whole byte
    if hi - lo < 27:  # 20 bytes of key ID need at least 27 characters
        return None
    chunk = buf[lo:hi].translate(_URLSAFE)
    try:
        return binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4))
    except binascii.Error:
        return None


def _candidate_positions(buf: bytes, start: int, stop: int) -> Iterator[int]:
    """Start offsets in ``[start, stop)`` of plain key IDs and encoded "AKIA"/"ASIA", in order.

    Four literal-prefixed passes beat the one alternation: an alternation makes sre drop its
    fast literal-prefix loop for a per-byte charset test, about 20% slower in all. Encoded
    hits are rare, so the plain pass usually runs alone.
    """
    limit = min(len(buf), stop + 8)  # let a match that starts before ``stop`` finish
    encoded = sorted(m.start() for pattern in _ENCODED for m in pattern.finditer(buf, start, limit))
    plain = (m.start() for m in _PLAIN.finditer(buf, start, min(len(buf), stop + 40)))
    if not encoded:
        for pos in plain:
            if pos >= stop:
                return
            yield pos
        return
    for pos in heapq.merge(plain, (p for p in encoded if p < stop)):
        if pos >= stop:
            return
        yield pos


def find_hits(
    buf: bytes,
    start: int = 0,
    end: int | None = None,
    *,
    keep_secret: bool = False,
    honour_pragma: bool = True,
    depth: int = 0,
) -> Iterator[Hit]:
    """Keys whose first byte lies in ``buf[start:end]``; the rest of ``buf`` is context only."""
    stop = len(buf) if end is None else end
    for pos in _candidate_positions(buf, start, stop):
        first = buf[pos]
        if first == 0x41:  # "A": a plain key ID
            encoding = _plain_encoding(buf, pos)
            if encoding is None:
                continue
            key_id = buf[pos : pos + 20].decode("ascii")
            if is_excluded_key_id(key_id):
                continue
            if honour_pragma and _allowlisted(buf, *_line_bounds(buf, pos)):
                continue
            secret = _nearby_secret(buf, pos)
            yield Hit(pos, key_id, secret is not None, encoding, secret if keep_secret else None)
            continue
        if depth >= _MAX_DEPTH:
            continue
        decoded = _decode_b64_window(buf, pos, first)
        if decoded is None:
            continue
        inner = list(find_hits(decoded, keep_secret=True, honour_pragma=False, depth=depth + 1))
        if not inner or (honour_pragma and _allowlisted(buf, *_line_bounds(buf, pos))):
            continue
        outer_secret: str | None = None
        for hit in inner:
            secret = hit.secret
            if secret is None:
                # A Kubernetes Secret encodes the key ID and the secret as separate values.
                outer_secret = outer_secret or _nearby_secret(buf, pos)
                secret = outer_secret
            yield Hit(
                pos,
                hit.key_id,
                secret is not None,
                "base64",
                secret if keep_secret else None,
            )


def hits_to_findings(
    buf: bytes,
    hits: Iterator[Hit],
    *,
    path: str,
    first_line: int = 1,
    base: int = 0,
    commit: str | None = None,
    seen: set[tuple[int, str]] | None = None,
) -> Iterator[Finding]:
    """Number the lines of ``hits`` (in order) incrementally; one finding per key and line."""
    seen = set() if seen is None else seen
    line, counted = first_line, base
    for hit in hits:
        line += buf.count(b"\n", counted, hit.pos)
        counted = hit.pos
        if (line, hit.key_id) in seen:
            continue
        seen.add((line, hit.key_id))
        column = hit.pos - buf.rfind(b"\n", 0, hit.pos)
        yield Finding(
            path=path,
            line=line,
            column=column,
            key_id=hit.key_id,
            account_id=account_id_from_key_id(hit.key_id),
            secret_present=hit.secret_present,
            commit=commit,
            encoding=hit.encoding,
            secret=hit.secret,
        )


class AwsKeyDetector:
    """AWS access key IDs (AKIA/ASIA), plain, URL-encoded or inside base64 blobs.

    A detector in the style of detect-secrets' ``RegexBasedDetector``: a name and a pure
    ``scan(text)``. Secrets found next to a key set ``secret_present`` and are dropped, unless
    ``keep_secrets`` is asked for (``--verify`` needs the pair).
    """

    name = AWS_DETECTOR

    def __init__(self, *, keep_secrets: bool = False, honour_pragma: bool = True) -> None:
        self.keep_secrets = keep_secrets
        self.honour_pragma = honour_pragma

    def hits(self, buf: bytes, start: int = 0, end: int | None = None) -> Iterator[Hit]:
        return find_hits(
            buf, start, end, keep_secret=self.keep_secrets, honour_pragma=self.honour_pragma
        )

    def scan_bytes(self, data: bytes, *, path: str = "<bytes>") -> Iterator[Finding]:
        return hits_to_findings(data, self.hits(data), path=path)

    def scan(self, text: str, *, path: str = "<text>") -> Iterator[Finding]:
        return self.scan_bytes(text.encode("utf-8", "surrogateescape"), path=path)


# The chunked reader below keeps this much of the previous chunk as context, and never cuts a
# chunk closer than this to its end, so the secret window and base64 decoding see whole lines.
CONTEXT = 4096
CHUNK = 8 << 20


@dataclass(slots=True)
class Region:
    """``buf[start:cut]`` is new text to scan, starting at line ``first_line``."""

    buf: bytes
    start: int
    cut: int
    first_line: int


def iter_regions(read: Callable[[int], bytes], chunk_size: int = CHUNK) -> Iterator[Region]:
    """Split a stream into large regions cut at line ends, each with context on both sides.

    Memory stays at about two chunks however long the stream is.
    """
    chunk_size = max(chunk_size, 2 * CONTEXT)
    tail = b""
    pending = b""
    line = 1
    while True:
        data = read(chunk_size)
        buf = tail + pending + data if (tail or pending) else data
        start = len(tail)
        if not data:
            if len(buf) > start:
                yield Region(buf, start, len(buf), line)
            return
        cut = buf.rfind(b"\n", start, len(buf) - CONTEXT) + 1
        if cut <= start:
            if len(buf) - start <= chunk_size:
                pending = buf[start:]  # a short tail of a line: wait for more
                continue
            cut = len(buf) - CONTEXT  # one huge line (minified JS): cut inside it
        yield Region(buf, start, cut, line)
        line += buf.count(b"\n", start, cut)
        tail = buf[max(0, cut - CONTEXT) : cut]
        pending = buf[cut:]
