"""`esmctl state pull | push | migrate`: move the state between local files and S3."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from esmctl.cli import app, g
from esmctl.errors import EsmctlError

state_app = typer.Typer(help="Move the state between a local file and S3 (with serial and lineage checks).",
                        no_args_is_help=True)
app.add_typer(state_app, name="state")


@state_app.command("pull")
def pull(
    ctx: typer.Context,
    output: str = typer.Option(None, "-o", "--output", help="Write it to this file (mode 0600) instead of stdout."),
) -> None:
    """Print the state document as stored (local file or S3), e.g. to keep a copy or edit it."""
    glob = g(ctx)
    ui = glob.ui()
    raw = glob.workspace(ui).state_pull()
    if output is None:
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return
    from esmctl.state import _atomic_write
    try:
        _atomic_write(Path(output), raw)
    except OSError as e:
        raise EsmctlError(f"Cannot write {output}: {e.strerror or e}.", hint="Name a file in a folder that exists.") \
            from None
    ui.ok(f"Wrote the state to {output}.")


@state_app.command("push")
def push(
    ctx: typer.Context,
    path: str = typer.Argument(..., help="A state file (e.g. from `state pull`); - reads standard input."),
    force: bool = typer.Option(False, "--force", help="Write it even if its lineage differs or its serial is older."),
) -> None:
    """Replace the state with a local file, as Terraform does: same lineage, serial not older."""
    glob = g(ctx)
    ui = glob.ui()
    if path == "-":
        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = Path(path).read_bytes()
        except OSError as e:
            raise EsmctlError(f"Cannot read {path}: {e.strerror or e}.", hint="Name a state file.") from None
    ws = glob.workspace(ui)
    result = ws.state_push(raw, source=path, force=force)
    if result == "unchanged":
        ui.ok(f"{ws.backend.where} already holds exactly this state; nothing was written.")
    else:
        ui.ok(f"Wrote {path} to {ws.backend.where}.")


@state_app.command("migrate")
def migrate(
    ctx: typer.Context,
    to: str = typer.Option(..., "--to", metavar="URL|PATH",
                           help="s3://BUCKET/PREFIX/, a local path, or `local` for state/<environment>.json."),
    force: bool = typer.Option(False, "--force", help="Replace a state already there even if it is newer or "
                               "of another lineage."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Copy the state, unchanged, to another location and point `state:` in esmctl.yaml at it."""
    glob = g(ctx)
    ui = glob.ui()
    r = glob.workspace(ui).state_migrate(to, force=force)
    if json_out:
        ui.json(r)
        return
    if r["result"] == "unchanged":
        ui.ok(f"{r['to']} already holds this state (serial {r['serial']}).")
    else:
        ui.ok(f"Copied the state (serial {r['serial']}, lineage {r['lineage']}) from {r['from']} to {r['to']}.")
    if r["config_updated"]:
        ui.ok(f"{r['config']} now says `state: {to if to != 'local' else ''}`; commit it so everyone uses it.")
    else:
        ui.info(f"Point `state:` in {r['config']} (or --state) at {r['to']} to use it.")
    ui.info(f"The copy at {r['from']} was left as it is: delete it once nobody uses it.")


@app.command("import-terraform")
def import_terraform(
    ctx: typer.Context,
    path: str = typer.Argument(..., help="The Terraform state (format version 4, e.g. `terraform state pull > "
                               "tf.json`) or `terraform show -json` output."),
    module: str = typer.Option(None, "--module", help="Which module instance to adopt (e.g. `esm` for module.esm) "
                               "when the state holds several."),
    secret_store: str = typer.Option("secretsmanager", "--secret-store",
                                     help="Where to keep the access key's secret: secretsmanager or local."),
    force: bool = typer.Option(False, "--force", help="Replace an existing esmctl.yaml."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Adopt the resources of the Terraform module (same names and suffixes): writes esmctl.yaml and
    the esmctl state, and moves the access key's secret to the secret store."""
    if secret_store not in ("secretsmanager", "local"):
        raise typer.BadParameter("must be secretsmanager or local", param_hint="--secret-store")
    glob = g(ctx)
    ui = glob.ui()
    r = glob.workspace(ui).import_terraform(path, module=module, force=force, secret_store=secret_store)
    if json_out:
        ui.json(r)
        return
    n = len(r["deployments"])
    ui.ok(f"Adopted {r['module']}: {n} deployment{'s' if n != 1 else ''} ({', '.join(r['deployments']) or 'none'})"
          + (f" and the shared user {r['shared_user']}" if r["shared_user"] else "") + f"; state at {r['state']}.")
    ui.ok(f"Wrote {r['config']}" + (f" and {r['models_yaml_written']}" if r["models_yaml_written"] else "") + ".")
    if r["secret"]:
        ui.ok(f"The access key's secret is now in {r['secret']} (not in the esmctl state).")
    for note in r["notes"]:
        ui.warn(note)
    for d in r["drift"]:
        ui.warn(f"drift: {d}")
    ui.info("Next:")
    ui.info("  1. `esmctl plan` — it should only add esmctl's tags and narrow the invoke policy; then `esmctl deploy`.")
    ui.info(f"  2. In the Terraform configuration: `terraform state rm {r['terraform_state_rm']}` — never "
            "`terraform destroy`, which would delete the endpoints esmctl now manages; then remove the module block.")
    ui.info(f"  3. Delete {path} and any copy of the Terraform state: it holds the access key's secret in plain text.")
