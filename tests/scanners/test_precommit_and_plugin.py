"""The pre-commit framework runs the hook; detect-secrets loads the plugin by path.

The hook repository is a temporary git repository holding a committed copy of this tree's
hook files, so uncommitted state elsewhere does not matter. The test uses the
``leak-scan-system`` hook (``language: system``), which runs the leak-scan of this virtualenv:
the ``leak-scan`` hook (``language: python``) would make pre-commit install the project and its
dependencies from PyPI, and tests use no network. Both hooks share the same entry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.scanners.conftest import git, make_key

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLUGIN = ROOT / "scanners" / "leak_scan" / "detect_secrets_plugin.py"


@pytest.fixture
def hook_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "hooks"
    repo.mkdir()
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", repo)
    shutil.copy(ROOT / "pyproject.toml", repo)
    shutil.copytree(
        ROOT / "scanners", repo / "scanners", ignore=shutil.ignore_patterns("__pycache__")
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "hooks")
    return repo


def _try_repo(hook_repo: Path, target: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(home),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        [str(BIN / "pre-commit"), "try-repo", str(hook_repo), "leak-scan-system"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_hooks_file_declares_leak_scan() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["leak-scan"]["entry"] == "leak-scan --staged"
    assert hooks["leak-scan"]["language"] == "python"
    assert hooks["leak-scan-system"]["entry"] == hooks["leak-scan"]["entry"]
    assert "--verify" not in hooks["leak-scan"]["entry"]


def test_pre_commit_blocks_a_staged_key_and_passes_a_clean_commit(
    hook_repo: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    git(target, "init", "-q", "-b", "main")
    key = make_key()
    (target / "settings.py").write_text(f"AWS_ACCESS_KEY_ID = '{key}'\n")
    git(target, "add", "settings.py")

    blocked = _try_repo(hook_repo, target, tmp_path / "pc-home")
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert key in blocked.stdout
    assert "Failed" in blocked.stdout

    (target / "settings.py").write_text("AWS_ACCESS_KEY_ID = os.environ['AWS_ACCESS_KEY_ID']\n")
    git(target, "add", "settings.py")
    passed = _try_repo(hook_repo, target, tmp_path / "pc-home")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout


def test_detect_secrets_scan_uses_the_plugin(tmp_path: Path) -> None:
    key = make_key()
    (tmp_path / "a.env").write_text(
        f"AWS_ACCESS_KEY_ID={key}\nEXAMPLE=AKIAIOSFODNN7EXAMPLE\nROLE=AROA{key[4:]}\n"
    )
    proc = subprocess.run(
        [
            str(BIN / "detect-secrets"),
            "scan",
            "--all-files",
            "--no-verify",
            "--plugin",
            str(PLUGIN),
            "--disable-plugin",
            "AWSKeyDetector",
            "a.env",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(proc.stdout)["results"]["a.env"]
    ours = [r for r in results if r["type"] == "AWS Access Key ID (leak-scan)"]
    assert [r["line_number"] for r in ours] == [1]


def test_plugin_class_in_process() -> None:
    from leak_scan.detect_secrets_plugin import LeakScanAWSKeyDetector

    key = make_key()
    plugin = LeakScanAWSKeyDetector()
    assert list(plugin.analyze_string(f"k={key}; x=AKIAIOSFODNN7EXAMPLE; y=x{key}")) == [key]
    assert plugin.verify(key).name == "UNVERIFIED"
