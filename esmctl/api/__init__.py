"""The library surface: what the CLI calls and what a notebook can import.

`Workspace` ties one esmctl.yaml to its state and to AWS. Each method maps onto one command and
returns plain data; rendering is the caller's job. Progress and questions go through the
`esmctl.events.Reporter` passed as `reporter=` (or `ui=`); by default plain lines to stderr, and
nothing that needs a confirmation happens without `yes=True`. The use cases live one group a module:

- workspace.py  the shared core: configuration, state backend and lock, AWS session, refresh
- deploy.py     plan, deploy, stop/start, stop timers, destroy, refresh, creds rotate
- idle.py       idle endpoints, and stopping them (`stop --idle-for`)
- report.py     status, outputs, creds, doctor and the pre-deploy checks, invoke and `deploy --smoke`
- setup.py      init, catalog, prices refresh (no esmctl.yaml needed)
- adopt.py      import-terraform
- statefile.py  state pull/push/migrate, unlock
- using.py      a client for a deployment's endpoint (`esmctl.connect`), `embed`

Offline methods (validate, outputs, plan without refresh, init, catalog) never import boto3, and
nothing here imports the terminal UI (rich).
"""

from __future__ import annotations

from esmctl.api.adopt import Adopting
from esmctl.api.deploy import Deploying, DeployResult, PlanResult
from esmctl.api.idle import IdleStop, Idling
from esmctl.api.report import SENSITIVE, Reporting, mask
from esmctl.api.setup import EXAMPLES, Setup, new_aws, refresh_prices
from esmctl.api.statefile import StateFile
from esmctl.api.using import Using
from esmctl.errors import StateError


class Workspace(Using, Idling, Deploying, Reporting, Setup, Adopting, StateFile):
    """One deployment configuration (esmctl.yaml + models.yaml) with its state and AWS session."""


__all__ = ["EXAMPLES", "SENSITIVE", "DeployResult", "IdleStop", "PlanResult", "StateError", "Workspace", "mask",
           "new_aws", "refresh_prices"]
