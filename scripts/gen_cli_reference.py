#!/usr/bin/env python
"""Generate docs/cli.md, the command reference, from esmctl's Typer app.

    python scripts/gen_cli_reference.py          # (re)write docs/cli.md
    python scripts/gen_cli_reference.py --check  # exit 1 if docs/cli.md is stale

The text is rendered from the click objects' own fields (help, params, defaults, env vars), never
from captured `--help` output, so it does not depend on the terminal width. Commands come in
registration order (the order of `esmctl --help`), options in declaration order. No timestamps
or version numbers go into the file, so the same code always gives the same bytes.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import sys
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "cli.md"
SCRIPT = "python scripts/gen_cli_reference.py"

# Commands of the contract (§4) that are not registered yet; those that are registered drop out.
PLANNED: tuple[str, ...] = ()

TYPE_NAMES: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT", bool: "BOOLEAN", Path: "PATH"}

ENVIRONMENT = [
    ("`ESMCTL_CONFIG`", "path of `esmctl.yaml` when `-c/--config` is not given"),
    ("`ESMCTL_STATE`", "where the state lives (a path or `s3://BUCKET/PREFIX/`) when `--state` is not given"),
    ("`ESMCTL_POLL_INTERVAL`", "seconds between status polls while waiting (float, default 15)"),
    ("`ESMCTL_WAIT_TIMEOUT`",
     "seconds one wait may take before esmctl stops waiting (default 3600; `deploy --timeout` wins)"),
    ("`AWS_ENDPOINT_URL`",
     "boto3 sends every AWS call there (what `--endpoint-url` does; `esmctl sandbox` prints it)"),
    ("`AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, ...",
     "boto3's standard credential chain: env, profile, SSO, instance role"),
    ("`NO_COLOR`", "any non-empty value turns colours off (as `--no-color`)"),
]

EXIT_CODES = [
    ("0", "success (`plan --detailed-exitcode`: success and no changes)"),
    ("1", "any failure: invalid configuration, AWS error, endpoint `Failed`, rolled-back update, lock "
          "held, refused confirmation (including a non-interactive `deploy`/`destroy` without `--yes`)"),
    ("2", "command-line usage error; `plan --detailed-exitcode`: success and there are changes"),
    ("130", "interrupted (Ctrl-C); the state is saved and the message names what is still being "
            "created in AWS"),
]

OUTPUT_RULES = """\
A user error or an AWS error never ends in a Python traceback: esmctl prints `Error:` with the
cause and `Next:` with the next step on stderr; `-v` adds AWS error codes and details. Results
(tables, outputs, `--json` documents) go to stdout, everything else to stderr, so
`esmctl status --json | jq` always gets exactly one JSON document."""


def table(header: tuple[str, str], rows: list[tuple[str, str]]) -> list[str]:
    return [f"| {header[0]} | {header[1]} |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]


# --- reading the click objects -------------------------------------------------------------------


def build_command() -> Any:
    """The root click command of the Typer app."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import typer

    from esmctl.cli import app

    return typer.main.get_command(app)


def walk(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, command) for every visible command, in registration order, groups recursed."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for name, cmd in getattr(group, "commands", {}).items():
        if getattr(cmd, "hidden", False):
            continue
        path = (*prefix, name)
        out.append((path, cmd))
        if getattr(cmd, "commands", None):
            out += walk(cmd, path)
    return out


def help_text(obj: Any) -> str:
    """The full help of a command, as written (click's `\\b` and `\\f` markers handled)."""
    text = inspect.cleandoc(getattr(obj, "help", None) or "")
    text = text.split("\f", 1)[0]
    return "\n".join(line for line in text.splitlines() if line.strip() != "\b").strip()


def summary(obj: Any) -> str:
    short = getattr(obj, "short_help", None)
    return (short or help_text(obj).split("\n\n", 1)[0]).replace("\n", " ").strip()


def is_option(p: Any) -> bool:
    return getattr(p, "param_type_name", "") == "option" or bool(getattr(p, "opts", [""])[0].startswith("-"))


def is_flag(p: Any) -> bool:
    return bool(getattr(p, "is_flag", False) or getattr(p, "count", False))


def type_name(p: Any) -> str:
    """TEXT / INTEGER / FLOAT ... for a value-taking parameter (click or Typer's own click)."""
    t = getattr(p, "type", None)
    name = getattr(t, "name", None)
    if isinstance(name, str) and name:
        return name.upper().removesuffix(" RANGE")
    ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
    args = typing.get_args(ann)
    if typing.get_origin(ann) in (list, tuple, typing.Union) and args:
        ann = next((a for a in args if a is not type(None)), ann)
    return TYPE_NAMES.get(ann, getattr(ann, "__name__", "VALUE").upper())


def value_range(p: Any) -> str:
    t = getattr(p, "type", None)
    lo = getattr(p, "min", getattr(t, "min", None))
    hi = getattr(p, "max", getattr(t, "max", None))
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        return f"{lo}–{hi}"
    return f"≥ {lo}" if lo is not None else f"≤ {hi}"


def metavar(p: Any) -> str:
    if getattr(p, "metavar", None):
        return str(p.metavar)
    if is_option(p):
        return type_name(p)
    return str(p.name).upper()


def default_text(p: Any) -> str:
    d = getattr(p, "default", None)
    if type(d).__name__ in ("Sentinel", "_Sentinel") or "UNSET" in repr(d):  # click >= 8.3: no default
        d = None
    if is_flag(p) or d is None or callable(d) or d == [] or d == ():
        return ""
    if isinstance(d, (list, tuple)):
        return ", ".join(f"`{x}`" for x in d)
    return f"`{d}`"


def envvars(p: Any) -> list[str]:
    e = getattr(p, "envvar", None)
    if not e:
        return []
    return [e] if isinstance(e, str) else [str(x) for x in e]


def cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|").strip()


def usage(path: tuple[str, ...], cmd: Any) -> str:
    pieces = ["esmctl", "[GLOBAL OPTIONS]", *path]
    params = [p for p in cmd.params if not getattr(p, "hidden", False)]
    if any(is_option(p) for p in params):
        pieces.append("[OPTIONS]")
    if getattr(cmd, "commands", None):
        optional = getattr(cmd, "invoke_without_command", False)
        pieces.append("[COMMAND [ARGS]...]" if optional else "COMMAND [ARGS]...")
    for p in params:
        if is_option(p):
            continue
        name = metavar(p) + ("..." if getattr(p, "nargs", 1) != 1 else "")
        pieces.append(name if getattr(p, "required", False) else f"[{name}]")
    return " ".join(pieces)


def param_rows(params: list[Any]) -> list[str]:
    """A Markdown table of parameters: names, value, default, description (with env var, range)."""
    rows = ["| parameter | value | default | description |", "|---|---|---|---|"]
    for p in params:
        if getattr(p, "hidden", False):
            continue
        if is_option(p):
            names = ", ".join(f"`{o}`" for o in [*p.opts, *getattr(p, "secondary_opts", [])])
            value = "" if is_flag(p) else metavar(p)
        else:
            names = f"`{metavar(p)}` (argument)"
            value = type_name(p)
        desc = help_text(p)
        extra = []
        if getattr(p, "multiple", False) and "repeatable" not in desc.lower():
            extra.append("Repeatable.")
        rng = value_range(p)
        if rng:
            extra.append(f"Range: {rng}.")
        if getattr(p, "required", False):
            extra.append("Required.")
        for e in envvars(p):
            extra.append(f"Env var: `{e}`.")
        desc = " ".join(x for x in (desc, *extra) if x)
        rows.append(f"| {cell(names)} | {cell(value)} | {cell(default_text(p))} | {cell(desc)} |")
    return rows


# --- the document ------------------------------------------------------------------------------


def render(root: Any = None) -> str:
    """The full text of docs/cli.md."""
    root = root if root is not None else build_command()
    commands = walk(root)
    registered = {path[0] for path, _ in commands}
    planned = [c for c in PLANNED if c not in registered]
    help_opts = (getattr(root, "context_settings", None) or {}).get("help_option_names", ["--help"])

    lines = [
        "# CLI reference",
        "",
        f"<!-- Generated by `{SCRIPT}` from the Typer app in esmctl/cli/. Do not edit by hand:",
        "     change the help texts in the code and run the script; tests/test_docs.py checks it. -->",
        "",
        help_text(root),
        "",
        "```",
        "esmctl [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]...",
        "python -m esmctl [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]...",
        "```",
        "",
        "Global options go before the command name (`esmctl -v deploy`), command options after it. "
        f"Every command also accepts {', '.join(f'`{h}`' for h in help_opts)}.",
        "",
    ]
    if planned:
        lines += [f"Planned, not implemented yet: {', '.join(f'`{c}`' for c in planned)}.", ""]
    lines += ["## Commands", "", "| command | what it does |", "|---|---|"]
    for path, cmd in commands:
        anchor = "esmctl-" + "-".join(path)
        lines.append(f"| [`esmctl {' '.join(path)}`](#{anchor}) | {cell(summary(cmd))} |")
    lines += ["", "## Global options", "", *param_rows(list(root.params)), ""]
    lines += ["## Environment variables", "", *table(("variable", "effect"), ENVIRONMENT), "",
              "Details: [configuration.md](configuration.md#environment-variables).", ""]
    lines += ["## Exit codes", "", *table(("code", "meaning"), EXIT_CODES), "", OUTPUT_RULES, ""]
    for path, cmd in commands:
        lines += [f"## esmctl {' '.join(path)}", "", help_text(cmd), "", "```", usage(path, cmd), "```", ""]
        params = [p for p in cmd.params if not getattr(p, "hidden", False)]
        if params:
            lines += [*param_rows(params), ""]
        else:
            lines += ["No options besides the global ones.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate docs/cli.md from the esmctl Typer app.")
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is not up to date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current == text:
            print(f"{OUT.relative_to(ROOT)} is up to date.")
            return 0
        diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(),
                                         "docs/cli.md (on disk)", "docs/cli.md (generated)", lineterm=""))
        sys.stderr.write("\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else "") + "\n")
        sys.stderr.write(f"docs/cli.md is stale: run `{SCRIPT}` and commit the result.\n")
        return 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
