"""The state file: atomic writes, backup, mode, serial/lineage, refusals, and the lock."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

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
