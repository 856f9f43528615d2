"""The leak-responder command: contain from the runtime, sandbox and demo from the tooling."""

from __future__ import annotations

import argparse
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from leak_responder import cli
from leak_sandbox.template import TEMPLATE_ENV, TemplateError, find_template

ROOT = Path(__file__).resolve().parents[2]


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_the_tooling_adds_its_commands_through_entry_points() -> None:
    assert subcommands(cli.build_parser()) == {"contain", "sandbox", "demo"}


def test_a_broken_add_on_never_takes_contain_away(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint("sandbox", "no_such_module_anywhere:add", cli.COMMANDS_GROUP)

    def only_broken(**kwargs: Any) -> list[EntryPoint]:
        return [broken]

    monkeypatch.setattr(cli, "entry_points", only_broken)
    assert subcommands(cli.build_parser()) == {"contain"}
    assert "command 'sandbox' unavailable (ModuleNotFoundError" in capsys.readouterr().err


def test_contain_without_a_table_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("INCIDENTS_TABLE", raising=False)
    key_id = "AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret
    assert cli.main(["contain", key_id]) == cli.EXIT_USAGE
    assert "INCIDENTS_TABLE is not set" in capsys.readouterr().err


def test_the_template_is_found_from_any_folder_of_the_checkout() -> None:
    expected = ROOT / "template.yaml"
    assert find_template(ROOT, env={}) == expected
    assert find_template(ROOT / "sandbox" / "leak_sandbox", env={}) == expected


def test_the_template_can_be_named_and_is_never_guessed(tmp_path: Path) -> None:
    named = tmp_path / "other.yaml"
    named.write_text("Resources: {}\n", encoding="utf-8")
    assert find_template(tmp_path, env={TEMPLATE_ENV: str(named)}) == named
    with pytest.raises(TemplateError, match="names no file"):
        find_template(tmp_path, env={TEMPLATE_ENV: str(tmp_path / "missing.yaml")})
    # A template.yaml without functions/ beside it is somebody else's template.
    (tmp_path / "template.yaml").write_text("Resources: {}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="--template PATH"):
        find_template(tmp_path, env={})
