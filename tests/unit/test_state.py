"""The state file: atomic writes, backup, mode, serial/lineage, refusals, and the lock."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from esmctl import state as st
from esmctl.errors import LockHeld, StateError


def new() -> st.State:
    return st.State(region="us-east-2", environment="dev")


def test_write_bumps_serial_keeps_backup_and_mode(tmp_path: Path) -> None:
    p = tmp_path / "state" / "dev.json"
    s = new()
    st.write(p, s)
    lineage = s.lineage
    s.account_id = "123456789012"
    st.write(p, s)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert json.loads(p.read_text())["serial"] == 2
    backup = json.loads(st.backup_path(p).read_text())
    assert backup["serial"] == 1 and backup["account_id"] == ""
    again = st.read(p)
    assert again is not None and again.lineage == lineage and again.account_id == "123456789012"
    assert not list(p.parent.glob("*.tmp"))


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]", b'{"version": 1}'])
def test_broken_state_is_refused_and_points_at_backup(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "dev.json"
    p.write_bytes(content)
    with pytest.raises(StateError) as e:
        st.read(p)
    assert "backup" in (e.value.message + e.value.hint)
    assert p.read_bytes() == content  # never overwritten


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "dev.json"
    p.write_text(json.dumps({"version": 99, "esmctl_version": "9.0", "region": "x", "environment": "dev"}))
    with pytest.raises(StateError, match="schema version 99"):
        st.read(p)


# --- schema upgrades ---------------------------------------------------------------------------
# The real 1 → 2 upgrade first; then pretend later schemas, with upgrades as the module docstring
# describes them.

ROLE_ARN = "arn:aws:iam::123456789012:role/esm-sagemaker-exec-dev"
V1 = {"version": 1, "serial": 4, "lineage": "0b0e6f56-1d51-4b1e-9a55-0f1a2e3d4c5b", "esmctl_version": "0.1.0",
      "region": "us-east-2", "environment": "dev",
      "role": {"name": "esm-sagemaker-exec-dev", "arn": ROLE_ARN, "created": True}, "deployments": {}}


def _add_account_id(doc: dict[str, Any]) -> dict[str, Any]:
    """1 → 2 (pretend): `account_id` is new, filled from the role's ARN."""
    return {**doc, "account_id": doc["role"]["arn"].split(":")[4] if doc.get("role") else ""}


def _rename_eta(doc: dict[str, Any]) -> dict[str, Any]:
    """2 → 3 (pretend): `eta_seconds` is now called `creation_seconds`."""
    out = dict(doc)
    out["creation_seconds"] = out.pop("eta_seconds", [])
    return out


@pytest.fixture
def schema(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[int]]:
    """schema(3, {1: f, 2: g}): pretend SCHEMA_VERSION and UPGRADES; returns the versions upgraded
    from, in the order the upgrades ran."""

    def pretend(version: int, upgrades: dict[int, Callable[[dict[str, Any]], dict[str, Any]]]) -> list[int]:
        ran: list[int] = []

        def logged(n: int, step: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
            return lambda doc: (ran.append(n), step(doc))[1]

        monkeypatch.setattr(st, "SCHEMA_VERSION", version)
        monkeypatch.setattr(st, "UPGRADES", {n: logged(n, step) for n, step in upgrades.items()})
        return ran

    return pretend


def test_a_version_1_state_of_a_deployed_endpoint_reads_as_version_2(tmp_path: Path) -> None:
    doc = {**V1, "deployments": {"prototype_model": {
        "selector": "ESMC-300M", "suffix": "2df2c3dd", "forge_model_name": "esmc-300m-2024-12",
        "endpoint": {"name": "Endpoint-ESMC-300M-1-2df2c3dd", "created": True, "status": "InService"}}}}
    p = tmp_path / "dev.json"
    p.write_text(json.dumps(doc))
    s = st.read(p)
    assert s is not None and s.version == 2
    ep = s.deployments["prototype_model"].endpoint
    assert ep is not None and ep.vanished is False and ep.status == "InService"
    st.write(p, s)
    assert json.loads(p.read_text())["version"] == 2
    newer = {**json.loads(p.read_text()), "version": 3}
    with pytest.raises(StateError, match="reads up to 2"):
        st.parse(json.dumps(newer).encode(), "state/dev.json")


def test_every_older_version_has_an_upgrade() -> None:
    assert set(st.UPGRADES) == set(range(1, st.SCHEMA_VERSION))


def test_an_older_document_is_read_upgraded_and_written_as_current(tmp_path: Path, schema: Any) -> None:
    ran = schema(2, {1: _add_account_id})
    p = tmp_path / "dev.json"
    stored = json.dumps(V1).encode()
    p.write_bytes(stored)
    s = st.read(p)
    assert s is not None and ran == [1]
    assert s.version == 2 and s.account_id == "123456789012"  # the v1 document, read as v2
    assert s.serial == 4 and s.lineage == V1["lineage"] and s.role is not None and s.role.arn == ROLE_ARN
    assert p.read_bytes() == stored  # reading changes nothing on disk

    st.write(p, s)
    written = json.loads(p.read_text())
    assert written["version"] == 2 and written["account_id"] == "123456789012" and written["serial"] == 5
    assert st.backup_path(p).read_bytes() == stored  # the v1 document stays as the backup
    again = st.read(p)
    assert again is not None and again.account_id == "123456789012" and ran == [1]  # not upgraded twice


def test_a_document_without_version_is_version_1(tmp_path: Path, schema: Any) -> None:
    ran = schema(2, {1: _add_account_id})
    doc = {k: v for k, v in V1.items() if k != "version"}
    s = st.parse(json.dumps(doc).encode(), "state/dev.json")
    assert ran == [1] and s.version == 2 and s.account_id == "123456789012"


def test_upgrades_chain_in_order(schema: Any) -> None:
    ran = schema(3, {1: _add_account_id, 2: _rename_eta})
    s = st.parse(json.dumps({**V1, "eta_seconds": [700.0, 650.5]}).encode(), "state/dev.json")
    assert ran == [1, 2]
    assert s.version == 3 and s.account_id == "123456789012" and s.creation_seconds == [700.0, 650.5]
    ran.clear()
    s = st.parse(json.dumps({**V1, "version": 2, "account_id": "999999999999"}).encode(), "state/dev.json")
    assert ran == [2]  # a version-2 document starts at its own version
    assert s.account_id == "999999999999" and s.creation_seconds == []
    assert json.loads(st.dump(s))["version"] == 3


def test_a_document_newer_than_the_pretended_schema_is_still_refused(tmp_path: Path, schema: Any) -> None:
    ran = schema(2, {1: _add_account_id})
    p = tmp_path / "dev.json"
    p.write_text(json.dumps({**V1, "version": 3, "esmctl_version": "9.0"}))
    before = p.read_bytes()
    with pytest.raises(StateError, match="schema version 3.*reads up to 2"):
        st.read(p)
    assert ran == [] and p.read_bytes() == before


def test_a_missing_or_failing_upgrade_is_refused(schema: Any) -> None:
    schema(3, {2: _rename_eta})  # nothing from 1
    with pytest.raises(StateError, match="schema version 1, which this esmctl .* cannot upgrade to 3"):
        st.parse(json.dumps(V1).encode(), "state/dev.json")
    schema(2, {1: _add_account_id})
    with pytest.raises(StateError, match="could not be upgraded from schema version 1 to 2") as e:
        st.parse(json.dumps({**V1, "role": {"name": "r"}}).encode(), "state/dev.json")  # no "arn": KeyError
    assert "backup" in e.value.hint
    schema(2, {1: lambda doc: {**doc, "surprise": True}})
    with pytest.raises(StateError, match="does not match the schema"):  # the result is validated as ever
        st.parse(json.dumps(V1).encode(), "state/dev.json")


def test_state_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dev.json").mkdir()
    with pytest.raises(StateError, match="directory"):
        st.read(tmp_path / "dev.json")


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    p = tmp_path / "dev.json"
    with st.locked(p, "esmctl deploy"):
        with pytest.raises(LockHeld) as e:
            with st.locked(p, "esmctl deploy"):
                pass
        assert f"pid {os.getpid()}" in e.value.message and "esmctl deploy" in e.value.message
        with pytest.raises(LockHeld):  # the holder is alive: unlock refuses
            st.unlock(p)
    assert not st.lock_path(p).exists()


def test_stale_lock_is_detected_and_unlock_clears_it(tmp_path: Path) -> None:
    p = tmp_path / "dev.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    st.lock_path(p).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                           "command": "esmctl deploy", "since": "2026-01-01T00:00:00Z"}))
    assert st.read_lock(p).alive() is False  # type: ignore[union-attr]
    holder = st.unlock(p)
    assert holder is not None and holder.pid == pid
    assert not st.lock_path(p).exists()


def test_a_dead_holders_lock_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "dev.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    st.lock_path(p).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                           "command": "esmctl deploy", "since": "2026-01-01T00:00:00Z"}))
    told = []
    with st.locked(p, "esmctl deploy --yes", on_stale=told.append):
        assert st.read_lock(p).pid == os.getpid()  # type: ignore[union-attr]
    assert [h.pid for h in told] == [int(dead.stdout)]
    assert not st.lock_path(p).exists()


def test_lock_on_another_host_needs_force(tmp_path: Path) -> None:
    p = tmp_path / "dev.json"
    st.lock_path(p).write_text(json.dumps({"pid": 1, "host": "elsewhere", "command": "esmctl deploy",
                                           "since": "2026-01-01T00:00:00Z"}))
    with pytest.raises(LockHeld):
        st.unlock(p)
    assert st.unlock(p, force=True) is not None
