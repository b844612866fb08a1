"""`esmctl permissions`: the IAM policy a person or CI role needs to run esmctl here."""

from __future__ import annotations

import typer

from esmctl.cli import app, g


@app.command()
def permissions(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print the policy document (JSON) alone."),
    scope: str = typer.Option("all", "--scope", help="deploy, invoke or all."),
) -> None:
    """The least-privilege IAM policy esmctl needs for this configuration, built from what each step
    declares (offline; `doctor` simulates exactly these actions)."""
    glob = g(ctx)
    ui = glob.ui()
    doc = glob.workspace(ui).permissions(scope=scope)
    if json_out:
        ui.json(doc)
        return
    rows = []
    for s in doc["Statement"]:
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        rows.append([s["Sid"], "\n".join(s["Action"]), "\n".join(resources)])
    n = len({a for s in doc["Statement"] for a in s["Action"]})
    ui.table(["statement", "actions", "resources"], rows, title=f"IAM policy for esmctl ({scope}): {n} actions")
    ui.info("`esmctl permissions --json` prints the policy document to attach (docs/team.md).")
