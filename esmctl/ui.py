"""The user interface object: everything a person reads goes to stderr through it; results
(tables, JSON) go to stdout. Live displays fall back to plain lines when stderr is not a terminal.
The only module besides cli/ that uses rich. `UI` is the CLI's `esmctl.events.Reporter`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from esmctl.errors import Refused
from esmctl.events import refuse_unless, row_changes

if TYPE_CHECKING:
    from esmctl.events import Reporter

__all__ = ["UI", "escape"]


class UI:
    def __init__(self, *, verbose: bool = False, color: bool | None = None, interactive: bool | None = None) -> None:
        no_color = color is False or bool(os.environ.get("NO_COLOR"))
        self.err = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True, emoji=False)
        self.out = Console(no_color=no_color, highlight=False, soft_wrap=True, emoji=False)
        if not self.out.is_terminal and "COLUMNS" not in os.environ:
            self.out.width = 200  # piped tables: don't squeeze them into 80 columns
        self.verbose = verbose
        self.interactive = sys.stdin.isatty() if interactive is None else interactive

    # --- messages (stderr) -------------------------------------------------------------------
    def info(self, msg: str) -> None:
        self.err.print(escape(msg))

    def step(self, msg: str) -> None:
        self.err.print(f"[cyan]•[/] {escape(msg)}")

    def ok(self, msg: str) -> None:
        self.err.print(f"[green]✓[/] {escape(msg)}")

    def warn(self, msg: str) -> None:
        self.err.print(f"[yellow]![/] {escape(msg)}")

    def error(self, msg: str, hint: str = "", details: str = "") -> None:
        self.err.print(f"[bold red]Error:[/] {escape(msg)}")
        if hint:
            self.err.print(f"[bold]Next:[/] {escape(hint)}")
        if details and self.verbose:
            self.err.print(f"[dim]{escape(details)}[/]")

    def detail(self, msg: str) -> None:
        if self.verbose:
            self.err.print(f"[dim]{escape(msg)}[/]")

    # --- results (stdout) --------------------------------------------------------------------
    def print(self, text: str = "", style: str | None = None) -> None:
        self.out.print(escape(text), style=style)

    def json(self, doc: Any) -> None:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        t = Table(title=title, show_lines=False, header_style="bold")
        for c in columns:
            t.add_column(c)
        for r in rows:
            t.add_row(*[escape(str(x)) for x in r])
        self.out.print(t)

    # --- interaction ---------------------------------------------------------------------------
    def confirm(self, question: str, *, yes: bool) -> None:
        """Go on only with --yes or an interactive 'yes'; otherwise raise Refused."""
        if yes:
            return
        if not self.interactive:
            refuse_unless(yes)
        self.err.print(f"{escape(question)} Only 'yes' will be accepted: ", end="")
        answer = sys.stdin.readline().strip()
        if answer != "yes":
            raise Refused("Cancelled; nothing was changed.")

    @contextmanager
    def board(self, render: Callable[[], Sequence[Sequence[str]]],
              columns: Sequence[str]) -> Iterator[Callable[[], None]]:
        """A live table on stderr (TTY), or a plain line per row change; yields `refresh()`."""
        if self.err.is_terminal:
            def table() -> Table:
                t = Table(header_style="bold", box=None)
                for c in columns:
                    t.add_column(c)
                for r in render():
                    t.add_row(*[escape(x) for x in r])
                return t
            with Live(table(), console=self.err, refresh_per_second=4, transient=False) as live:
                yield lambda: live.update(table())
        else:
            changes = row_changes(render)  # a line per change of status, not per poll

            def refresh() -> None:
                for line in changes():
                    self.err.print(escape(line))
            yield refresh


if TYPE_CHECKING:
    _ui_is_a_reporter: Reporter = UI()  # mypy checks that UI satisfies esmctl.events.Reporter
