"""The documentation keeps up with the code: every command and every configuration key is documented.

Fast and offline: renders the CLI reference in-process (no subprocess, no AWS).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from esmctl.config import CatalogEntry, Selection, Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCRIPT = ROOT / "scripts" / "gen_cli_reference.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _generator()


@pytest.fixture(scope="module")
def cli_md() -> str:
    return (DOCS / "cli.md").read_text(encoding="utf-8")


def test_cli_reference_is_up_to_date(gen: ModuleType, cli_md: str) -> None:
    assert gen.render() == cli_md, (
        "docs/cli.md is stale: run `python scripts/gen_cli_reference.py` and commit the result."
    )


def test_every_command_is_documented_with_help(gen: ModuleType, cli_md: str) -> None:
    commands = gen.walk(gen.build_command())
    assert commands, "no commands registered on the Typer app"
    for path, cmd in commands:
        name = " ".join(path)
        assert gen.help_text(cmd), f"`esmctl {name}` has no help text (add a docstring)"
        assert f"## esmctl {name}\n" in cli_md, f"`esmctl {name}` is missing from docs/cli.md"
        for p in cmd.params:
            if not getattr(p, "hidden", False):
                assert gen.help_text(p), f"`esmctl {name}`: parameter {p.name!r} has no help text"


def test_cli_reference_has_global_options_and_exit_codes(cli_md: str) -> None:
    assert "## Global options" in cli_md
    assert "## Exit codes" in cli_md
    for opt in ("`--config`", "`--profile`", "`--region`", "`--endpoint-url`", "`--verbose`", "`--no-color`",
                "`--version`"):
        assert opt in cli_md


@pytest.mark.parametrize(
    ("model", "where"),
    [(Settings, "esmctl.yaml"), (Selection, "esmctl.yaml selected_models"), (CatalogEntry, "models.yaml")],
)
def test_every_config_key_is_documented(model: type, where: str) -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [k for k in model.model_fields if f"`{k}`" not in text]  # type: ignore[attr-defined]
    assert not missing, f"{where} keys not documented in docs/configuration.md: {', '.join(missing)}"


def test_docs_link_to_existing_files() -> None:
    for md in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", md.read_text(encoding="utf-8")):
            assert (md.parent / target).exists(), f"{md.name} links to missing {target}"


def test_readme_shows_demo_and_test_command() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "esmctl demo" in text, "README.md should show `esmctl demo` (try it without AWS)"
    assert "pytest" in text, "README.md should show the test command (python -m pytest)"
