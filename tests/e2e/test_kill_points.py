"""Kill at every step: SIGKILL the esmctl process right before or right after its k-th mutating
AWS call, for every k, then check that a plain rerun converges (nothing lost, nothing twice). A "before"
point with no state write since the call before is passed over: the "after" run of that call is it.

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


PLAIN = "  performance_model:\n    selector: ESMC-300M\n    instance_type: ml.g5.2xlarge\n"
# With autoscaling and office hours (Wednesday 11:00 in Berlin: inside them): the "hours" scenario kills
# around the calls that make them, destroy/stop/start/update around those that change or remove them.
SCALED_HOURS = PLAIN + """    autoscaling: {min_instances: 1, max_instances: 2, target_invocations_per_instance: 300}
    schedule: {timezone: Europe/Berlin, running: "Mon-Fri 08:00-19:00"}
"""
INSIDE_HOURS = "2026-12-02T10:00:00Z"


def shared_multi(cli: Env, second: str = PLAIN) -> None:
    cli.example("basic_shared_user")
    cli.extra["ESMCTL_NOW"] = INSIDE_HOURS
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + second)


def shared_s3(cli: Env) -> None:
    """The shared-user example with its state in S3 (killed around the lock's and the state's writes)."""
    cli.example("basic_shared_user")
    cli.client("s3").create_bucket(Bucket="team-state", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + "state: s3://team-state/esmctl/\n")


def deployed(cli: Env, second: str = PLAIN) -> None:
    shared_multi(cli, second)
    assert esmctl(cli, "deploy", "--yes") == 0


def scaled(cli: Env) -> None:
    deployed(cli, SCALED_HOURS)


def gets_hours(cli: Env) -> None:
    """Deployed plainly, then the second deployment gets autoscaling and office hours."""
    deployed(cli)
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace(PLAIN, SCALED_HOURS))


def stopped(cli: Env) -> None:
    scaled(cli)
    assert esmctl(cli, "stop", "--all", "--yes") == 0


def changed_type(cli: Env) -> None:
    """The autoscaled deployment gets another instance type: deregister, new config, UpdateEndpoint, the
    start schedule and its role moved to the new config, register again, the old config deleted."""
    scaled(cli)
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace(SCALED_HOURS, SCALED_HOURS.replace("g5.2xlarge", "g5.4xlarge")))


# `deploy --skip-checks`: the pre-deploy checks make no mutating call (nothing to kill around) and cost
# ~0.6 s a run; tests/e2e/test_doctor_invoke.py covers them.
DEPLOY = ["deploy", "--yes", "--skip-checks"]
SCENARIOS: dict[str, tuple[Callable[[Env], None], list[str]]] = {
    "deploy": (shared_multi, DEPLOY),
    "deploy-s3": (shared_s3, DEPLOY),
    "hours": (gets_hours, DEPLOY),  # the autoscaling and office-hours calls (a fresh deploy's rest is "deploy"'s)
    "destroy": (scaled, ["destroy", "--yes"]),
    "stop": (scaled, ["stop", "--all", "--yes"]),
    "start": (stopped, ["start", "--all"]),
    "rotate": (deployed, ["creds", "rotate", "--yes"]),
    # The timers' own calls (the rest of a fresh `deploy --ttl` is the "deploy" scenario's).
    "ttl": (deployed, [*DEPLOY, "--ttl", "8h"]),
    "update": (changed_type, DEPLOY),
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
    autoscaled = [d for d in state["deployments"].values() if d["records"].get("scaling")]
    live_targets = {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in cli.client(
        "application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]}
    assert live_targets == {d["records"]["scaling"]["resource_id"]: (1, 2) for d in autoscaled}
    assert all(d["records"]["scaling"]["created"] for d in autoscaled)
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


# AWS's eventual consistency during the killed run and its rerun: on, as in the e2e defaults, but for
# less time than esmctl's first retry waits (0.25-0.5 s, esmctl/aws/consistency.py), so each refusal
# costs one retry: a new role, key or config is still refused once, and the suite runs ~2x faster.
KILL_DELAYS = {"role_propagation_seconds": 0.2, "key_propagation_seconds": 0.2, "config_lookup_seconds": 0.1,
               "secret_deletion_seconds": 0.2}


def prepared(cli: Env, sandbox: Any, scenario: str) -> None:
    """A fresh account with the scenario's starting point, made without AWS's delays (the setup is not
    what is tested); the killed run and its rerun then meet eventual consistency (KILL_DELAYS)."""
    setup, _ = SCENARIOS[scenario]
    fresh(cli, sandbox)
    saved = {"rate_limits": sandbox.rate_limits}
    sandbox.immediate()
    try:
        setup(cli)
    finally:
        for k, v in {**saved, **KILL_DELAYS}.items():
            setattr(sandbox, k, v)


def state_serial(cli: Env) -> int | None:
    """The local state's serial now (None before the first write)."""
    try:
        return int(json.loads(cli.state_file.read_text())["serial"])
    except (OSError, ValueError, KeyError):
        return None


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
    skipped = 0
    k = ks[0]
    while True:
        prepared(cli, sandbox, scenario)
        seen, serials, killed_at = [0], [None], [0]  # type: tuple[list[int], list[int | None], list[int]]
        proc_box: list[Any] = []

        def hook(req: RequestInfo, k: int = k, seen: list[int] = seen, serials: list[int | None] = serials,
                 killed_at: list[int] = killed_at, proc_box: list[Any] = proc_box) -> Any:
            if not kill_point(scenario, req):
                return None
            seen[0] += 1
            # A kill right before call n with no state write since call n-1 leaves AWS and the state as a
            # kill right after call n-1 did (that run is the "after" test's): go on to the next call.
            serial = state_serial(cli) if when == "before" and extra else None
            same, serials[0] = serial is not None and serial == serials[0] and seen[0] > 1, serial
            if seen[0] < k or (not extra and seen[0] != k) or killed_at[0] or not proc_box or same:
                return None
            killed_at[0] = seen[0]
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
        assert esmctl(cli, *args) == 0, f"{scenario}: rerun after a kill {when} call {killed_at[0]} failed"
        converged(cli, scenario)
        tried += 1
        skipped += killed_at[0] - k
        if extra:
            k = killed_at[0] + 1
            assert k <= 2 * total + 10, f"{scenario}: more than {2 * total + 10} kill points"
        elif ks.index(k) + 1 < len(ks):
            k = ks[ks.index(k) + 1]
        else:
            break
    record_property("kill_points", tried)  # summed in the terminal summary (tests/conftest.py)
    print(f"\nKILL POINTS {scenario} ({when} the call): {total} kill points, {tried} kills, all converged"
          + (f" ({skipped} passed over: no state write since the call before)" if skipped else ""))
