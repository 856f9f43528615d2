"""`leak-responder sandbox` and `demo` fail with one clear line, not a traceback, when they cannot
run: a runtime-only install (no sandbox extra), a --template that names no file, a ready file
that can never be written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from leak_sandbox.template import TemplateError, load_template

# A runtime-only install: the sandbox extra's modules cannot be imported.
_WITHOUT_SANDBOX_EXTRA = """
import sys
for name in ("yaml", "moto", "moto.server"):
    sys.modules[name] = None
from leak_responder.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_SANDBOX_EXTRA, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [("demo",), ("sandbox", "--ready-file", "ready.json")],
    ids=["demo", "sandbox"],
)
def test_without_the_sandbox_extra_the_commands_say_what_to_install(
    argv: tuple[str, ...], tmp_path: Path
) -> None:
    result = _run(*argv, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "leak-responder[sandbox]" in result.stderr
    assert "yaml" in result.stderr or "moto" in result.stderr


def test_without_the_sandbox_extra_contain_still_works(tmp_path: Path) -> None:
    result = _run("contain", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "KEY_ID" in result.stdout


def test_a_template_that_names_no_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leak_responder.cli import main

    missing = tmp_path / "nope.yaml"
    code = main(["sandbox", "--ready-file", str(tmp_path / "r.json"), "--template", str(missing)])
    assert code == 1
    err = capsys.readouterr().err
    assert f"--template names no file: {missing}" in err
    assert "Traceback" not in err


def test_load_template_of_a_missing_file_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read the template"):
        load_template(tmp_path / "nope.yaml")


def test_a_ready_file_that_can_never_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leak_responder.cli import main

    (tmp_path / "a-file").write_text("x")
    code = main(["sandbox", "--ready-file", str(tmp_path / "a-file" / "ready.json")])
    assert code == 2
    assert "cannot use --ready-file" in capsys.readouterr().err
