"""Reliability: drift repair, concurrent runs, atomic state writes, injected AWS faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from esmctl.sandbox.faults import RESET, FaultError, RequestInfo, SeededFaults
from tests.e2e.conftest import AtRequest, Env, deploy
from tests.e2e.test_lifecycle import recorded, tagged

pytestmark = pytest.mark.e2e


def dep(cli: Env, name: str = "prototype_model") -> dict[str, Any]:
    return json.loads(cli.state_file.read_text())["deployments"][name]


# --- drift ----------------------------------------------------------------------------------------

def test_drift_is_reported_planned_and_repaired(cli: Env, sandbox: Any) -> None:
    cli.example("multi_model")
    deploy(cli)
    sm, iam = cli.client("sagemaker"), cli.client("iam")
    proto, perf = dep(cli), dep(cli, "performance_model")
    sm.delete_endpoint(EndpointName=proto["endpoint"]["name"])                       # deleted in the console
    sm.delete_endpoint_config(EndpointConfigName=perf["endpoint_config"]["name"])    # config deleted
    sm.delete_tags(ResourceArn=perf["model"]["arn"], TagKeys=["esmctl:environment"])  # tags removed
    iam.detach_role_policy(RoleName="esm-sagemaker-exec-dev",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    iam.delete_role(RoleName="esm-sagemaker-exec-dev")                              # role deleted
    sandbox.fail_endpoint(perf["endpoint"]["name"], "CUDA error: out of memory")     # endpoint Failed

    r = cli.run("refresh")
    assert r.code == 0, r.text
    for expected in (f"endpoint {proto['endpoint']['name']} deleted outside esmctl",
                     f"endpoint config {perf['endpoint_config']['name']} deleted outside esmctl",
                     f"model {perf['model']['name']} lost some of its tags",
                     "role esm-sagemaker-exec-dev: deleted outside esmctl",
                     "Failed: CUDA error: out of memory"):
        assert expected in r.err, (expected, r.err)
    p = cli.run("plan", "--detailed-exitcode")
    assert p.code == 2
    for expected in ("+ role esm-sagemaker-exec-dev", f"+ prototype_model: endpoint {proto['endpoint']['name']}",
                     f"+ performance_model: endpoint config {perf['endpoint_config']['name']}",
                     "-/+ performance_model: endpoint", "~ performance_model: tags of"):
        assert expected in p.out, (expected, p.out)
    deploy(cli)
    assert cli.run("plan", "--detailed-exitcode").code == 0
    assert sm.describe_endpoint(EndpointName=perf["endpoint"]["name"])["EndpointStatus"] == "InService"
    assert tagged(cli) == recorded(cli)  # the model has its tags back


# --- concurrency -----------------------------------------------------------------------------------

def test_a_second_deploy_while_one_holds_the_lock_is_refused(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    # `a` is held at its first change in AWS (made under the lock) until `b` has been refused.
    holding = AtRequest("iam", "CreateRole", hold=True)
    sandbox.request_hook = holding
    a = cli.popen("deploy", "--yes")
    try:
        holding.wait()
        b = cli.run("deploy", "--yes")
    finally:
        holding.release.set()
    _, err_a = a.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.code == 1, b.text
    assert f"locked by pid {a.pid}" in b.err and "esmctl deploy --yes" in b.err
    assert len(cli.client("sagemaker").list_endpoints()["Endpoints"]) == 1


def test_plan_and_status_need_no_lock(cli: Env) -> None:
    cli.example("basic")
    deploy(cli)
    lock = cli.folder / "state" / "dev.lock"
    # held by a live process on this host: this test's own
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "command": "esmctl deploy", "since": "2026-11-27T10:00:00Z"}))
    assert cli.run("plan").code == 0
    assert cli.run("status").code == 0
    r = cli.run("deploy", "--yes")
    assert r.code == 1 and f"locked by pid {os.getpid()}" in r.err, r.text


# --- state safety ----------------------------------------------------------------------------------

# Rewrites the state at argv[1], SIGKILLing itself right before its argv[2]-th I/O call (open,
# write, flush, fsync, chmod, link, replace, unlink, ... of the os and io modules) made while
# `state.write` runs; 0: never. Prints how many such calls the write makes. (Right after a call is
# right before the next one: nothing reaches the disk in between.)
KILLED_WRITER = textwrap.dedent("""
    import io, os, signal, sys
    from pathlib import Path
    from esmctl import state as st

    path, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    s = st.read(path)
    points = 0

    def is_io(fn):
        if getattr(fn, "__name__", "") in ("getpid", "stat", "lstat", "fileno"):  # changes nothing
            return False
        owner = getattr(fn, "__self__", None)
        return getattr(fn, "__module__", None) in ("posix", "_io", "io") or isinstance(owner, io.IOBase)

    def profile(frame, event, fn):
        global points
        if event == "c_call" and is_io(fn):
            points += 1
            if points == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.setprofile(profile)
    st.write(path, s)
    sys.setprofile(None)
    print(points)
""")


def test_state_is_never_half_written_when_killed_at_any_step_of_a_write(tmp_path: Path) -> None:
    """Kill a process writing a large state right before each of its I/O calls, in turn: the state
    is always a whole document, and its backup the one before or the same."""
    from esmctl import state as st

    path = tmp_path / "dev.json"
    s = st.State(region="us-east-2", environment="dev")
    for i in range(300):
        s.deployments[f"d{i}"] = st.DeploymentState(selector="ESMC-300M", suffix="0000abcd",
                                                    forge_model_name="esmc-300m-2024-12")
    st.write(path, s)
    st.write(path, s)  # and a backup

    def write(kill_at: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path), str(kill_at)],
                              capture_output=True, text=True, timeout=60)

    whole = write(0)
    assert whole.returncode == 0, whole.stderr
    points = int(whole.stdout)
    assert points >= 4, f"a write with only {points} I/O calls?"
    for k in range(1, points + 1):
        before = st.read(path)
        assert before is not None
        killed = write(k)
        assert killed.returncode == -signal.SIGKILL, (k, killed.stdout, killed.stderr)
        after = st.read(path)  # always a whole document, never a torn one
        assert after is not None and len(after.deployments) == 300, k
        assert after.serial in (before.serial, before.serial + 1), k
        backup = st.read(st.backup_path(path))
        assert backup is not None and backup.serial in (after.serial - 1, after.serial), k
    assert write(0).returncode == 0  # what a killed write left behind does not get in the way
    final = st.read(path)
    assert final is not None and len(final.deployments) == 300


# --- injected faults -------------------------------------------------------------------------------

TRANSIENT: list[FaultError | str] = [
    FaultError(400, "ThrottlingException", "Rate exceeded"), FaultError(500, "InternalFailure"),
    FaultError(503, "ServiceUnavailable"), RESET]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_deploy_and_destroy_survive_30_percent_transient_faults(cli: Env, sandbox: Any, seed: int) -> None:
    cli.example("basic_shared_user")
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + "  performance_model:\n    selector: ESMC-300M\n")
    # The n-th request of each operation gets the same answer for the same seed, however the server's
    # threads interleave (faults.SeededFaults; tests/sandbox/test_faults.py shows it).
    hook = SeededFaults(seed, 0.3, TRANSIENT)
    sandbox.request_hook = hook
    deploy(cli)
    sandbox.request_hook = None
    assert hook.injected, "no fault was injected"
    assert tagged(cli) == recorded(cli)
    assert len(tagged(cli)["endpoint"]) == 2
    assert len(cli.client("iam").list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]) == 1
    assert cli.run("plan", "--detailed-exitcode").code == 0
    sandbox.request_hook = hook
    r = cli.run("destroy", "--yes")
    sandbox.request_hook = None
    assert r.code == 0, r.text
    assert tagged(cli) == {"model": [], "endpoint_config": [], "endpoint": [], "role": []}
    assert cli.client("iam").list_users()["Users"] == []
    print(f"seed {seed}: {len(hook.injected)} faults injected and survived: {', '.join(hook.injected)}")


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException"])
def test_non_retryable_errors_are_not_retried(cli: Env, sandbox: Any, code: str) -> None:
    cli.example("basic")
    calls: list[str] = []

    def hook(req: RequestInfo) -> Any:
        if req.from_esmctl and req.operation == "CreateModel":
            calls.append(req.operation)
            return FaultError(400, code, "User is not authorized to perform: sagemaker:CreateModel")
        return None

    sandbox.request_hook = hook
    r = cli.run("deploy", "--yes")
    sandbox.request_hook = None
    assert r.code == 1 and "Traceback" not in r.text
    assert calls == ["CreateModel"]  # once: no retry
