"""The library reports through a `Reporter` the caller passes in (esmctl/events.py): the CLI's UI is
one, the default is plain lines, and importing or using the library never loads rich."""

from __future__ import annotations

import inspect
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from esmctl import durations, ui
from esmctl.api import Workspace
from esmctl.errors import Refused
from esmctl.events import Plain, Quiet, Reporter

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = [name for name, value in vars(Reporter).items() if callable(value) and not name.startswith("_")]


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_importing_the_library_and_making_a_workspace_loads_neither_rich_nor_boto3(tmp_path: Path) -> None:
    r = _run("""
        import sys
        import esmctl.api
        ws = esmctl.api.Workspace("esmctl.yaml")
        ws.init("multi_model")               # offline use cases: no AWS, no terminal UI
        ws.validate()
        ws.catalog()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "boto3", "botocore")
                        or m == "esmctl.ui")
        print(type(ws.ui).__name__, loaded)
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Plain []"
    assert "✓ wrote esmctl.yaml" in r.stderr  # the default reporter: plain lines on stderr


def test_the_ui_and_the_plain_reporters_are_reporters_with_the_same_signatures() -> None:
    assert {"info", "step", "ok", "warn", "error", "detail", "confirm", "board"} <= set(MEMBERS)
    for cls in (ui.UI, Plain, Quiet):
        assert isinstance(cls() if cls is not ui.UI else ui.UI(interactive=False), Reporter)
        for name in MEMBERS:
            want = inspect.signature(getattr(Reporter, name))
            have = inspect.signature(getattr(cls, name))
            assert list(have.parameters) == list(want.parameters), (cls.__name__, name)
            assert [p.kind for p in have.parameters.values()] == [p.kind for p in want.parameters.values()]


def test_confirm_refuses_without_yes_as_a_non_interactive_ui_does() -> None:
    with pytest.raises(Refused) as from_ui:
        ui.UI(interactive=False).confirm("Go?", yes=False)
    for reporter in (Plain(stream=io.StringIO()), Quiet()):
        with pytest.raises(Refused) as refused:
            reporter.confirm("Go?", yes=False)
        assert (refused.value.message, refused.value.hint) == (from_ui.value.message, from_ui.value.hint)
        reporter.confirm("Go?", yes=True)


def test_plain_lines() -> None:
    out = io.StringIO()
    p = Plain(stream=out)
    p.info("i")
    p.step("+ model m")
    p.ok("done [x]")
    p.warn("w")
    p.error("bad", "do this", "the details")
    p.detail("hidden unless verbose")
    assert out.getvalue() == "i\n• + model m\n✓ done [x]\n! w\nError: bad\nNext: do this\n"
    out = io.StringIO()
    verbose = Plain(verbose=True, stream=out)
    verbose.error("bad", details="the details")
    verbose.detail("shown")
    assert out.getvalue() == "Error: bad\nthe details\nshown\n"


def test_a_board_without_a_terminal_is_a_line_per_status_change_in_both(capsys: pytest.CaptureFixture[str]) -> None:
    frames = [[["a", "ep-a", "Creating", "1s", ""]], [["a", "ep-a", "Creating", "2s", ""]],
              [["a", "ep-a", "InService", "3m04s", ""], ["b", "ep-[b]", "Creating", "1s", "~9m left"]]]

    def show(reporter: Reporter) -> None:
        now = [frames[0]]  # what the board reads at each refresh
        with reporter.board(lambda: now[0], ["deployment", "endpoint", "status", "elapsed", "eta"]) as refresh:
            for frame in frames:
                now[0] = frame
                refresh()

    out = io.StringIO()
    show(Plain(stream=out))
    show(ui.UI(interactive=False))
    shown = capsys.readouterr().err
    assert out.getvalue() == shown == ("  a  ep-a  Creating  1s\n  a  ep-a  InService  3m04s\n"
                                       "  b  ep-[b]  Creating  1s  ~9m left\n")


def test_workspace_takes_reporter_or_its_old_name_ui(tmp_path: Path) -> None:
    q = Quiet()
    assert Workspace(tmp_path / "esmctl.yaml", reporter=q).ui is q
    assert Workspace(tmp_path / "esmctl.yaml", ui=q).ui is q
    assert Workspace(tmp_path / "esmctl.yaml", reporter=q, ui=q).ui is q
    assert isinstance(Workspace(tmp_path / "esmctl.yaml").ui, Plain)
    with pytest.raises(TypeError):
        Workspace(tmp_path / "esmctl.yaml", reporter=q, ui=Quiet())


def test_fmt_duration_lives_in_durations() -> None:
    assert [durations.fmt_duration(s) for s in (None, -3, 5, 714, 3720)] == ["?", "0s", "5s", "11m54s", "1h02m"]
