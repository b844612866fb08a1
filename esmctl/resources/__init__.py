"""The AWS resource kinds esmctl manages, one module each, found here by themselves.

Each kind module holds what that kind is: its typed spec(s), how the planner turns desired × state
× observed into its actions (`plan`, and `cleanup` for what may go only once the others are
planned), its handlers (registered with `_base.handler`, each with the IAM actions it calls) and
the IAM actions its observation reads (`_base.reads`). Optional: `billed_now`/`billed_after` (what
bills by the hour, for the plan's cost), `settle` (waiting for what its steps started), `busy`
(what is still in progress when a run is interrupted), `observe`/`from_state` (what it reads for
itself, in `Observed.kinds`), `applies` (whether its IAM actions belong in the policy), `off` (why a
missing endpoint is off on purpose), `status_fields` (its part of a `status` row), `delete_rights`
(what a role deleting the endpoint also needs), `keeps_counts` (an update keeps the instance count),
`after_start`/`after_start_rights` (calls that must follow an endpoint started by a schedule). The
framework asks them with `hooks(name)`, so no kind needs to know which others offer one.

Every module of this package that defines `PLAN_ORDER` is a kind. KINDS is the planning order: a
kind may read what an earlier one chose (the model's name for the endpoint config, the endpoints for
the shared user's policy). SECTIONS (by `SECTION`) is the order in which the shared "pre" steps run
and the plan shows them; "post" steps (teardown) run in the reverse order.

Adding a kind: a module here (spec, `PLAN_ORDER`, `SECTION`, `plan`, handlers with their IAM
actions), its test, its config field, its docs, a sandbox patch if moto lacks the API, the
CHANGELOG. Nothing else lists kinds.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

from esmctl.resources._base import READS, REGISTRY, Action, Handler, Planned, Planning, Run, Spec, ordered


def _discover() -> list[ModuleType]:
    found = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
             if not m.name.startswith("_")]
    return [m for m in found if hasattr(m, "PLAN_ORDER")]


_KINDS = _discover()
KINDS: tuple[ModuleType, ...] = tuple(sorted(_KINDS, key=lambda m: m.PLAN_ORDER))
SECTIONS: tuple[ModuleType, ...] = tuple(sorted(_KINDS, key=lambda m: m.SECTION))


def hooks(name: str) -> list[Callable[..., Any]]:
    """The `name` functions of the kinds that define one, in planning order: how a kind offers a part
    of its own (a status column, the rights deleting its endpoint takes …) without another naming it."""
    return [getattr(k, name) for k in KINDS if hasattr(k, name)]

__all__ = ["KINDS", "READS", "REGISTRY", "SECTIONS", "Action", "Handler", "Planned", "Planning", "Run", "Spec",
           "hooks", "ordered"]
