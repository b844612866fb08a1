"""Plan stage: desired (config) × recorded (state) × observed (AWS) → an ordered, frozen Plan.

Pure: no I/O, no clock, no randomness of its own (new suffixes come from an injected function).
The kinds in esmctl/resources/ each add their actions in turn (resources.KINDS); this module knows
none of them: it orders the actions, counts them and prices the result. `plan` renders the Plan;
`deploy` hands the same Plan to the executor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from esmctl import budget, naming, prices, resources
from esmctl.config import Config
from esmctl.observe import Observed
from esmctl.resources import Action, Planning
from esmctl.resources._base import Phase
from esmctl.state import State

_SECTION = {m.__name__.rsplit(".", 1)[-1]: i for i, m in enumerate(resources.SECTIONS)}  # kind → its place


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    wait_for: tuple[tuple[str, str], ...] = ()  # (deployment, endpoint) already busy in AWS that deploy waits for
    cost_before: float = 0.0
    cost_after: float = 0.0
    unknown_prices: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()  # deployments kept stopped (not billed)
    projection: budget.Projection | None = None  # the month once the plan is done (with `now`)
    projected_before: float = 0.0  # USD: the month's projection as things are (the same estimate, before the plan)
    monthly: tuple[tuple[str, float | None, float], ...] = ()  # (deployment, est. USD, hours) an average month

    def _count(self, i: int) -> int:
        return sum(a.handler.counts[i] for a in self.actions)

    @property
    def add(self) -> int:
        return self._count(0)

    @property
    def change(self) -> int:
        return self._count(1)

    @property
    def destroy(self) -> int:
        return self._count(2)

    @property
    def empty(self) -> bool:
        return all(a.handler.quiet for a in self.actions)

    @property
    def shown(self) -> tuple[Action, ...]:
        """The steps a person reads (bookkeeping left out)."""
        return tuple(a for a in self.actions if not a.handler.quiet)

    def summary(self) -> str:
        return f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy."

    def in_phase(self, phase: Phase) -> list[Action]:
        return [a for a in self.actions if a.phase == phase]

    def by_deployment(self, phase: Phase) -> dict[str, list[Action]]:
        out: dict[str, list[Action]] = {}
        for a in self.in_phase(phase):
            out.setdefault(a.deployment, []).append(a)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [a.to_json() for a in self.actions],
            "summary": {"add": self.add, "change": self.change, "destroy": self.destroy},
            "changes": not self.empty,
            "notes": list(self.notes),
            "wait_for": [name for _, name in self.wait_for],
            "stopped": list(self.stopped),
            "estimated_cost_per_hour": {"before": round(self.cost_before, 4),
                                        "after": round(self.cost_after, 4),
                                        "unknown_prices": list(self.unknown_prices)},
            "estimated_cost_per_month": {n: {"usd": None if usd is None else round(usd, 2), "hours": round(h, 1)}
                                         for n, usd, h in self.monthly},
            "budget": self.projection.to_json() if self.projection else None,
        }

    @property
    def over_budget(self) -> bool:
        """The month's projection is over the budget once the plan is done, and the plan raises it (a plan
        that stops, removes or shrinks is never over budget)."""
        return bool(self.projection and self.projection.level == "over"
                    and self.projection.projected_usd > self.projected_before + 0.005)


def plan(
    config: Config | None,
    state: State | None,
    observed: Observed,
    *,
    new_suffix: Callable[[], str] = naming.new_suffix,
    targets: Iterable[str] = (),
    destroy: bool = False,
    ttl: float | None = None,
    now: dt.datetime | None = None,
    started: Iterable[str] = (),
) -> Plan:
    """Everything `deploy` (or `destroy`) must do, in order. `ttl`: also a stop timer on each
    deployment in scope, firing `ttl` seconds after the run (`deploy --ttl`). `now`: the wall clock
    (office hours, the month's projection); `started`: deployments `esmctl start` runs whatever the hour."""
    ctx = Planning.start(config, state, observed, new_suffix=new_suffix, targets=targets, destroy=destroy, ttl=ttl,
                         now=now, started=started)
    for kind in resources.KINDS:
        kind.plan(ctx)
    for cleanup in resources.hooks("cleanup"):
        cleanup(ctx)
    return finish(ctx)


def plan_only(ctx: Planning, step: Callable[[Planning], None]) -> Plan:
    """A plan of one kind's special steps (a key rotation, timers alone), priced as nothing changes."""
    step(ctx)
    return finish(ctx, unchanged=True)


def finish(ctx: Planning, *, unchanged: bool = False) -> Plan:
    """Order the planned actions and price the result."""
    region = ctx.region
    overrides = dict(ctx.config.settings.prices) if ctx.config else {}
    billing = [k for k in resources.KINDS if hasattr(k, "billed_now")]  # the kinds that bill by the hour
    now = {n: v for k in billing for n, v in k.billed_now(ctx.state, ctx.observed).items()}
    after_set = now if unchanged else {n: v for k in billing for n, v in k.billed_after(ctx).items()}
    before, unknown_b = _cost(now, region, overrides)
    after, unknown_a = _cost(after_set, region, overrides)
    projection: budget.Projection | None = None
    projected_before = 0.0
    monthly: tuple[tuple[str, float | None, float], ...] = ()
    if ctx.config is not None:
        cfg = ctx.config
        # what runs for the rest of the month: what bills once the plan is done, and what office hours keep off now
        going = after_set | {n: (p.want.instance_type, p.want.instance_count) for n, p in ctx.deployments.items()
                             if p.running and p.off and not unchanged}
        monthly = tuple((n, *budget.monthly(cfg, cfg.deployments[n])) for n in sorted(going) if n in cfg.deployments)
        if ctx.now is not None:
            spent, as_is = budget.recorded(cfg, ctx.state, now, ctx.now)
            projection = budget.project(cfg, going, spent, ctx.now)
            projected_before = budget.project(cfg, as_is, spent, ctx.now).projected_usd
    return Plan(tuple(arrange(ctx.actions)), tuple(ctx.notes), tuple(ctx.wait_for), before, after,
                tuple(sorted(unknown_b | unknown_a)), tuple(ctx.stopped), projection, projected_before, monthly)


def arrange(actions: list[Action]) -> list[Action]:
    """Shared "pre" steps in section order; each deployment's steps in its handlers' order; the shared
    teardown ("post") in reverse section order."""
    def section(a: Action) -> int:
        return _SECTION[a.spec.kind()]

    shared_pre = [a for a in actions if a.deployment == naming.SHARED and a.phase == "pre"]
    shared_rest = [a for a in actions if a.deployment == naming.SHARED and a.phase != "pre"]
    per_dep: dict[str, list[Action]] = {}
    for a in actions:
        if a.deployment != naming.SHARED:
            per_dep.setdefault(a.deployment, []).append(a)
    out = sorted(shared_pre, key=section)
    for name in sorted(per_dep):
        out += resources.ordered(per_dep[name])
    return out + sorted(shared_rest, key=lambda a: -section(a))


def _cost(running: dict[str, tuple[str, int]], region: str, overrides: dict[str, float]) -> tuple[float, set[str]]:
    """Estimated $/h of (instance type, count) per deployment; the types with no known price."""
    total, unknown = 0.0, set()
    for itype, count in running.values():
        c = prices.cost(itype, count, region, overrides)
        if c is None:
            unknown.add(itype)
        else:
            total += c
    return total, unknown
