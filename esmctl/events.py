"""How the library talks to whoever runs it: progress, warnings and questions go through a `Reporter`
the caller passes in. No rich here, and no terminal assumptions: the CLI passes `esmctl.ui.UI` (colours,
a live board on a TTY); a notebook or a script gets `Plain` (plain lines to stderr) or `Quiet`.

A Reporter never decides anything: `confirm` goes on or raises `Refused`, and nothing else in it can
change what the library does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol, TextIO, runtime_checkable

from esmctl.errors import Refused

Rows = Callable[[], Sequence[Sequence[str]]]  # the board's rows, read again at each refresh


@runtime_checkable
class Reporter(Protocol):
    """What the library reports to the person running it (everything goes to stderr, never stdout)."""

    def info(self, msg: str) -> None: ...

    def step(self, msg: str) -> None:
        """One change being made (`+ model …`, `- access key …`)."""

    def ok(self, msg: str) -> None: ...

    def warn(self, msg: str) -> None: ...

    def error(self, msg: str, hint: str = "", details: str = "") -> None: ...

    def detail(self, msg: str) -> None:
        """Only shown when asked for details (-v): tracebacks of crashed checks and the like."""

    def confirm(self, question: str, *, yes: bool) -> None:
        """Return to go on (always with `yes`); raise `Refused` otherwise."""

    def board(self, render: Rows, columns: Sequence[str]) -> AbstractContextManager[Callable[[], None]]:
        """Show `render()` (rows of `columns`: deployment, endpoint, status, …) while the block runs;
        the block calls the yielded `refresh()` after each poll."""


def refuse_unless(yes: bool) -> None:
    """A confirmation nobody can give (not interactive): go on only with `yes`."""
    if not yes:
        raise Refused("Not confirmed: this run is not interactive, so nothing was changed.",
                      hint="Add --yes to apply without asking.")


def row_changes(render: Rows) -> Callable[[], list[str]]:
    """A board as plain lines: each call gives one line per row whose status (third column) changed
    since the last call, not one per poll. Rows are keyed by their first two columns."""
    last: dict[str, str] = {}

    def changes() -> list[str]:
        out = []
        for r in render():
            key, state = r[0] + r[1], r[2]
            if last.get(key) != state:
                last[key] = state
                out.append("  " + "  ".join(x for x in r if x))
        return out
    return changes


class Plain:
    """A Reporter writing plain lines to stderr (or `stream`); it never asks: `confirm` needs `yes`."""

    def __init__(self, *, verbose: bool = False, stream: TextIO | None = None) -> None:
        self.verbose = verbose
        self._stream = stream

    def _line(self, text: str) -> None:
        stream = self._stream or sys.stderr  # looked up on each line: a redirected stderr is followed
        stream.write(text + "\n")
        stream.flush()

    def info(self, msg: str) -> None:
        self._line(msg)

    def step(self, msg: str) -> None:
        self._line(f"• {msg}")

    def ok(self, msg: str) -> None:
        self._line(f"✓ {msg}")

    def warn(self, msg: str) -> None:
        self._line(f"! {msg}")

    def error(self, msg: str, hint: str = "", details: str = "") -> None:
        self._line(f"Error: {msg}")
        if hint:
            self._line(f"Next: {hint}")
        if details and self.verbose:
            self._line(details)

    def detail(self, msg: str) -> None:
        if self.verbose:
            self._line(msg)

    def confirm(self, question: str, *, yes: bool) -> None:
        refuse_unless(yes)

    @contextmanager
    def board(self, render: Rows, columns: Sequence[str]) -> Iterator[Callable[[], None]]:
        changes = row_changes(render)

        def refresh() -> None:
            for line in changes():
                self._line(line)
        yield refresh


class Quiet:
    """A Reporter that shows nothing; `confirm` needs `yes`."""

    def info(self, msg: str) -> None:
        pass

    def step(self, msg: str) -> None:
        pass

    def ok(self, msg: str) -> None:
        pass

    def warn(self, msg: str) -> None:
        pass

    def error(self, msg: str, hint: str = "", details: str = "") -> None:
        pass

    def detail(self, msg: str) -> None:
        pass

    def confirm(self, question: str, *, yes: bool) -> None:
        refuse_unless(yes)

    @contextmanager
    def board(self, render: Rows, columns: Sequence[str]) -> Iterator[Callable[[], None]]:
        yield lambda: None


if TYPE_CHECKING:  # mypy checks that both are Reporters
    _plain: Reporter = Plain()
    _quiet: Reporter = Quiet()
