"""`esmctl embed`: embeddings of a FASTA file through a deployment's endpoint (esmctl/embed.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from esmctl.cli import app, g
from esmctl.errors import EsmctlError

if TYPE_CHECKING:
    from esmctl.embed import Progress, Summary
    from esmctl.ui import UI

PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal


@app.command()
def embed(
    ctx: typer.Context,
    source: Path = typer.Argument(..., metavar="INPUT", help="FASTA file (or one sequence per line)."),
    out: Path = typer.Option(..., "-o", "--output", metavar="OUT",
                             help="Where to write: OUT.npz (arrays ids, embeddings) or OUT.parquet."),
    deployment: str = typer.Option(None, "--deployment", help="The deployment to call (needed when there are "
                                   "several)."),
    per_residue: bool = typer.Option(False, "--per-residue", help="One row per residue instead of the mean."),
    layer: int = typer.Option(None, "--layer", help="A hidden layer's output (0 … layers) instead of the final "
                              "embedding."),
    concurrency: int = typer.Option(None, "--concurrency", min=1, max=256,
                                    help="Requests in flight (default: adapts to the endpoint, from its instances)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run: finished records are not "
                                "sent again."),
    start: bool = typer.Option(False, "--start", help="Start the deployment first if it is stopped (and wait)."),
    stop_after: bool = typer.Option(False, "--stop-after", help="Stop the deployment when the run ends."),
    as_shared_user: bool = typer.Option(False, "--as-shared-user",
                                        help="Sign the requests with the shared service account's key."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Embed every valid record of a FASTA file; bad records go to OUT.rejected.tsv. Resumable."""
    from esmctl.cli.render import render_plan

    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    display = _Display(ui)
    try:
        summary = ws.embed(deployment, source, out, per_residue=per_residue, layer=layer, concurrency=concurrency,
                           resume=resume, start=start, stop_after=stop_after, as_shared_user=as_shared_user,
                           show_plan=lambda p, d: render_plan(ui, p, d, out=False),
                           on_progress=display.update, on_ready=display.ready)
    finally:
        display.close()
    if json_out:
        ui.json(summary.to_json())
    else:
        _render(ui, summary)
    if summary.failed:
        raise EsmctlError(f"{summary.failed} sequence{'s' if summary.failed != 1 else ''} failed "
                          f"({summary.failures[0]['id']}: {summary.failures[0]['error']}); their embeddings are "
                          f"missing, so {summary.output} was not written.",
                          hint="Run the same command with --resume: it sends only what is missing.")


class _Display:
    """A rich progress bar on a terminal (sequences/s, ETA, estimated cost); a line every 10 s otherwise."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.bar: Any = None
        self.task: Any = None
        self.hourly: float | None = None
        self.last = 0.0

    def ready(self, client: Any, hourly: float | None) -> None:
        self.hourly = hourly
        price = f", about ${hourly:.2f}/h (estimated; Marketplace fee extra)" if hourly else ""
        self.ui.info(f"Embedding with {client.endpoint_name} ({client.forge_model}, {client.instances} "
                     f"instance{'s' if client.instances != 1 else ''}{price}).")

    def update(self, progress: Progress, summary: Summary) -> None:
        rate = summary.sequences_per_second
        left = progress.total - progress.done
        eta = left / rate if rate > 0 else None
        cost = ""
        if self.hourly and summary.seconds:
            total = (summary.seconds + (eta or 0)) * self.hourly / 3600
            cost = f" · ${summary.cost_usd or 0:.2f} so far, ~${total:.2f} for the run"
        text = f"{rate:.1f} seq/s · at most {summary.concurrency} in flight · {summary.throttled} throttled{cost}"
        if self.ui.err.is_terminal:
            if self.bar is None:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
                self.bar = Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                    TextColumn("{task.description}"), console=self.ui.err, transient=False)
                self.bar.start()
                self.task = self.bar.add_task(text, total=progress.total, completed=progress.done)
            self.bar.update(self.task, completed=progress.done, description=text)
            return
        now = time.monotonic()
        if now - self.last >= PLAIN_EVERY or progress.done == progress.total:
            self.last = now
            when = f", ETA {eta:.0f} s" if eta is not None else ""
            self.ui.info(f"embedding: {progress.done}/{progress.total} ({text}{when})")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _render(ui: UI, s: Summary) -> None:
    cost = f", about ${s.cost_usd:.2f} of endpoint time (estimated; Marketplace fee extra)" if s.cost_usd else ""
    ui.ok(f"{s.done} embedded, {s.skipped} already done, {s.rejected} rejected, {s.duplicates} duplicate, "
          f"{s.failed} failed in {s.seconds:.1f} s ({s.sequences_per_second:.1f} seq/s, {s.calls} calls, "
          f"{s.throttled} throttled){cost}.")
    if not s.failed:
        ui.info(f"Wrote {s.output} ({s.unique} sequences).")
    if s.rejected:
        ui.warn(f"{s.rejected} bad record{'s' if s.rejected != 1 else ''} listed in {s.rejected_file}.")
    if s.duplicates_file:
        ui.info(f"{s.duplicates} duplicate sequence{'s' if s.duplicates != 1 else ''} (embedded once): "
                f"{s.duplicates_file}.")
    if s.windowed:
        ui.info(f"{s.windowed} sequence{'s were' if s.windowed != 1 else ' was'} longer than one request carries "
                "and embedded in overlapping windows (docs/using-the-model.md).")
