"""`esmctl doctor` and `esmctl invoke`, and the two steps they add to `deploy`: the pre-deploy
checks and the `--smoke` test. Each maps its options onto a `Workspace` call and renders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import typer

from esmctl.cli import app, g
from esmctl.errors import ChecksFailed, InvokeFailed

if TYPE_CHECKING:  # rich (through esmctl.ui) is imported on first use: `--help` stays fast
    from rich.console import Console

    from esmctl.api import DeployResult, Workspace
    from esmctl.doctor import Finding
    from esmctl.invoke import InvokeResult
    from esmctl.ui import UI

MARK = {"ok": ("green", "✓"), "warning": ("yellow", "!"), "error": ("red", "✗")}


def render_findings(con: Console, findings: Iterable[Finding]) -> None:
    from esmctl.ui import escape

    for f in findings:
        color, mark = MARK[f.level]
        con.print(f"[{color}]{mark} {f.level:<7}[/] [bold]{escape(f.name)}[/]: {escape(f.message)}")
        if f.fix and f.level != "ok":
            con.print(f"            [bold]fix:[/] {escape(f.fix)}")


def _counts(findings: list[Finding]) -> str:
    n = {level: sum(1 for f in findings if f.level == level) for level in MARK}
    return (f"{n['ok']} ok, {n['warning']} warning{'s' if n['warning'] != 1 else ''}, "
            f"{n['error']} error{'s' if n['error'] != 1 else ''}")


@app.command()
def doctor(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print the findings as JSON.")
           ) -> None:
    """Preflight checks, each ok / warning / error with its fix: credentials, region vs model package ARNs,
    Marketplace subscriptions, instance quotas, permissions, state readable and unlocked. Exit 1 on any error."""
    from esmctl import doctor as doctor_mod

    glob = g(ctx)
    ui = glob.ui()
    try:
        findings = glob.workspace(ui).doctor()  # a crashing check is a finding already (esmctl/doctor.py)
    except Exception as e:  # the last net: `--json` prints one document whatever happens
        findings = [doctor_mod.crashed("doctor", e, ui.detail)]
    if json_out:
        ui.json(doctor_mod.report(findings))
    else:
        render_findings(ui.out, findings)
        ui.out.print(_counts(findings) + ".")
    failed = doctor_mod.errors(findings)
    if failed:
        raise ChecksFailed(f"doctor found {len(failed)} error{'s' if len(failed) != 1 else ''}: "
                           f"{', '.join(f.name for f in failed)}.",
                           hint="Apply the fix shown for each, then run `esmctl doctor` again.")


def preflight(ui: UI, ws: Workspace, targets: list[str]) -> None:
    """The checks `deploy` runs first (to stderr); ChecksFailed, before anything is created, on an error."""
    from esmctl import doctor as doctor_mod

    findings = ws.preflight(targets)
    failed = doctor_mod.errors(findings)
    shown = findings if ui.verbose else [f for f in findings if f.level != "ok"]
    render_findings(ui.err, shown)
    if failed:
        raise ChecksFailed(
            f"The pre-deploy checks found {len(failed)} error{'s' if len(failed) != 1 else ''} "
            f"({', '.join(f.name for f in failed)}); nothing was created.",
            hint="Apply the fix shown for each and run `esmctl deploy` again; `esmctl doctor` runs every check; "
            "--skip-checks deploys without them.")
    ui.ok(f"Pre-deploy checks passed ({_counts(findings)}).")


def _summary(ui: UI, r: InvokeResult) -> None:
    who = " as the shared service account" if r.as_shared_user else ""
    ui.ok(f"{r.deployment}: {r.endpoint_name} answered the encode request{who}.")
    rows = [("endpoint", r.endpoint_name), ("forge model", r.forge_model_name),
            ("sequence", f"{r.sequence_length} residues"), ("latency", f"{r.latency_ms:.0f} ms"),
            ("request", f"{r.request_bytes} bytes"),
            ("response", f"{r.response_bytes} bytes ({r.content_type or '?'})")]
    if r.token_count is not None:
        rows.append(("tokens", f"{r.token_count} (one per residue, plus begin and end)"))
    for key, value in rows:
        ui.print(f"{key:<12} {value}")


@app.command()
def invoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The deployment (a key of selected_models)."),
    sequence: str = typer.Option(None, "--sequence",
                                 help="Protein sequence to encode (default: human ubiquitin, 76 residues)."),
    as_shared_user: bool = typer.Option(False, "--as-shared-user",
                                        help="Sign the request with the shared service account's access key."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Smoke test: send a Forge `encode` request to the deployment's endpoint and summarize the answer
    (latency, size, token count)."""
    glob = g(ctx)
    ui = glob.ui()
    result = glob.workspace(ui).invoke(name, sequence=sequence, as_shared_user=as_shared_user)
    if json_out:
        ui.json(result.to_json())
    else:
        _summary(ui, result)


def smoke_test(ui: UI, ws: Workspace, result: DeployResult) -> None:
    """`deploy --smoke`: invoke every endpoint this run created or updated; InvokeFailed if one fails."""
    from esmctl.ui import escape

    tested = ws.smoke_test(result)
    if not tested:
        ui.info("Smoke test: no endpoint was created or updated in this run; nothing to test.")
        return
    failed = []
    for s in tested:
        if s.result is not None:
            r = s.result
            tokens = f", {r.token_count} tokens" if r.token_count is not None else ""
            ui.ok(f"smoke test {s.deployment}: {r.endpoint_name} answered in {r.latency_ms:.0f} ms "
                  f"({r.response_bytes} bytes{tokens})")
        elif s.error is not None:
            failed.append(s.deployment)
            ui.err.print(f"[red]✗[/] smoke test {escape(s.deployment)}: {escape(s.error.message)}")
            if s.error.hint:
                ui.err.print(f"  [bold]Next:[/] {escape(s.error.hint)}")
    if failed:
        raise InvokeFailed(f"The smoke test failed for {', '.join(failed)} (see above); the deploy itself "
                           "was applied and recorded.",
                           hint="`esmctl invoke NAME -v` repeats the test with details.")
