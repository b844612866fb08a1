"""The deployment commands: init, validate, catalog, plan, deploy, status, output, destroy,
refresh, unlock. Each maps its options onto an `esmctl.api.Workspace` call and renders the result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from esmctl import durations, prices
from esmctl.cli import app, g
from esmctl.errors import DeployFailed, EsmctlError

if TYPE_CHECKING:
    from esmctl.api import DeployResult, Workspace
    from esmctl.ui import UI


# Rendering needs the planner's types (and so pydantic): imported on use, so `--help` stays fast.
def render_plan(*args: Any, **kwargs: Any) -> None:
    from esmctl.cli.render import render_plan as f
    f(*args, **kwargs)


def render_outputs(*args: Any, **kwargs: Any) -> None:
    from esmctl.cli.render import render_outputs as f
    f(*args, **kwargs)


def render_status(*args: Any, **kwargs: Any) -> None:
    from esmctl.cli.render import render_status as f
    f(*args, **kwargs)


def render_idle(*args: Any, **kwargs: Any) -> None:
    from esmctl.cli.render import render_idle as f
    f(*args, **kwargs)


@app.command()
def init(
    ctx: typer.Context,
    example: str = typer.Option("basic", "--example", help="basic, basic_shared_user or multi_model."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Write esmctl.yaml and models.yaml for an example (refuses to overwrite without --force)."""
    from esmctl.api import EXAMPLES

    glob = g(ctx)
    ui = glob.ui()
    if example not in EXAMPLES:
        raise typer.BadParameter(f"must be one of {', '.join(EXAMPLES)}", param_hint="--example")
    glob.workspace(ui).init(example, force=force)  # a line per file written
    ui.info("Next: `esmctl validate`, then `esmctl plan` and `esmctl deploy`.")


@app.command()
def validate(ctx: typer.Context) -> None:
    """Check esmctl.yaml and models.yaml offline (no AWS call)."""
    glob = g(ctx)
    ui = glob.ui()
    cfg = glob.workspace(ui).validate()
    n = len(cfg.deployments)
    ui.ok(f"{cfg.path} and {cfg.catalog_path} are valid: {n} deployment{'s' if n != 1 else ''} in "
          f"environment {cfg.environment!r}, region {cfg.region}.")


@app.command()
def catalog(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The model catalog: selector, forge model, instance type × count, estimated $/h."""
    glob = g(ctx)
    ui = glob.ui()
    doc = glob.workspace(ui).catalog()
    if json_out:
        ui.json(doc)
        return
    ui.table(["selector", "forge model", "instance", "est. $/h", "est. $/month 24×7"],
             [[r["selector"], r["forge_model_name"], f"{r['instance_type']} × {r['instance_count']}",
               prices.money(r["estimated_cost_per_hour"]),
               prices.money(r["estimated_cost_per_month"], per_hour=False)] for r in doc["models"]],
             title=f"Model catalog ({doc['region']}; prices are estimates, Marketplace fee extra)")
    for d in doc["selected"]:
        how = [f"office hours {', '.join(d['schedule'])} ({d['hours_per_month']:,.0f} h)" if d["schedule"] else
               "around the clock", f"autoscaled from {d['instances']}" if d["autoscaling"] else ""]
        ui.info(f"{d['name']} ({d['selector']}, {d['instance_type']} × {d['instances']}): "
                f"{prices.money(d['estimated_cost_per_month'], per_hour=False)} a month, "
                + ", ".join(h for h in how if h) + " (estimate)")


@app.command()
def plan(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                           help="Exit 2 when there are changes, 0 when none."),
    no_refresh: bool = typer.Option(False, "--no-refresh",
                                    help="Plan from the state alone (no AWS call but reading a remote state)."),
    target: list[str] = typer.Option([], "--target", help="Only this deployment (repeatable)."),
    ttl: str = typer.Option(None, "--ttl", help="What `deploy --ttl DURATION` would do: the stop timers too."),
    rotate_key: bool = typer.Option(False, "--rotate-key", help="What `creds rotate` would do, step by step."),
) -> None:
    """Show what `deploy` would do (+ create, ~ update, -/+ replace, - delete). Changes nothing."""
    glob = g(ctx)
    ui = glob.ui()
    ttl_s = durations.parse_duration(ttl, "--ttl") if ttl else None
    if rotate_key and (ttl_s or target):
        raise typer.BadParameter("--rotate-key plans the key rotation alone: leave out --ttl and --target",
                                 param_hint="--rotate-key")
    result = glob.workspace(ui).plan(refresh=not no_refresh, targets=target, ttl=ttl_s, rotate_key=rotate_key)
    if json_out:
        ui.json({**result.plan.to_json(), "drift": result.drift, "refreshed": result.refreshed})
    else:
        render_plan(ui, result.plan, result.drift, out=True)
    if detailed_exitcode and not result.plan.empty:
        raise typer.Exit(2)


@app.command()
def deploy(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return once the calls are made; don't wait."),
    target: list[str] = typer.Option([], "--target", help="Only this deployment (repeatable)."),
    parallelism: int = typer.Option(16, "--parallelism", min=1, max=256,
                                    help="Deployments worked on at once (calls are paced when AWS throttles)."),
    timeout: float = typer.Option(None, "--timeout", min=1,
                                  help="Seconds to wait for endpoints (default ESMCTL_WAIT_TIMEOUT or 3600)."),
    ttl: str = typer.Option(None, "--ttl", help="Stop (delete) the endpoints after this long, e.g. 8h, "
                            "with an EventBridge Scheduler timer that works with this machine off."),
    smoke: bool = typer.Option(False, "--smoke", help="Then send a Forge encode request to each endpoint "
                               "created or updated in this run; a failed one exits 1."),
    skip_checks: bool = typer.Option(False, "--skip-checks", help="Skip the pre-deploy checks (credentials, "
                                     "region, Marketplace subscription, instance quotas)."),
    over_budget: bool = typer.Option(False, "--over-budget", help="Apply a plan that raises the month's "
                                     "projection although it is over budget.monthly_usd."),
) -> None:
    """Check, plan, confirm, create/update everything, wait until every endpoint is InService."""
    from esmctl.cli.doctor import preflight, smoke_test

    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    ttl_s = durations.parse_duration(ttl, "--ttl") if ttl else None
    if smoke and no_wait:
        raise typer.BadParameter("--smoke waits for the endpoints: leave out --no-wait", param_hint="--smoke")
    if not skip_checks:
        preflight(ui, ws, target)  # before the lock and before anything is created
    result = ws.deploy(yes=yes, wait=not no_wait, targets=target, parallelism=parallelism, timeout=timeout,
                       ttl=ttl_s, over_budget=over_budget, show_plan=lambda p, d: render_plan(ui, p, d, out=False))
    _finish(ui, ws, result)
    if smoke:
        smoke_test(ui, ws, result)


@app.command()
def destroy(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Destroy without asking."),
    target: list[str] = typer.Option([], "--target", help="Only this deployment (repeatable)."),
) -> None:
    """Delete everything esmctl created for the environment (or only --target deployments)."""
    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    result = ws.destroy(yes=yes, targets=target, show_plan=lambda p, d: render_plan(ui, p, d, out=False))
    if result.outcome and result.outcome.failures:
        raise DeployFailed(f"{len(result.outcome.failures)} step(s) failed; the rest was destroyed.",
                           hint="Fix the causes above and run `esmctl destroy` again.")
    if result.outcome is not None:
        ui.ok("Destroyed.")


def _finish(ui: UI, ws: Workspace, result: DeployResult) -> None:
    outcome = result.outcome
    if outcome is not None and outcome.still_busy and not outcome.failures:
        ui.info(f"Still in progress in AWS: {', '.join(outcome.still_busy)}; `esmctl status` shows it.")
    if outcome is not None and not outcome.failures and not outcome.still_busy:
        stopped = list(result.plan.stopped)
        ui.ok(f"Done; stopped (not billed): {', '.join(stopped)}." if stopped else
              "All endpoints are InService." if ws.config.deployments else "Done.")
    render_outputs(ui, ws.outputs(), json_out=False)
    if outcome is not None and outcome.failures:
        n = len(outcome.failures)
        raise DeployFailed(f"{n} deployment step{'s' if n != 1 else ''} failed (see above); "
                           "everything else was applied and recorded.",
                           hint="Fix the causes and run `esmctl deploy` again; it resumes from the state.")


@app.command()
def stop(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Deployments to stop (logical names)."),
    all_: bool = typer.Option(False, "--all", help="Stop every deployment of the environment."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Stop without asking."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Don't wait until the endpoints are gone."),
    idle_for: str = typer.Option(None, "--idle-for", help="Only endpoints with no invocation in this window "
                                 "(CloudWatch), e.g. 2h; never one younger than the window. For cron."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --idle-for: report, stop nothing."),
    at: str = typer.Option(None, "--at", help="Stop at this time instead of now (EventBridge Scheduler), "
                           "e.g. 2026-12-01T19:00 (local time) or ...Z for UTC."),
    json_out: bool = typer.Option(False, "--json", help="With --idle-for: print the findings as JSON."),
) -> None:
    """Delete the endpoint(s) only: billing stops, model and endpoint config stay; `start` brings them back."""
    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    names = names or []
    if at is not None:
        when = durations.parse_time(at, "--at", durations.utcnow())
        done = ws.stop_at(names, all=all_, at=when)
        if not done:
            ui.warn("No running deployment to set a timer for.")
        return
    if idle_for is not None:
        found = ws.stop_idle(durations.parse_duration(idle_for, "--idle-for"), names, dry_run=dry_run, yes=yes,
                             wait=not no_wait, show_idle=lambda f: render_idle(ui, f, json_out=json_out),
                             show_plan=lambda p, d: render_plan(ui, p, d, out=False))
        if found.stopped is None:  # a dry run, or nothing idle
            return
        result = found.stopped
    elif dry_run:
        raise typer.BadParameter("--dry-run goes with --idle-for", param_hint="--dry-run")
    else:
        result = ws.stop(names, all=all_, yes=yes, wait=not no_wait,
                         show_plan=lambda p, d: render_plan(ui, p, d, out=False))
    _fail_on(result, "stop")
    if result.outcome is not None:
        ui.ok("Stopped; the endpoints are no longer billed. `esmctl start NAME` recreates them.")


@app.command()
def start(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Deployments to start (logical names)."),
    all_: bool = typer.Option(False, "--all", help="Start every deployment of the environment."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Don't wait for InService."),
) -> None:
    """Recreate stopped endpoint(s) under the same endpoint name from the kept config; wait for InService."""
    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    result = ws.start(names or [], all=all_, wait=not no_wait,
                      show_plan=lambda p, d: render_plan(ui, p, d, out=False))
    _finish(ui, ws, result)


def _fail_on(result: DeployResult, what: str) -> None:
    if result.outcome is not None and result.outcome.failures:
        n = len(result.outcome.failures)
        raise DeployFailed(f"{n} step{'s' if n != 1 else ''} of {what} failed (see above).",
                           hint=f"Fix the causes and run `esmctl {what}` again.")


@app.command()
def status(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Only this deployment."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    no_refresh: bool = typer.Option(False, "--no-refresh",
                                    help="From the state alone (no AWS call but reading a remote state)."),
) -> None:
    """Live status, hardware, estimated $/h and cost so far of each deployment."""
    glob = g(ctx)
    ui = glob.ui()
    doc = glob.workspace(ui).status(name, refresh=not no_refresh)
    if json_out:
        ui.json(doc)
    else:
        render_status(ui, doc)


@app.command()
def output(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="One output, e.g. sagemaker_endpoints."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (shows sensitive values when NAME is given)."),
) -> None:
    """The Terraform module's outputs (same names and shapes), from the state."""
    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    outs = ws.outputs()
    if name is not None and name not in outs:
        raise EsmctlError(f"No output named {name!r}.", hint=f"Outputs: {', '.join(outs)}.")
    if json_out and name == "shared_service_user_secret_access_key":
        outs = ws.outputs(reveal=True)  # asked for by name with --json, as `terraform output -json NAME`
    render_outputs(ui, outs, json_out=json_out, name=name)


@app.command()
def refresh(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Reconcile the state with AWS and report drift (deleted, failed or changed resources)."""
    glob = g(ctx)
    ui = glob.ui()
    drift = glob.workspace(ui).refresh()
    if json_out:
        ui.json({"drift": drift})
        return
    if not drift:
        ui.ok("No drift: AWS matches the state.")
    for d in drift:
        ui.warn(d)
    if drift:
        ui.info("`esmctl plan` shows the repair; `esmctl deploy` performs it.")


@app.command()
def unlock(ctx: typer.Context,
           force: bool = typer.Option(False, "--force", help="Remove the lock even if its holder may be alive.")
           ) -> None:
    """Remove a lock left by a dead esmctl process (refuses a live holder unless --force)."""
    glob = g(ctx)
    ui = glob.ui()
    ws = glob.workspace(ui)
    holder = ws.unlock(force=force)
    where = ws.backend.lock_where
    ui.ok(f"Removed the lock {where} held by {holder.describe()}." if holder else f"There was no lock ({where}).")


prices_app = typer.Typer(help="Estimated instance prices: refresh the local cache from the AWS Price List API.",
                         no_args_is_help=True)
app.add_typer(prices_app, name="prices")


@prices_app.command("refresh")
def prices_refresh(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print the fetched prices as JSON."),
) -> None:
    """Update the local price cache from the AWS Price List API (for this configuration's region)."""
    glob = g(ctx)
    ui = glob.ui()
    r = glob.workspace(ui).prices_refresh()  # without esmctl.yaml: --region, else the module's default
    if json_out:
        ui.json(r)
        return
    ui.ok(f"{len(r['prices'])} SageMaker real-time inference instance prices for {r['region']} written to "
          f"{r['cache']} (on-demand, estimates; the model's Marketplace fee is extra).")
