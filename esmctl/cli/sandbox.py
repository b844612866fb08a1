"""`esmctl demo` and `esmctl sandbox`: the whole lifecycle with no AWS account, on patched moto."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import typer

from esmctl.cli import app, g

SANDBOX_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-2",
    "AWS_DEFAULT_REGION": "us-east-2",
}


@app.command()
def sandbox(
    ctx: typer.Context,
    port: int = typer.Option(5005, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0 = any free port)."),
    creating_seconds: float = typer.Option(30.0, "--creating-seconds", min=0,
                                           help="How long new endpoints stay Creating."),
) -> None:
    """Run the sandbox (patched moto) on 127.0.0.1 and print the exports that point esmctl at it."""
    from esmctl import sandbox as sb

    ui = g(ctx).ui()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    sb.control.creating_seconds = creating_seconds
    sb.control.updating_seconds = creating_seconds

    def ready(server: sb.SandboxServer) -> None:
        for k, v in {**SANDBOX_ENV, "AWS_ENDPOINT_URL": server.url}.items():
            ui.print(f"export {k}={v}")
        ui.info(f"Sandbox listening on {server.url} (fake credentials; nothing leaves this machine). "
                "Ctrl-C stops it.")
        c = sb.control
        ui.info(f"It behaves like AWS: a new role is refused for {c.role_propagation_seconds:g} s, a new key for "
                f"{c.key_propagation_seconds:g} s, a new endpoint config for {c.config_lookup_seconds:g} s, a deleted "
                f"secret's name for {c.secret_deletion_seconds:g} s; API rate limits "
                f"{'on' if c.rate_limits else 'off'}; its model answers in {c.invoke_base_seconds:g} s + "
                f"{c.invoke_seconds_per_token:g} s a token, {c.concurrency_per_instance} calls at once per instance "
                "(ESMCTL_SANDBOX_* variables; docs/aws-behaviour.md).")

    sb.serve_forever(port, on_ready=ready)
    ui.info("Sandbox stopped.")


@app.command()
def demo(
    ctx: typer.Context,
    creating_seconds: float = typer.Option(3.0, "--creating-seconds", min=0,
                                           help="How long sandbox endpoints stay Creating."),
    keep: bool = typer.Option(False, "--keep", help="Keep the demo folder afterwards."),
) -> None:
    """Run init → plan → deploy → status → output → embed → stop → start → destroy against the built-in sandbox."""
    from esmctl import sandbox as sb
    from esmctl.cli import run

    ui = g(ctx).ui()
    for k, v in SANDBOX_ENV.items():
        os.environ[k] = v
    os.environ.setdefault("ESMCTL_POLL_INTERVAL", "0.5")
    os.environ.pop("AWS_PROFILE", None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sb.control.creating_seconds = creating_seconds
    sb.control.updating_seconds = creating_seconds
    server = sb.start_server(port=0)
    folder = Path(tempfile.mkdtemp(prefix="esmctl-demo-"))
    ui.info(f"esmctl demo: a sandbox AWS on {server.url}, working folder {folder}\n")
    steps = [
        ["init", "--example", "multi_model"],
        ["validate"],
        ["plan"],
        ["deploy", "--yes"],
        ["status"],
        ["output"],
        ["embed", "proteins.fasta", "-o", "embeddings.npz", "--deployment", "prototype_model"],
        ["plan", "--detailed-exitcode"],
        ["stop", "performance_model", "--yes"],
        ["status"],
        ["start", "performance_model"],
        ["destroy", "--yes"],
    ]
    cwd = os.getcwd()
    code = 0
    try:
        os.chdir(folder)
        _demo_proteins(folder / "proteins.fasta")
        for step in steps:
            ui.err.print(f"\n[bold]$ esmctl {' '.join(step)}[/]")
            code = run(["--endpoint-url", server.url, *step])
            if code != 0:
                ui.error(f"`esmctl {' '.join(step)}` exited {code}; the demo stops here.")
                break
    finally:
        os.chdir(cwd)
        server.stop()
    if code == 0:
        ui.ok("Demo complete: two ESM endpoints were deployed, inspected, used to embed 40 proteins, stopped, "
              "started and destroyed in the sandbox.")
        ui.info("Next, in your own account: `esmctl init`, subscribe to the model in AWS Marketplace "
                "(docs/getting-started.md), then `esmctl deploy`.")
    if keep:
        ui.info(f"The demo folder is kept: {folder}")
    else:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    raise typer.Exit(code)


def _demo_proteins(path: Path) -> None:
    """40 synthetic proteins of 50–400 residues, one duplicated and one with a bad letter."""
    import random

    rnd = random.Random(7)
    seqs = ["M" + "".join(rnd.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rnd.randint(50, 400))) for _ in range(40)]
    records = [f">demo{i}\n{s}" for i, s in enumerate(seqs)] + [f">demo0_again\n{seqs[0]}", ">broken\nMKT1AYIAK"]
    path.write_text("\n".join(records) + "\n")
