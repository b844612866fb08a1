"""Performance guards that are stable on any machine: what gets imported, and how many AWS calls.

- Offline commands (`--help`, `validate`, `catalog`, `output --json`, `plan --no-refresh`) never
  import boto3, botocore or moto: checked in a fresh interpreter's `sys.modules` after the command.
- With 100 deployments in the sandbox, a refreshing `plan` makes at most 4 + 3·⌈N/100⌉ = 7 requests
  and one poll of the waiter over 100 waiting endpoints makes ⌈N/100⌉ = 1 (a ListEndpoints page).
  Requests are counted with a botocore before-send hook (`Aws.on_request`): counts, not timings.

Timings live in benchmarks/ (see docs/performance.md).
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from esmctl import naming
from esmctl import state as state_mod
from tests.conftest import write_example

HEAVY = ("boto3", "botocore", "moto")
N = 100
ACCOUNT = "123456789012"
REGION = "us-east-2"

OFFLINE = [
    ["--help"],
    ["validate"],
    ["catalog"],
    ["output", "--json"],
    ["plan", "--no-refresh"],
]

PROBE = f"""
import json, sys
from esmctl.cli import run
code = run(json.loads(sys.argv[1]))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print("\\nPROBE " + json.dumps({{"code": code, "heavy": heavy}}))
"""


def _recorded_state(config_dir: Path) -> state_mod.State:
    """The state after deploying the multi_model example and waiting: every record created, InService."""
    from esmctl import config as config_mod

    cfg = config_mod.load(config_dir / "esmctl.yaml")
    role = naming.role_name("esm", cfg.environment)
    st = state_mod.State(region=cfg.region, environment=cfg.environment, account_id=ACCOUNT,
                         role=state_mod.RoleRecord(name=role, arn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                                   created=True, policy_attached=True))
    for i, (name, want) in enumerate(sorted(cfg.deployments.items())):
        suffix = f"{i:08x}"
        model = naming.model_name(want.sagemaker_model_name, suffix)
        config = naming.endpoint_config_name(want.endpoint_name, suffix)
        endpoint = naming.endpoint_name(want.endpoint_name, suffix)
        st.deployments[name] = state_mod.DeploymentState(
            selector=want.selector, suffix=suffix, forge_model_name=want.forge_model_name,
            model=state_mod.ModelRecord(name=model, arn=naming.sagemaker_arn(REGION, ACCOUNT, "model", model),
                                        created=True, model_package=want.model_package, selector=want.selector,
                                        forge_model_name=want.forge_model_name),
            endpoint_config=state_mod.ConfigRecord(
                name=config, arn=naming.sagemaker_arn(REGION, ACCOUNT, "endpoint-config", config), created=True,
                model_name=model, instance_type=want.instance_type, instance_count=want.instance_count),
            endpoint=state_mod.EndpointRecord(
                name=endpoint, arn=naming.sagemaker_arn(REGION, ACCOUNT, "endpoint", endpoint), created=True,
                config_name=config, status="InService"),
            created_at="2025-01-06T09:00:00Z", started_at="2025-01-06T09:00:00Z")
    return st


@pytest.mark.parametrize("argv", OFFLINE, ids=[" ".join(a) for a in OFFLINE])
def test_offline_commands_do_not_import_boto3(argv: list[str], project: Path) -> None:
    state_mod.write(project / "state" / "dev.json", _recorded_state(project))
    p = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], cwd=project, capture_output=True,
                       text=True, timeout=60)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("PROBE ")]
    assert lines, f"no probe output (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    probe = json.loads(lines[-1][len("PROBE "):])
    assert probe["code"] == 0, p.stderr[-2000:]
    assert probe["heavy"] == [], f"`esmctl {' '.join(argv)}` imported {probe['heavy']}"


# --- request counts against the sandbox -----------------------------------------------------------


class Calls:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def hook(self, **kwargs: Any) -> None:
        self.counts[str(kwargs.get("event_name", "")).split(".", 1)[-1]] += 1  # service.Operation

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from esmctl import sandbox as sb

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = sb.start_server(port=0)
    yield srv
    srv.stop()
    sb.control.reset()


def _deployed(server: Any, folder: Path, n: int, creating_seconds: float) -> Any:
    """A clean sandbox account with n deployments made by esmctl itself (no wait); a fresh Workspace."""
    from esmctl import sandbox as sb
    from esmctl.api import Workspace

    urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset", data=b"", method="POST"),
                           timeout=30).read()
    sb.control.reset()
    sb.control.immediate()  # requests are counted here, not timed: no rate limits, no IAM delays
    sb.control.creating_seconds = creating_seconds
    write_example(folder, "basic")
    models = "\n".join(f"  m{i:04d}:\n    selector: ESMC-300M" for i in range(1, n + 1))
    cfg = folder / "esmctl.yaml"
    text = cfg.read_text()
    cfg.write_text(text[:text.index("selected_models:")] + "selected_models:\n" + models + "\n")
    # The executor writes the whole state twice per resource; for this fixture only the final state
    # matters, so the intermediate writes are skipped (the records themselves are the executor's).
    real_write, last = state_mod.write, {}

    def keep(path: Path, st: state_mod.State) -> None:
        last[path] = st

    state_mod.write = keep  # type: ignore[assignment]
    try:
        ws = Workspace(cfg, endpoint_url=server.url, ui=_quiet_ui())
        result = ws.deploy(yes=True, wait=False, parallelism=16)
    finally:
        state_mod.write = real_write  # type: ignore[assignment]
    assert result.outcome is not None and not result.outcome.failures, result.outcome
    for path, st in last.items():
        real_write(path, st)
    return Workspace(cfg, endpoint_url=server.url, ui=_quiet_ui())


def _quiet_ui() -> Any:
    import io

    from rich.console import Console

    from esmctl.ui import UI

    ui = UI(interactive=False, color=False)
    ui.err = Console(file=io.StringIO())
    return ui


def test_plan_refresh_of_100_deployments_makes_few_calls(server: Any, tmp_path: Path) -> None:
    ws = _deployed(server, tmp_path, N, creating_seconds=0)  # InService at once
    calls = Calls()
    ws.aws.on_request(calls.hook)
    result = ws.plan(refresh=True)
    assert not result.plan.actions
    budget = 4 + 3 * math.ceil(N / 100)
    assert calls.total <= budget, f"plan refresh of {N} deployments: {calls.total} requests {dict(calls.counts)}"


def test_one_poll_over_100_waiting_endpoints_is_one_listing(server: Any, tmp_path: Path) -> None:
    from esmctl.wait import Waiter, Waiting, WaitTimeout

    ws = _deployed(server, tmp_path, N, creating_seconds=3600)  # they stay Creating
    state = ws.read_state()
    items = [Waiting(name, dep.endpoint.name) for name, dep in state.deployments.items()]
    assert len(items) == N
    calls = Calls()
    ws.aws.on_request(calls.hook)
    waiter = Waiter(ws.aws.sagemaker, interval=0.0, timeout=0.0, clock=lambda: 0.0, sleep=lambda _s: None)
    with pytest.raises(WaitTimeout):  # timeout 0: exactly one poll, and they are all still Creating
        waiter.wait(items)
    assert all(w.seen is not None and w.seen.status == "Creating" for w in items)
    assert dict(calls.counts) == {"sagemaker.ListEndpoints": math.ceil(N / 100)}
