"""The documentation keeps up with the code: every command and every configuration key is documented.

Fast and offline: renders the CLI reference in-process (no subprocess, no AWS).
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
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


def _shell_commands(markdown: str) -> list[str]:
    """The commands in the ```bash blocks of `markdown`: one per `&&`-joined part, comments dropped."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def test_readme_shows_demo_and_test_command(gen: ModuleType) -> None:
    """The README's first two blocks work as pasted: install + `esmctl demo`, and CI's test command;
    every `esmctl <command>` the README shows exists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 2, "README.md should open with a demo block and a test block"
    demo, tests = (_shell_commands(f"```bash\n{b}```") for b in blocks[:2])

    # Try it: a venv, the package installed, then the demo, in that order.
    assert demo[-1] == "esmctl demo", f"the README's first block should end with `esmctl demo`, got {demo}"
    assert any(c.startswith("pip install -e .") for c in demo[:-1]), "the demo block must install esmctl first"

    # The test command is exactly what CI runs, and the extra it installs brings pytest and xdist (-n).
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    ci_command = [ln for ln in ci_lines if ln and not ln.startswith("#") and "pytest" in ln]
    assert ci_command and [p.strip() for p in ci_command[-1].split("&&")] == tests, (
        f"README's test block {tests} differs from what .ci/run runs {ci_command}"
    )
    assert any(c.startswith("python -m pytest") for c in tests)
    extra = re.search(r'pip install -e "\.\[(\w+)\]"', " && ".join(tests))
    assert extra, "the test block should install the package with its test extra"
    with (ROOT / "pyproject.toml").open("rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    wanted = {re.split(r"[<>=\[ ]", d, maxsplit=1)[0] for d in extras.get(extra.group(1), [])}
    assert {"pytest", "pytest-xdist"} <= wanted, f"extra [{extra.group(1)}] lacks pytest/pytest-xdist: {wanted}"

    # Every command the README names (in its shell blocks or as `esmctl x` in the text) is registered.
    registered = {path[0] for path, _ in gen.walk(gen.build_command())}
    shown = {c.split()[1] for c in _shell_commands(text) if c.startswith("esmctl ")}
    shown |= set(re.findall(r"`esmctl ([a-z][a-z-]*)", text))
    unknown = sorted(shown - registered)
    assert "demo" in shown and not unknown, f"README.md shows commands esmctl does not have: {unknown}"
