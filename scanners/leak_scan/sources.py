"""Where text comes from: a tree of files, stdin, the staged index, or the streamed git history."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from leak_scan.detector import CHUNK, AwsKeyDetector, Region, hits_to_findings, iter_regions
from leak_scan.errors import GitError
from leak_scan.model import Finding

SKIP_DIRS = frozenset({".git", ".hg", ".svn"})
DEFAULT_MAX_FILE_SIZE = 50 << 20
_BINARY_SNIFF = 8000


@dataclass
class ScanStats:
    files: int = 0
    bytes: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    skipped_unreadable: int = 0
    commits: int = 0
    skipped_paths: list[str] = field(default_factory=list)


def _is_binary(head: bytes) -> bool:
    return head.find(b"\0", 0, _BINARY_SNIFF) != -1


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _excluded(rel: str, name: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        stem = pattern.rstrip("/")
        if rel == stem or rel.startswith(stem + "/"):
            return True
        if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern):
            return True
    return False


class PathScanner:
    """Scans files and directories (recursively), skipping VCS folders, binaries, huge files."""

    def __init__(
        self,
        detector: AwsKeyDetector,
        *,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        scan_binary: bool = False,
        exclude: Iterable[str] = (),
        stats: ScanStats | None = None,
    ) -> None:
        self.detector = detector
        self.max_file_size = max_file_size
        self.scan_binary = scan_binary
        self.exclude = tuple(os.path.normpath(p) if "/" in p else p for p in exclude)
        self.stats = stats or ScanStats()

    def scan_paths(self, paths: Iterable[str]) -> Iterator[Finding]:
        for path in paths:
            if path == "-":
                stdin = os.fdopen(os.dup(0), "rb")
                with stdin:
                    yield from self.scan_stream(stdin, "<stdin>")
            elif os.path.isdir(path):
                yield from self._walk(path)
            else:
                yield from self.scan_file(path, os.path.normpath(path))

    def _walk(self, root: str) -> Iterator[Finding]:
        # Paths are built by hand from a normalised root ("." gives "a/b", not "./a/b"): this
        # loop runs once per file, so it avoids normpath and a stat() per entry.
        base = os.path.normpath(root)
        stack = [""]
        while stack:
            current = stack.pop()
            folder = os.path.join(base, current) if current else base
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=_entry_name)
            except OSError:
                self.stats.skipped_unreadable += 1
                continue
            subdirs = []
            for entry in entries:
                rel = f"{current}/{entry.name}" if current else entry.name
                display = rel if base == "." else f"{base}/{rel}"
                if self.exclude and _excluded(display, entry.name, self.exclude):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        subdirs.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    yield from self.scan_file(entry.path, display)
            stack.extend(reversed(subdirs))

    def scan_file(self, fs_path: str, display: str) -> Iterator[Finding]:
        try:
            fd = os.open(fs_path, os.O_RDONLY)
        except OSError:
            self.stats.skipped_unreadable += 1
            self.stats.skipped_paths.append(display)
            return
        try:
            size = os.fstat(fd).st_size
            if self.max_file_size and size > self.max_file_size:
                self.stats.skipped_large += 1
                self.stats.skipped_paths.append(display)
                return
            if 0 < size <= CHUNK:
                # One read of the whole file: the common case, kept to four system calls.
                data = os.read(fd, size + 1)
                if not self.scan_binary and _is_binary(data):
                    self.stats.skipped_binary += 1
                    return
                self.stats.files += 1
                self.stats.bytes += len(data)
                yield from hits_to_findings(data, self.detector.hits(data), path=display)
                return
            with open(fd, "rb", buffering=0, closefd=False) as handle:
                yield from self.scan_stream(handle, display)
        except OSError:
            self.stats.skipped_unreadable += 1
            self.stats.skipped_paths.append(display)
        finally:
            os.close(fd)

    def scan_stream(self, stream: BinaryIO | IO[bytes], display: str) -> Iterator[Finding]:
        """Large files and stdin: bounded memory, whatever the size."""
        seen: set[tuple[int, str]] = set()
        first = True
        for region in iter_regions(stream.read):
            if first:
                first = False
                if not self.scan_binary and _is_binary(region.buf[region.start :]):
                    self.stats.skipped_binary += 1
                    return
                self.stats.files += 1
            self.stats.bytes += region.cut - region.start
            hits = self.detector.hits(region.buf, region.start, region.cut)
            yield from hits_to_findings(
                region.buf,
                hits,
                path=display,
                first_line=region.first_line,
                base=region.start,
                seen=seen,
            )


# --- git ---------------------------------------------------------------------------------------


def git(*args: str, cwd: str | None = None) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, text=True)
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {proc.stderr.strip()[:500]}")
    return proc.stdout


def repo_root(cwd: str | None = None) -> str:
    return git("rev-parse", "--show-toplevel", cwd=cwd).strip()


def origin_url(cwd: str | None = None) -> str | None:
    try:
        return git("config", "--get", "remote.origin.url", cwd=cwd).strip() or None
    except GitError:
        return None


@dataclass(frozen=True)
class StagedFile:
    path: str
    blob: str
    mode: str


def staged_files(root: str, only: Iterable[str] = ()) -> list[StagedFile]:
    """Files added, copied, modified or retyped in the index, with their staged blob IDs."""
    raw = git(
        "diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames",
        "--diff-filter=ACMT", cwd=root,
    )  # fmt: skip
    fields = raw.split("\0")
    wanted = {os.path.normpath(p) for p in only}
    out = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.lstrip(":").split()
        if len(parts) < 5 or parts[1] == "160000":  # submodules have no blob
            continue
        if wanted and os.path.normpath(path) not in wanted:
            continue
        out.append(StagedFile(path=path, blob=parts[3], mode=parts[1]))
    return out


def read_blobs(root: str, blobs: list[str]) -> Iterator[tuple[str, bytes]]:
    """Blob contents via one ``git cat-file --batch`` process."""
    if not blobs:
        return
    proc = subprocess.Popen(
        ["git", "cat-file", "--batch"],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for blob in blobs:
            proc.stdin.write(blob.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3:
                raise GitError(f"cannot read staged blob {blob}")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            yield blob, data
    finally:
        proc.stdin.close()
        proc.wait()


# History: `git log -p` is read in large chunks; a hit is placed (commit, file, line) by looking
# back from it for the nearest commit marker, "+++ " file header and "@@" hunk header, with the
# state carried over from earlier chunks when those lie further back.
_HUNK = re.compile(rb"@@ -\d+(?:,\d+)? \+(\d+)")


@dataclass
class _DiffState:
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


class Progress:
    """A one-line progress bar on stderr; silent unless stderr is a terminal."""

    def __init__(self, stream: IO[str], total: int | None, enabled: bool) -> None:
        self.stream = stream
        self.total = total
        self.enabled = enabled
        self._last = 0.0

    def update(self, done: int, nbytes: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        mb = nbytes / 1e6
        if self.total:
            width = 30
            filled = min(width, width * done // max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total} commits, {mb:.1f} MB")
        else:
            self.stream.write(f"\r{done} commits, {mb:.1f} MB")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def history_command(rev_range: str | None) -> list[str]:
    return [
        "git", "-c", "core.quotePath=false", "log", "-p", "-U0", "--no-color", "--no-ext-diff",
        "--no-textconv", "--format=%x00%H", *( [rev_range] if rev_range else ["--all"] ), "--",
    ]  # fmt: skip


def count_commits(root: str, rev_range: str | None) -> int | None:
    try:
        return int(git("rev-list", "--count", *([rev_range] if rev_range else ["--all"]), cwd=root))
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
                yield from _history_region(detector, region, state, seen)
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


def _history_region(
    detector: AwsKeyDetector,
    region: Region,
    state: _DiffState,
    seen: set[tuple[str | None, str | None, int, str]],
) -> Iterator[Finding]:
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
        yield Finding(
            path=finding.path,
            line=line,
            column=max(1, finding.column - 1),  # the diff's leading "+" is not in the file
            key_id=finding.key_id,
            account_id=finding.account_id,
            secret_present=finding.secret_present,
            commit=commit,
            encoding=finding.encoding,
            secret=finding.secret,
        )
    cut = region.cut
    commit, commit_pos = _commit_at(buf, cut, state)
    next_line = _new_line_at(buf, cut, region.start, state)
    state.path = _path_at(buf, cut, commit_pos, state)
    state.commit = commit
    state.next_line = next_line
