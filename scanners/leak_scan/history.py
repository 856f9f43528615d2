"""Keys on the added lines of git history, read from one streamed ``git log -p``.

The log is read in large chunks; a hit is placed (commit, file, line) by looking back from it
for the nearest commit marker, "+++ " file header and "@@" hunk header, with the state carried
over from earlier chunks when those lie further back.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace

from leak_scan.detector import CHUNK, AwsKeyDetector, Region, hits_to_findings, iter_regions
from leak_scan.errors import GitError
from leak_scan.git import git
from leak_scan.model import Finding, ScanStats
from leak_scan.progress import Progress

_HUNK = re.compile(rb"@@ -\d+(?:,\d+)? \+(\d+)")


@dataclass
class _DiffState:
    """Where the diff stood at the end of the previous chunk."""

    commit: str | None = None
    path: str | None = None
    next_line: int = 1


def _commit_at(buf: bytes, pos: int, state: _DiffState) -> tuple[str | None, int]:
    i = buf.rfind(b"\0", 0, pos)
    if i < 0:
        return state.commit, -1
    return buf[i + 1 : i + 41].decode("ascii", "replace"), i


def _path_at(buf: bytes, pos: int, commit_pos: int, state: _DiffState) -> str | None:
    i = buf.rfind(b"\n+++ ", 0, pos)
    if i < 0 or i < commit_pos:
        return state.path if commit_pos < 0 else None
    end = buf.find(b"\n", i + 1)
    raw = buf[i + 5 : end].decode("utf-8", "replace").rstrip("\t")
    if raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1].encode("latin-1", "replace").decode("unicode_escape", "replace")
        raw = raw.encode("latin-1", "replace").decode("utf-8", "replace")
    return raw[2:] if raw.startswith("b/") else raw


def _new_line_at(buf: bytes, line_start: int, region_start: int, state: _DiffState) -> int:
    h = buf.rfind(b"\n@@ ", 0, line_start)
    if h >= 0:
        m = _HUNK.match(buf, h + 1)
        if m:
            eol = buf.find(b"\n", h + 1)
            return int(m.group(1)) + buf.count(b"\n+", eol, line_start)
    return state.next_line + buf.count(b"\n+", max(region_start - 1, 0), line_start)


def _revisions(rev_range: str | None) -> list[str]:
    return [rev_range] if rev_range else ["--all"]


def history_command(rev_range: str | None) -> list[str]:
    return [
        "git", "-c", "core.quotePath=false", "log", "-p", "-U0", "--no-color", "--no-ext-diff",
        "--no-textconv", "--format=%x00%H", *_revisions(rev_range), "--",
    ]  # fmt: skip


def count_commits(root: str, rev_range: str | None) -> int | None:
    try:
        return int(git("rev-list", "--count", *_revisions(rev_range), cwd=root))
    except (GitError, ValueError):
        return None


def scan_history(
    detector: AwsKeyDetector,
    root: str,
    rev_range: str | None = None,
    *,
    progress: Progress | None = None,
    stats: ScanStats | None = None,
    chunk_size: int = CHUNK,
) -> Iterator[Finding]:
    """Keys on added lines of every commit (``--all`` refs, or ``rev_range``), streamed."""
    stats = stats or ScanStats()
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                history_command(rev_range), cwd=root, stdout=subprocess.PIPE, stderr=errors
            )
        except FileNotFoundError as exc:
            raise GitError("git is not installed") from exc
        assert proc.stdout is not None
        state = _DiffState()
        seen: set[tuple[str | None, str | None, int, str]] = set()
        try:
            for region in iter_regions(proc.stdout.read, chunk_size):
                yield from _scan_region(detector, region, state, seen)
                stats.commits += region.buf.count(b"\0", region.start, region.cut)
                stats.bytes += region.cut - region.start
                if progress:
                    progress.update(stats.commits, stats.bytes)
        finally:
            proc.stdout.close()
            code = proc.wait()
        if progress:
            progress.update(stats.commits, stats.bytes, force=True)
            progress.close()
        if code != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()[:500]
            raise GitError(f"git log failed: {message}")


def _scan_region(
    detector: AwsKeyDetector,
    region: Region,
    state: _DiffState,
    seen: set[tuple[str | None, str | None, int, str]],
) -> Iterator[Finding]:
    """Findings on the added lines of one chunk of the log; then ``state`` moves to its end."""
    buf = region.buf
    for hit in detector.hits(buf, region.start, region.cut):
        line_start = buf.rfind(b"\n", 0, hit.pos) + 1
        # Only added lines: a removed line was added by an earlier commit, found there.
        if buf[line_start] != 0x2B or buf.startswith(b"+++ ", line_start):
            continue
        commit, commit_pos = _commit_at(buf, hit.pos, state)
        path = _path_at(buf, hit.pos, commit_pos, state)
        line = _new_line_at(buf, line_start, region.start, state)
        key = (commit, path, line, hit.key_id)
        if key in seen:
            continue
        seen.add(key)
        finding = next(
            hits_to_findings(buf, iter([hit]), path=path or "?", base=hit.pos, commit=commit)
        )
        # The diff's leading "+" is not in the file.
        yield replace(finding, line=line, column=max(1, finding.column - 1))
    cut = region.cut
    commit, commit_pos = _commit_at(buf, cut, state)
    next_line = _new_line_at(buf, cut, region.start, state)
    state.path = _path_at(buf, cut, commit_pos, state)
    state.commit = commit
    state.next_line = next_line
