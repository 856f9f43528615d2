"""Scanning files, directory trees and stdin, skipping VCS folders, binaries and huge files."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO

from leak_scan.detector import CHUNK, AwsKeyDetector, hits_to_findings, iter_regions
from leak_scan.model import Finding, ScanStats

SKIP_DIRS = frozenset({".git", ".hg", ".svn"})
DEFAULT_MAX_FILE_SIZE = 50 << 20
# A NUL byte near the start marks a binary file, as git itself decides.
_BINARY_SNIFF = 8000


def looks_binary(head: bytes) -> bool:
    return head.find(b"\0", 0, _BINARY_SNIFF) != -1


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _is_excluded(rel: str, name: str, patterns: tuple[str, ...]) -> bool:
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
                if self.exclude and _is_excluded(display, entry.name, self.exclude):
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
                if not self.scan_binary and looks_binary(data):
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
                if not self.scan_binary and looks_binary(region.buf[region.start :]):
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
