"""Kill at every step: SIGKILL the esmctl process right before or right after its k-th mutating
AWS call, for every k, then check that a plain rerun converges (nothing lost, nothing twice).

Marked `kill` (CI runs it; `pytest -m "not kill"` skips it locally). The number of kill points
tried is printed and recorded in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from esmctl.cli import run as esmctl_run
from esmctl.sandbox.faults import FaultError, RequestInfo
from tests.e2e.conftest import Env
from tests.e2e.test_lifecycle import recorded, tagged

pytestmark = [pytest.mark.e2e, pytest.mark.kill]


@contextlib.contextmanager
def inside(cli: Env) -> Iterator[None]:
    """Run esmctl in this process (fast) with the subprocess's environment and folder."""
    saved_env, saved_cwd, env = dict(os.environ), os.getcwd(), cli.env()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cli.folder)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def esmctl(cli: Env, *args: str) -> int:
    with inside(cli):
        return esmctl_run(list(args))


# The second deployment autoscales and keeps office hours (Wednesday 11:00 in Berlin: inside them), so
# every scenario also kills around the calls of those kinds (targets, policies, schedules, their roles).
SCALED_HOURS = """  performance_model:
    selector: ESMC-300M
    instance_type: ml.g5.2xlarge
    autoscaling: {min_instances: 1, max_instances: 2, target_invocations_per_instance: 300}
    schedule: {timezone: Europe/Berlin, running: "Mon-Fri 08:00-19:00"}
"""
INSIDE_HOURS = "2026-12-02T10:00:00Z"


def shared_multi(cli: Env) -> None:
    cli.example("basic_shared_user")
    cli.extra["ESMCTL_NOW"] = INSIDE_HOURS
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + SCALED_HOURS)


def shared_s3(cli: Env) -> None:
    """The shared-user example with its state in S3 (killed around the lock's and the state's writes)."""
    cli.example("basic_shared_user")
    cli.client("s3").create_bucket(Bucket="team-state", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + "state: s3://team-state/esmctl/\n")


def deployed(cli: Env) -> None:
    shared_multi(cli)
    assert esmctl(cli, "deploy", "--yes") == 0


def stopped(cli: Env) -> None:
    deployed(cli)
    assert esmctl(cli, "stop", "--all", "--yes") == 0


def changed_type(cli: Env) -> None:
    deployed(cli)
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace("instance_type: ml.g5.2xlarge", "instance_type: ml.g5.4xlarge"))


SCENARIOS: dict[str, tuple[Callable[[Env], None], list[str]]] = {
    "deploy": (shared_multi, ["deploy", "--yes"]),
    "deploy-s3": (shared_s3, ["deploy", "--yes"]),
    "destroy": (deployed, ["destroy", "--yes"]),
    "stop": (deployed, ["stop", "--all", "--yes"]),
    "start": (stopped, ["start", "--all"]),
    "rotate": (deployed, ["creds", "rotate", "--yes"]),
    # The timers' own calls (the rest of a fresh `deploy --ttl` is the "deploy" scenario's).
    "ttl": (deployed, ["deploy", "--yes", "--ttl", "8h"]),
    "update": (changed_type, ["deploy", "--yes"]),
}
# Which requests count as kill points: every mutating call, or (remote state, whose SageMaker and IAM
# calls "deploy" covers already) only the S3 writes of the lock, the state and its backup.
ONLY_SERVICE = {"deploy-s3": "s3"}


def points(scenario: str, total: int) -> list[int]:
    """Which of the `total` kill points to try. For remote state, one of each kind of S3 write — the
    lock's PUT, the state's first PUT (If-None-Match), the .backup PUT, the next state PUT (If-Match),
    one in the middle, the last state PUT, the lock's DELETE — since its ~15 state PUTs in between
    all take the same path (and each kill point costs a process start)."""
    if scenario != "deploy-s3":
        return list(range(1, total + 1))
    return sorted({k for k in (1, 2, 3, 4, total // 2, total - 1, total) if 1 <= k <= total})


def kill_point(scenario: str, req: RequestInfo) -> bool:
    only = ONLY_SERVICE.get(scenario)
    return req.from_esmctl and req.mutating and (only is None or req.service == only)


def converged(cli: Env, scenario: str) -> None:
    state = cli.state_doc()
    assert tagged(cli) == recorded(cli)
    iam, sm = cli.client("iam"), cli.client("sagemaker")
    users = [u["UserName"] for u in iam.list_users()["Users"]]
    secrets = cli.client("secretsmanager").list_secrets()["SecretList"]
    if scenario == "destroy":
        assert users == [] and secrets == [] and iam.list_policies(Scope="Local")["Policies"] == []
        assert state["deployments"] == {} and state["role"] is None
        return
    assert users == ["esm-shared-invoke-dev"] and len(secrets) == 1
    timers = {d["stop_schedule"]["name"]: d["stop_schedule"] for d in state["deployments"].values()
              if d.get("stop_schedule")}
    hours = [d["records"]["office_hours"] for d in state["deployments"].values()
             if d["records"].get("office_hours")]
    schedules = {s["Name"] for s in cli.client("scheduler").list_schedules()["Schedules"]}
    stop_roles = {r["RoleName"] for r in iam.list_roles()["Roles"] if "-stop-" in r["RoleName"]}
    assert schedules == set(timers) | {e["name"] for h in hours if h["created"] for e in h["schedules"]}
    assert stop_roles == {t["role_name"] for t in timers.values()}
    assert all(t["created"] for t in timers.values())
    hours_roles = {r["RoleName"] for r in iam.list_roles()["Roles"] if "-hours-" in r["RoleName"]}
    assert hours_roles == {n for h in hours for n in h["roles"].values()}
    scaled = [d for d in state["deployments"].values() if d["records"].get("scaling")]
    live_targets = {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in cli.client(
        "application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]}
    assert live_targets == {d["records"]["scaling"]["resource_id"]: (1, 2) for d in scaled}
    assert all(d["records"]["scaling"]["created"] for d in scaled)
    assert all(h["created"] == (d["desired"] == "running") for d in state["deployments"].values()
               for h in [d["records"].get("office_hours")] if h)
    if scenario == "ttl":
        assert len(timers) == len(state["deployments"]) == 2  # one timer per running deployment, none twice
        for d in state["deployments"].values():  # each deletes its own endpoint
            target = cli.client("scheduler").get_schedule(Name=d["stop_schedule"]["name"])["Target"]
            assert json.loads(target["Input"]) == {"EndpointName": d["endpoint"]["name"]}
    keys = iam.list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [state["shared_account"]["access_key_id"]]
    for name, d in state["deployments"].items():
        live = {e["EndpointName"]: e["EndpointStatus"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]}
        if d["desired"] == "running":
            assert live.get(d["endpoint"]["name"]) == "InService", name
        else:
            assert d["endpoint"]["name"] not in live, name
    assert esmctl(cli, "plan", "--detailed-exitcode") == 0


def fresh(cli: Env, sandbox: Any) -> None:
    cli.extra.clear()
    requests.post(f"{cli.url}/moto-api/reset", timeout=10)
    sandbox.request_hook = None
    sandbox.creating_seconds = sandbox.updating_seconds = 0.05
    for f in cli.folder.iterdir():
        if f.is_dir():
            for g in f.iterdir():
                g.unlink()
            f.rmdir()
        else:
            f.unlink()


def prepared(cli: Env, sandbox: Any, scenario: str) -> None:
    """A fresh account with the scenario's starting point, made without AWS's delays (the setup is not
    what is tested); the killed run and its rerun then meet the e2e defaults (eventual consistency on)."""
    setup, _ = SCENARIOS[scenario]
    fresh(cli, sandbox)
    delays = ("role_propagation_seconds", "key_propagation_seconds", "config_lookup_seconds",
              "secret_deletion_seconds", "rate_limits")
    saved = {k: getattr(sandbox, k) for k in delays}
    sandbox.immediate()
    try:
        setup(cli)
    finally:
        for k, v in saved.items():
            setattr(sandbox, k, v)


def count_mutating(cli: Env, sandbox: Any, scenario: str) -> int:
    _, args = SCENARIOS[scenario]
    prepared(cli, sandbox, scenario)
    calls: list[str] = []
    sandbox.request_hook = lambda r: calls.append(r.operation) if kill_point(scenario, r) else None
    r = cli.run(*args)
    sandbox.request_hook = None
    assert r.code == 0, r.text
    return len(calls)


# A kill right before call k leaves AWS as a kill right after call k-1 does; for the remote-state
# scenario (CPU-bound: a process start per kill point) only "after" runs.
CASES = [(s, w) for s in SCENARIOS for w in ("before", "after") if not (s == "deploy-s3" and w == "before")]


@pytest.mark.parametrize(("scenario", "when"), CASES)
def test_kill_at_every_mutating_call_converges(cli: Env, sandbox: Any, scenario: str, when: str,
                                              record_property: Callable[[str, object], None]) -> None:
    _, args = SCENARIOS[scenario]
    total = count_mutating(cli, sandbox, scenario)
    assert total > 0
    tried = 0
    # AWS's eventual consistency is on (a new role is refused for a moment, and the refused call is
    # sent again), so a run can make a call or two more or fewer than the counting run: past the
    # counted points, go on until a run finishes without reaching its kill point.
    ks = points(scenario, total)
    extra = scenario != "deploy-s3"
    k_iter = iter(ks) if not extra else iter(range(1, 2 * total + 10))
    for k in k_iter:
        prepared(cli, sandbox, scenario)
        seen = [0]
        proc_box: list[Any] = []

        def hook(req: RequestInfo, k: int = k, seen: list[int] = seen, proc_box: list[Any] = proc_box) -> Any:
            if not kill_point(scenario, req):
                return None
            seen[0] += 1
            if seen[0] != k or not proc_box:
                return None
            kill = lambda: os.kill(proc_box[0].pid, signal.SIGKILL)  # noqa: E731
            if when == "before":
                kill()
                return FaultError(500, "InternalFailure", "the client was killed")
            return kill

        sandbox.request_hook = hook
        proc = cli.popen(*args)
        proc_box.append(proc)
        proc.communicate(timeout=120)
        sandbox.request_hook = None
        if proc.returncode != -signal.SIGKILL:
            assert k > total - 3, f"{scenario}: k={k} {when}: not killed, though {total} calls were counted"
            assert proc.returncode == 0, f"{scenario}: k={k} {when}: exit {proc.returncode}"
            converged(cli, scenario)
            break  # this run made fewer than k mutating calls: every point was tried
        assert esmctl(cli, *args) == 0, f"{scenario}: rerun after a kill {when} call {k} failed"
        converged(cli, scenario)
        tried += 1
    record_property("kill_points", tried)  # summed in the terminal summary (tests/conftest.py)
    print(f"\nKILL POINTS {scenario} ({when} the call): {total} kill points, {tried} kills, all converged")
