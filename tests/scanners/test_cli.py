"""leak-scan end to end through main(): paths, stdin, history, staged, formats, exit codes."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from leak_scan.cli import main
from tests.scanners.conftest import make_key, make_secret

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
CONTRACT_FIELDS = {"key_id", "path", "line", "commit", "secret_present", "detector"}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, str, str]:
    key, secret = make_key("210987654321"), make_secret()
    root = tmp_path / "tree"
    (root / "config").mkdir(parents=True)
    (root / "config" / "app.env").write_text(f"A=1\nAWS_ACCESS_KEY_ID={key}\nAWS_SECRET={secret}\n")
    (root / "README.md").write_text("nothing to see\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f"url={make_key()}\n")  # never scanned
    (root / "image.bin").write_bytes(b"\x89PNG\0\0" + make_key().encode())
    (root / "vendor").mkdir()
    (root / "vendor" / "lib.js").write_text(f"k='{make_key()}'\n")
    return root, key, secret


def test_paths_json_follows_the_contract(
    tree: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, key, secret = tree
    code, out, _ = run([str(root), "--exclude", str(root / "vendor"), "--format", "json"], capsys)
    assert code == 1
    (item,) = json.loads(out)
    assert item.keys() >= CONTRACT_FIELDS
    assert item["key_id"] == key
    assert item["account_id"] == "210987654321"
    assert item["path"].endswith("config/app.env")
    assert item["line"] == 2
    assert item["commit"] is None
    assert item["secret_present"] is True
    assert secret not in out


def test_binary_and_huge_files_are_skipped_unless_asked(
    tree: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, _ = tree
    _, out, _ = run([str(root), "--format", "json"], capsys)
    assert not any(i["path"].endswith("image.bin") for i in json.loads(out))
    _, out, _ = run([str(root), "--format", "json", "--scan-binary"], capsys)
    assert any(i["path"].endswith("image.bin") for i in json.loads(out))
    _, out, err = run([str(root), "--format", "json", "--max-file-size", "10"], capsys)
    assert json.loads(out) == []
    assert "max-file-size" in err


def test_clean_tree_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.txt").write_text("AKIAIOSFODNN7EXAMPLE is AWS's documented example\n")
    code, out, _ = run([str(tmp_path)], capsys)
    assert code == 0
    assert "no AWS access keys" in out


def test_usage_error_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--staged", "--history"])
    assert exc.value.code == 2


def test_history_outside_a_repository_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, _, err = run(["--history"], capsys)
    assert code == 2
    assert "error" in err


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key = make_key()
    proc = subprocess.run(
        [sys.executable, "-m", "leak_scan", "-", "--format", "json"],
        input=f"x\nkey: {key}\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    (item,) = json.loads(proc.stdout)
    assert (item["path"], item["line"], item["key_id"]) == ("<stdin>", 2, key)


def test_text_output_shows_key_ids_never_secrets(
    tree: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, key, secret = tree
    _, out, err = run([str(root / "config")], capsys)
    assert key in out
    assert "secret present" in out
    assert secret not in out + err


def test_sarif_is_valid_against_the_2_1_0_schema(
    tree: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, key, secret = tree
    code, out, _ = run([str(root), "--format", "sarif"], capsys)
    assert code == 1
    doc = json.loads(out)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    results = doc["runs"][0]["results"]
    assert {r["properties"]["keyId"] for r in results} >= {key}
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in results)
    assert secret not in out


def test_sarif_schema_rejects_a_broken_document() -> None:
    # The shipped schema is the real one: it must catch what GitHub would refuse.
    schema = json.loads(SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"version": "2.1.0", "runs": [{"tool": {}}]})


def test_baseline_accepts_known_keys(
    tree: tuple[Path, str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    root, key, _ = tree
    monkeypatch.chdir(root)
    baseline = {
        "version": "1.5.0",
        "results": {
            "config/app.env": [
                {
                    "type": "AWS Access Key",
                    "hashed_secret": hashlib.sha1(key.encode()).hexdigest(),  # noqa: S324
                    "line_number": 2,
                }
            ]
        },
    }
    (root / ".secrets.baseline").write_text(json.dumps(baseline))
    code, out, _ = run(["config", "--format", "json"], capsys)
    assert (code, json.loads(out)) == (0, [])
    code, _, _ = run(["config", "--no-baseline"], capsys)
    assert code == 1


def test_history_finds_a_key_that_was_later_removed(
    git_repo: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a repository where a key was committed, then deleted, on a side branch too
    repo: Path = git_repo.path  # type: ignore[attr-defined]
    key, secret, other = make_key("555566667777"), make_secret(), make_key()
    (repo / "README.md").write_text("hello\n")
    git_repo("add", "README.md")
    git_repo("commit", "-qm", "init")
    (repo / "app.py").write_text(f"# config\nA = 1\nKEY = '{key}'\nSECRET = '{secret}'\n")
    git_repo("add", "app.py")
    git_repo("commit", "-qm", "add key")
    added = git_repo("rev-parse", "HEAD").strip()
    (repo / "app.py").write_text("# config\nA = 1\n")
    git_repo("commit", "-qam", "remove key")
    git_repo("checkout", "-qb", "side")
    (repo / "side.txt").write_text(f"line\n{other}\n")
    git_repo("add", "side.txt")
    git_repo("commit", "-qm", "side")
    git_repo("checkout", "-q", "main")
    monkeypatch.chdir(repo)

    # When the whole history is scanned
    code, out, err = run(["--history", "--format", "json"], capsys)

    # Then both keys are found with their commit, file and line; the tree itself is clean
    assert code == 1, err
    items = {i["key_id"]: i for i in json.loads(out)}
    assert set(items) == {key, other}
    assert (items[key]["commit"], items[key]["path"], items[key]["line"]) == (added, "app.py", 3)
    assert items[key]["secret_present"] is True
    assert items[key]["account_id"] == "555566667777"
    assert (items[other]["path"], items[other]["line"]) == ("side.txt", 2)
    assert secret not in out
    assert run(["--format", "json", "."], capsys)[0] == 0

    # And a revision range limits the scan
    code, out, _ = run(["--history", "main", "--format", "json"], capsys)
    assert {i["key_id"] for i in json.loads(out)} == {key}


def test_history_chunking_keeps_lines_and_commits(
    git_repo: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leak_scan.detector import AwsKeyDetector
    from leak_scan.history import scan_history

    repo: Path = git_repo.path  # type: ignore[attr-defined]
    expected = {}
    for n in range(6):
        keys = [make_key() for _ in range(5)]
        body = "".join(f"{'filler ' * 40}\nk{i} = {k}\n" for i, k in enumerate(keys))
        (repo / f"f{n}.txt").write_text(body)
        git_repo("add", f"f{n}.txt")
        git_repo("commit", "-qm", f"c{n}")
        sha = git_repo("rev-parse", "HEAD").strip()
        for i, k in enumerate(keys):
            expected[k] = (sha, f"f{n}.txt", 2 * i + 2)
    found = scan_history(AwsKeyDetector(), str(repo), chunk_size=1)  # smallest chunks allowed
    assert {f.key_id: (f.commit, f.path, f.line) for f in found} == expected


def test_staged_mode_without_the_scanner_extra_names_what_to_install(
    git_repo: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo: Path = git_repo.path  # type: ignore[attr-defined]
    (repo / "k.py").write_text(f"key = '{make_key()}'\n")
    git_repo("add", "k.py")
    monkeypatch.chdir(repo)
    # As if detect-secrets were not installed: every import of it fails.
    for name in [m for m in sys.modules if m.split(".")[0] == "detect_secrets"] + [
        "detect_secrets"
    ]:
        monkeypatch.setitem(sys.modules, name, None)
    code, _, err = run(["--staged"], capsys)
    assert code == 2
    assert "pip install 'leak-responder[scanner]'" in err


def test_staged_mode_scans_the_index_with_detect_secrets(
    git_repo: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo: Path = git_repo.path  # type: ignore[attr-defined]
    key = make_key()
    slack = "xoxb-" + "1234567890-1234567890123-" + "aB3dE6gH9jK2mN5pQ8sT1vW4"
    (repo / "k.py").write_text(f"key = '{key}'\n")
    (repo / "s.py").write_text(f"token = '{slack}'\n")
    (repo / "ok.py").write_text(f"doc = '{make_key()}'  # pragma: allowlist secret\n")
    git_repo("add", "k.py", "s.py", "ok.py")
    (repo / "k.py").write_text("key = None\n")  # unstaged fix: the index still has the key
    monkeypatch.chdir(repo)
    code, out, _ = run(["--staged", "--format", "json"], capsys)
    assert code == 1
    items = json.loads(out)
    assert [i["key_id"] for i in items if i["key_id"]] == [key]
    assert any(i["detector"] == "detect-secrets:Slack Token" and i["path"] == "s.py" for i in items)
    assert slack not in out
    assert not any(i["path"] == "ok.py" for i in items)

    # Only the files pre-commit passes are scanned
    code, out, _ = run(["--staged", "--format", "json", "ok.py"], capsys)
    assert (code, json.loads(out)) == (0, [])


def test_verify_is_opt_in_and_never_leaks_the_secret(
    tree: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, key, secret = tree
    calls: list[tuple[str, str]] = []

    class FakeSts:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": "210987654321"}

    def make_sts(key_id: str, value: str) -> FakeSts:
        calls.append((key_id, value))
        return FakeSts()

    main([str(root / "config"), "--format", "json"], sts_factory=make_sts)
    assert calls == []
    capsys.readouterr()
    main([str(root / "config"), "--format", "json", "--verify"], sts_factory=make_sts)
    out = capsys.readouterr().out
    assert calls == [(key, secret)]
    (item,) = json.loads(out)
    assert item["verified"] is True
    assert secret not in out


def test_progress_bar_only_on_a_tty() -> None:
    from leak_scan.progress import Progress

    stream = io.StringIO()
    bar = Progress(stream, 10, enabled=False)
    bar.update(5, 100, force=True)
    bar.close()
    assert stream.getvalue() == ""
    bar = Progress(stream, 10, enabled=True)
    bar.update(5, 2_000_000, force=True)
    assert "5/10 commits" in stream.getvalue()


# --- runtime errors exit 2, in one line, without a secret ----------------------------------


def _leak_scan(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leak_scan", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    drop = ("AWS_", "LEAK_SCAN_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    # No profile file anywhere a test could read: botocore fails before any request is made.
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-credentials")
    return {**env, **extra}


def test_unwritable_output_exits_two_with_one_line(
    tree: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, secret = tree
    code, out, err = run(
        [str(root), "--output", str(tmp_path / "no" / "such" / "dir.json")], capsys
    )
    assert code == 2
    assert err.startswith("leak-scan: error: ")
    assert "FileNotFoundError" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert secret not in out + err


def test_missing_aws_profile_for_report_exits_two_without_a_traceback(
    tree: tuple[Path, str, str], tmp_path: Path
) -> None:
    # Given --report with a profile that does not exist (botocore raises ProfileNotFound
    # while the SQS client is built, before any request)
    root, _, secret = tree
    env = _clean_env(tmp_path, AWS_PROFILE="no-such-profile", AWS_DEFAULT_REGION="us-east-1")
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/leaks"

    # When leak-scan runs, Then it exits 2 with one line that names the problem
    proc = _leak_scan([str(root), "--report", queue, "--format", "json"], env, tmp_path)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("leak-scan: error: ProfileNotFound")
    assert "no-such-profile" in line
    assert secret not in proc.stdout + proc.stderr

    # And LEAK_SCAN_DEBUG=1 adds the traceback
    env["LEAK_SCAN_DEBUG"] = "1"
    debug = _leak_scan([str(root), "--report", queue, "--format", "json"], env, tmp_path)
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert secret not in debug.stdout + debug.stderr


class ExplodingSqsFactory:
    """Fails as an unexpected library error would, with credentials in its message."""

    def __init__(self, secret: str, token: str) -> None:
        self.message = (
            f"cannot use aws_secret_access_key={secret} for "
            f"https://ci:{token}@gitlab.example.com/r.git\nsecond line"
        )

    def __call__(self, queue_url: str) -> Any:
        raise RuntimeError(self.message)


@pytest.mark.parametrize("debug", ["", "1"])
def test_unexpected_error_message_never_prints_a_secret(
    tree: tuple[Path, str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    debug: str,
) -> None:
    root, _, secret = tree
    token = "glcbt-" + secrets.token_hex(10)
    monkeypatch.setenv("LEAK_SCAN_DEBUG", debug)
    code = main(
        [str(root), "--report", "https://sqs.us-east-1.amazonaws.com/1/q"],
        sqs_factory=ExplodingSqsFactory(secret, token),
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert "leak-scan: error: RuntimeError: cannot use aws_secret_access_key=" in err
    assert secret not in out + err
    assert token not in out + err
    if not debug:
        assert len(err.strip().splitlines()) == 1
