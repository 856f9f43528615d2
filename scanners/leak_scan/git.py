"""Git plumbing: run git, find the repository, list staged files and read their blobs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from leak_scan.errors import GitError


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
