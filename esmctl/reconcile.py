"""Refresh stage: bring the state's records in line with what AWS reports, and say what drifted.
Each kind reconciles its own records (`reconcile` in its module of esmctl/resources/); this module
checks the state's identity and runs them.

Pure: mutates the State object it is given, no I/O. A record whose create call was never confirmed
(the run died) is marked created when AWS has it; a resource that vanished, failed or changed is
reported as drift for `refresh`, `plan` and `deploy` to show and repair.
"""

from __future__ import annotations

import datetime as dt

from esmctl.errors import StateError
from esmctl.observe import Observed
from esmctl.resources import endpoint, endpoint_config, model, role, shared_user
from esmctl.state import State, utcnow


def check_identity(state: State, observed: Observed, environment: str | None = None) -> None:
    """Refuse to act on another account, region or environment than the state was made for."""
    if environment is not None and state.environment != environment:
        raise StateError(
            f"The state file is for environment {state.environment!r}, but esmctl.yaml says "
            f"{environment!r}; nothing was changed.",
            hint="Point `state:` at this environment's state (or leave it empty for "
            f"state/{environment}.json), or set `environment: {state.environment}`.")
    if state.account_id and observed.account_id and state.account_id != observed.account_id:
        raise StateError(
            f"The state was made in AWS account {state.account_id}, but the credentials are for "
            f"account {observed.account_id}; nothing was changed.",
            hint="Use the profile of the state's account (--profile), or another environment/state file.")
    if state.region != observed.region:
        raise StateError(
            f"The state was made in region {state.region}, but this run targets {observed.region}; "
            "nothing was changed.",
            hint=f"Set `region: {state.region}` back, or use another `environment:` for {observed.region}.")


def reconcile(state: State, observed: Observed, environment: str, now: dt.datetime | None = None) -> list[str]:
    """Update `state` from `observed`; return one line per drift found."""
    now = now or utcnow()
    drift: list[str] = []
    if observed.account_id and not state.account_id:
        state.account_id = observed.account_id
    drift += role.reconcile(state, observed, environment)
    drift += shared_user.reconcile(state, observed)

    for name, dep in state.deployments.items():
        drift += model.reconcile(name, dep, observed)
        drift += endpoint_config.reconcile(name, dep, observed)
        drift += endpoint.reconcile(name, dep, observed, now)
    return drift
