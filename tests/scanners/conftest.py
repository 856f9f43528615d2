"""Fake AWS keys made at test time, and real temporary git repositories."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from leak_scan.detector import is_plausible_secret

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def make_key(account_id: str = "123456789012", prefix: str = "AKIA") -> str:
    """A key ID that decodes to ``account_id``, built the way AWS lays it out."""
    head = (1 << 47) | (int(account_id) << 7) | secrets.randbelow(1 << 7)
    raw = head.to_bytes(6, "big") + secrets.token_bytes(4)
    return prefix + base64.b32encode(raw).decode()


def make_secret() -> str:
    while True:
        value = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))
        # Real secrets are random: skip the rare draw that looks like words (see detector).
        if is_plausible_secret(value.encode()) and any(c.isdigit() for c in value):
            return value


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def key() -> str:
    return make_key()


@pytest.fixture
def secret() -> str:
    return make_secret()


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[..., str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")

    def run(*args: str) -> str:
        return git(repo, *args)

    run.path = repo  # type: ignore[attr-defined]
    return run
