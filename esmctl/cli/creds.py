"""`esmctl creds` and `esmctl creds rotate`: the shared service account's access key."""

from __future__ import annotations

import typer

from esmctl.cli import app, g

creds_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                        help="The shared service account's access key (secret masked unless --reveal).")
app.add_typer(creds_app, name="creds")

FORMATS = ("table", "json", "env", "credentials")


@creds_app.callback()
def creds(
    ctx: typer.Context,
    reveal: bool = typer.Option(False, "--reveal", help="Print the secret access key itself."),
    fmt: str = typer.Option("table", "--format", help="table, json, env or credentials."),
) -> None:
    """User name, access key id, creation date and the secret (masked unless --reveal)."""
    if ctx.invoked_subcommand is not None:
        return
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    c = ws.creds(reveal=reveal)
    if fmt == "json":
        ui.json({k: c[k] for k in ("user_name", "aws_access_key_id", "aws_secret_access_key", "created")})
    elif fmt == "env":
        ui.print(f"export AWS_ACCESS_KEY_ID={c['aws_access_key_id']}")
        ui.print(f"export AWS_SECRET_ACCESS_KEY={c['aws_secret_access_key']}")
        ui.print(f"export AWS_REGION={c['region']}")
    elif fmt == "credentials":
        ui.print(f"[esm-shared-{ws.config.environment}]")
        ui.print(f"aws_access_key_id = {c['aws_access_key_id']}")
        ui.print(f"aws_secret_access_key = {c['aws_secret_access_key']}")
        ui.print(f"region = {c['region']}")
    else:
        ui.table(["user name", "access key id", "secret access key", "created"],
                 [[c["user_name"], c["aws_access_key_id"], c["aws_secret_access_key"], c["created"] or "?"]])
    if not reveal:
        ui.info("The secret is masked; add --reveal to print it.")


@creds_app.command("rotate")
def rotate(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Rotate without asking."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (no secret)."),
) -> None:
    """Create a new access key, store and verify it, then delete the old one."""
    glob = g(ctx)
    ui = glob.ui()
    from esmctl.cli.render import render_plan

    result = glob.workspace(ui).rotate_key(yes=yes, show_plan=lambda p, d: render_plan(ui, p, d, out=False))
    if json_out:
        ui.json(result)
    else:
        ui.ok(f"Rotated the key of {result['user_name']}: {result['old_access_key_id']} → "
              f"{result['aws_access_key_id']}. `esmctl creds --reveal` shows the new secret.")
