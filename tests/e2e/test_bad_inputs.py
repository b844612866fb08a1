"""The bad-input corpus: every file in tests/bad_inputs/ is one case (format: tests/bad_inputs/README.md).

Each case writes its files into an empty folder, runs the real `esmctl` against the sandbox server,
and checks the promise for bad input: exit code 1 or 2, a short message on stderr that names the
file or flag and the fix, no traceback, and nothing changed — in AWS, in the state or in the folder.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.e2e.conftest import ESMCTL, Env, Result

pytestmark = pytest.mark.e2e

CASES = Path(__file__).resolve().parent.parent / "bad_inputs"
MAX_STDERR_LINES = 25  # one screen
HUGE_BYTES = 2_000_000
KEYS = {"what", "args", "expect_code", "expect", "files", "setup", "env", "timeout", "xfail_reason"}
SETUPS = ("deployed", "huge:", "unreadable:")


@dataclass(frozen=True)
class Case:
    what: str
    expect_code: int
    expect: list[str]
    args: list[str] = field(default_factory=lambda: ["validate"])
    files: dict[str, str | bytes] | None = None  # None: the basic example and the catalog
    setup: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 30
    xfail_reason: str = ""


def load_case(path: Path) -> Case:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path.name}: a case is a YAML mapping"
    unknown = set(doc) - KEYS
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}; known: {sorted(KEYS)}"
    case = Case(**doc)
    assert case.expect_code in (1, 2), f"{path.name}: expect_code must be 1 or 2"
    assert case.expect and all(isinstance(s, str) for s in case.expect), f"{path.name}: expect: [substrings]"
    assert all(isinstance(a, str) for a in case.args), f"{path.name}: args are strings (quote numbers)"
    for s in case.setup:
        assert s.startswith(SETUPS), f"{path.name}: unknown setup {s!r}; known: {', '.join(SETUPS)}"
    return case


def _params() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        try:
            reason = load_case(path).xfail_reason
        except Exception:  # a broken case file: the test itself reports why
            reason = ""
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(path, id=path.name, marks=marks))
    return out


def test_every_case_file_is_collected_as_a_valid_case() -> None:
    """No case is silently left out: every file of the corpus (but its README) is a well-formed
    `NNN-what.yaml` case with a unique number, and each one is a parameter of test_bad_input."""
    files = sorted(p.name for p in CASES.iterdir() if p.name != "README.md")
    assert files, f"no cases in {CASES}"
    misnamed = [f for f in files if not re.fullmatch(r"[1-6]\d\d-[a-z0-9-]+\.yaml", f)]
    assert not misnamed, f"not run (cases are NNN-what.yaml, see the README): {misnamed}"
    numbers = [f[:3] for f in files]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not twice, f"case numbers used twice: {twice}"
    for f in files:
        load_case(CASES / f)  # raises with the file's name when a case is malformed
    collected = [param.values[0].name for param in _params()]
    assert collected == files


def test_the_checks_fail_a_command_that_does_not_refuse(cli: Env) -> None:
    """The checks test_bad_input applies are not vacuous: a good configuration (exit 0) and a refusal
    without the expected message are both reported as failures."""
    accepted = Case(what="a valid configuration", expect_code=1, expect=["esmctl.yaml:"])
    write_files(cli.folder, accepted.files)
    before = snapshot_folder(cli.folder)
    r = run(cli, accepted)
    assert r.code == 0, r.text  # esmctl validate accepts the basic example
    with pytest.raises(AssertionError, match="exit 0"):
        check(cli, accepted, r, aws_before=None, folder_before=before)

    wrong_message = Case(what="refused, but not with these words", expect_code=2, expect=["no such words anywhere"],
                         args=["no-such-command"])
    r = run(cli, wrong_message)
    assert r.code == 2, r.text
    with pytest.raises(AssertionError, match="expected 'no such words anywhere' in stderr"):
        check(cli, wrong_message, r, aws_before=None, folder_before=before)


# --- the folder ---------------------------------------------------------------------------------


def content(value: str) -> str:
    """A file's text: literal, or a placeholder (see the README)."""
    if value == "<catalog>":
        return (EXAMPLES / "models.yaml").read_text()
    if value.startswith("<example:") and value.endswith(">"):
        return (EXAMPLES / f"{value[len('<example:'):-1]}.yaml").read_text()
    if value.startswith("<nested:") and value.endswith(">"):
        depth = int(value[len("<nested:"):-1])
        return "selected_models: {}\ntags: " + "[" * depth + "]" * depth + "\n"
    return value


def write_files(folder: Path, files: dict[str, str | bytes] | None) -> None:
    if files is None:
        files = {"esmctl.yaml": "<example:basic>", "models.yaml": "<catalog>"}
    for rel, value in files.items():
        target = folder / rel
        if rel.endswith("/"):  # a directory where a file is expected
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, bytes):  # !!binary in the case file: exactly these bytes
            target.write_bytes(value)
        else:
            target.write_text(content(value or ""), encoding="utf-8")


def snapshot_folder(folder: Path) -> dict[str, Any]:
    """Every file under the folder with its bytes and mode, and every directory."""
    out: dict[str, Any] = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = (p.read_bytes(), oct(p.lstat().st_mode)) if p.is_file() else "dir"
    return out


def folder_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed; a new empty directory (where a lock would have gone) is no change."""
    changed = [f"{k}: {'removed' if k not in after else 'changed'}" for k in before if before[k] != after.get(k)]
    new = [k for k in after if k not in before]
    return changed + [f"{k}: created" for k in new
                      if after[k] != "dir" or any(o.startswith(k + "/") for o in new)]


# --- AWS ----------------------------------------------------------------------------------------


@functools.cache
def client(url: str, service: str) -> Any:
    return Env(Path("/"), url).client(service)  # one per server and service: making one is slow


def snapshot_aws(cli: Env) -> dict[str, list[str]]:
    """The names of everything esmctl can create (all empty in a fresh sandbox)."""
    sm, iam = client(cli.url, "sagemaker"), client(cli.url, "iam")
    return {
        "models": sorted(m["ModelName"] for m in sm.list_models()["Models"]),
        "endpoint_configs": sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
        "endpoints": sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "users": sorted(u["UserName"] for u in iam.list_users()["Users"]),
        "policies": sorted(p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]),
        "secrets": sorted(s["Name"] for s in client(cli.url, "secretsmanager").list_secrets()["SecretList"]),
        "schedules": sorted(s["Name"] for s in client(cli.url, "scheduler").list_schedules()["Schedules"]),
    }


# --- running ------------------------------------------------------------------------------------


def _without_dac_override() -> None:
    """In the child, before exec: drop the capabilities that let root read any file, so that file
    permissions apply to it as to any user (the tests run as root here)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def can_drop_dac_override() -> bool:
    try:
        subprocess.run(["true"], preexec_fn=_without_dac_override, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def run(cli: Env, case: Case, *, honour_permissions: bool = False) -> Result:
    cmd = [ESMCTL] if ESMCTL else [sys.executable, "-m", "esmctl"]
    env = {**cli.env(), **case.env}
    p = subprocess.run([*cmd, *case.args], cwd=cli.folder, env=env, capture_output=True, text=True,
                       timeout=case.timeout, input="",
                       preexec_fn=_without_dac_override if honour_permissions else None)
    return Result(p.returncode, p.stdout, p.stderr)


def prepare(cli: Env, case: Case) -> bool:
    """Write the case's folder and run its setups; True when file permissions must be honoured."""
    if "deployed" in case.setup:  # a real deployment first: the bad command must leave it alone
        cli.example("basic")
        r = cli.run("deploy", "--yes", "--skip-checks")
        assert r.code == 0, r.text
    write_files(cli.folder, case.files)
    honour = False
    for s in case.setup:
        kind, _, rel = s.partition(":")
        if kind == "huge":  # the file padded with comment lines to HUGE_BYTES
            p = cli.folder / rel
            text = p.read_text() if p.exists() else ""
            line = "# " + "x" * 97 + "\n"
            p.write_text(text + line * ((HUGE_BYTES - len(text)) // len(line) + 1))
        elif kind == "unreadable":
            (cli.folder / rel).chmod(0)
            if os.geteuid() == 0:
                if not can_drop_dac_override():
                    pytest.skip("running as root without CAP_SETPCAP: cannot make a file unreadable to esmctl")
                honour = True
    return honour


@pytest.mark.parametrize("path", _params())
def test_bad_input(cli: Env, path: Path) -> None:
    case = load_case(path)
    honour = prepare(cli, case)
    aws_before = snapshot_aws(cli) if "deployed" in case.setup else None  # else: nothing, in a fresh sandbox
    folder_before = snapshot_folder(cli.folder)
    r = run(cli, case, honour_permissions=honour)
    check(cli, case, r, aws_before=aws_before, folder_before=folder_before)


def check(cli: Env, case: Case, r: Result, *, aws_before: dict[str, list[str]] | None,
          folder_before: dict[str, Any]) -> None:
    """The promise for bad input (see the module docstring); AssertionError with a report if broken."""
    report = f"{case.what}\n$ esmctl {' '.join(case.args)}  -> exit {r.code}\n--- stdout\n{r.out}--- stderr\n{r.err}"
    assert "Traceback" not in r.text, report
    assert "Internal error" not in r.err, report  # esmctl's own words for a bug
    assert r.out == "", f"a refusal has no result: stdout must stay empty\n{report}"
    assert r.code == case.expect_code, report
    for s in case.expect:
        assert s in r.err, f"expected {s!r} in stderr\n{report}"
    assert len(r.err.splitlines()) <= MAX_STDERR_LINES, report
    aws_after = snapshot_aws(cli)
    if aws_before is not None:
        assert aws_after == aws_before, f"AWS changed\n{report}"
    else:
        assert not any(aws_after.values()), f"AWS changed: {aws_after}\n{report}"
    changes = folder_changes(folder_before, snapshot_folder(cli.folder))
    assert not changes, f"the folder changed (state, config): {changes}\n{report}"
