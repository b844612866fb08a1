"""How plans, status and outputs look in a terminal (Terraform's conventions where they exist)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from esmctl import budget, durations, prices
from esmctl.ui import UI, escape

if TYPE_CHECKING:
    from esmctl.api import IdleStop
    from esmctl.plan import Plan

COLOR = {"+": "green", "~": "yellow", "-": "red", "-/+": "magenta"}


def render_plan(ui: UI, plan: Plan, drift: list[str], *, out: bool) -> None:
    """The plan, Terraform-style; to stdout for `plan`, to stderr before `deploy` asks."""
    con = ui.out if out else ui.err
    for d in drift:
        con.print(f"[yellow]drift:[/] {escape(d)}")
    if drift:
        con.print()
    if plan.empty:
        con.print("No changes. The deployments match the configuration.")
    else:
        con.print("esmctl will perform the following actions:\n")
        for a in plan.shown:
            con.print(f"  [{COLOR.get(a.symbol, 'cyan')}]{escape(a.describe())}[/]")
        con.print()
    for n in plan.notes:
        con.print(f"[dim]note:[/] {escape(n)}")
    for name in plan.stopped:
        con.print(f"  {escape(name)}: stopped (not billed)")
    if not plan.empty:
        con.print(f"[bold]{plan.summary()}[/]")
    delta = plan.cost_after - plan.cost_before
    sign = "+" if delta >= 0 else "-"
    unknown = f"; no price known for {', '.join(plan.unknown_prices)}" if plan.unknown_prices else ""
    con.print(f"Estimated cost: {prices.money(plan.cost_before)} → {prices.money(plan.cost_after)} "
              f"({sign}{prices.money(abs(delta))}){escape(unknown)}  [dim](estimates; the model's Marketplace fee "
              "is extra)[/]")
    scheduled = [(n, usd, h) for n, usd, h in plan.monthly if h < 729.5]
    if scheduled:
        con.print("Estimated per month with office hours: " + ", ".join(
            f"{escape(n)} {prices.money(usd, per_hour=False)} ({h:,.0f} h)" for n, usd, h in scheduled))
    if plan.projection is not None:
        _budget_line(con, plan.projection.to_json())
        if plan.over_budget:
            con.print("[red]deploy refuses this plan: it raises the month's projection, which is over the budget "
                      "(`deploy --over-budget` to go ahead).[/]")


def _budget_line(con: Any, doc: dict[str, Any]) -> None:
    """The month's projection, in yellow from 80 % of the budget and red above it."""
    style = {"warning": "yellow", "over": "red"}.get(doc["level"], "")
    if doc["budget_usd"] is None and not doc["deployments"]:
        return
    text = budget.describe(doc)
    con.print(f"[{style}]{escape(text)}[/]" if style else escape(text))


def render_status(ui: UI, doc: dict[str, Any]) -> None:
    rows = []
    for r in doc["deployments"]:
        since = r["running_since"] or (f"stopped {r['stopped_at']}" if r["stopped_at"] else "")
        if r.get("stop_scheduled_at"):
            since += f" (stops {r['stop_scheduled_at']})"
        sched = r.get("schedule")
        if sched and sched["active"]:
            edge, at = ("stops", sched["next_stop"]) if r["running_since"] else ("starts", sched["next_start"])
            since += f" ({edge} {at})" if at else ""
        instances = f"{r['instance_type']} × {r['instance_count']}"
        scaled = r.get("autoscaling")
        if scaled:
            desired = scaled["desired_instances"]
            instances += (f" → {desired}" if desired is not None and desired != r["instance_count"] else "") + \
                f" [{scaled['min_instances']}-{scaled['max_instances']}]"
        rows.append([r["name"], r["selector"], r["endpoint_name"] or "-", r["status"], escape(instances),
                     prices.money(r["estimated_cost_per_hour"]), since or "-",
                     prices.money(r["estimated_cost_so_far"], per_hour=False)])
    t = doc["total"]
    rows.append(["total", "", "", "", "", prices.money(t["estimated_cost_per_hour"]), "",
                 prices.money(t["estimated_cost_so_far"], per_hour=False)])
    ui.table(["deployment", "selector", "endpoint", "status", "instances", "est. $/h", "running since",
              "est. cost so far"], rows,
             title=f"{doc['environment']} ({doc['region']}) — costs are estimates"
             + ("" if doc["refreshed"] else ", from the state (not refreshed)"))
    if doc.get("budget"):
        _budget_line(ui.err, doc["budget"])
    for r in doc["deployments"]:
        if r["failure_reason"]:
            ui.warn(f"{r['name']}: {r['failure_reason']} (logs: /aws/sagemaker/Endpoints/{r['endpoint_name']})")


SENSITIVE = {"shared_service_user_secret_access_key"}


def render_outputs(ui: UI, outs: dict[str, Any], *, json_out: bool, name: str | None = None) -> None:
    """Like `terraform output`: sensitive values hidden unless asked for by name with --json."""
    if json_out:
        # The secret map keeps its shape ({user: "<sensitive>"}) unless the caller read it (reveal).
        ui.json(outs[name] if name is not None else outs)
        return
    items = {name: outs[name]} if name else outs
    for key, value in items.items():
        if key in SENSITIVE and value:
            ui.print(f"{key} = <sensitive>")
        else:
            ui.print(f"{key} = {_hcl(value)}")


def _hcl(value: Any, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n".join(f'{pad}  "{k}" = {_hcl(v, indent + 1)}' for k, v in value.items())
        return "{\n" + inner + f"\n{pad}}}"
    return f'"{value}"'


def render_idle(ui: UI, found: IdleStop, *, json_out: bool) -> None:
    """What `stop --idle-for` found, before it stops anything: a line per endpoint, or JSON on stdout."""
    if json_out:
        ui.json(found.to_json())
        return
    for r in found.endpoints:
        (ui.warn if r["idle"] else ui.info)(f"{r['name']}: {r['endpoint_name']} — {r['reason']}")
    ui.info(f"{len(found.idle)} idle for {durations.human(found.window)}: {', '.join(found.idle) or 'none'}"
            + (" (dry run: nothing stopped)" if found.dry_run else ""))
