"""Reliability: drift repair, concurrent runs, atomic state writes, injected AWS faults."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from esmctl.sandbox.faults import RESET, FaultError, RequestInfo
from tests.e2e.conftest import Env, deploy
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

def test_two_deploys_started_together_one_proceeds(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    sandbox.creating_seconds = 3
    a, b = cli.popen("deploy", "--yes"), cli.popen("deploy", "--yes")
    (_, err_a), (_, err_b) = a.communicate(timeout=120), b.communicate(timeout=120)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 1], (err_a, err_b)
    loser = err_a if a.returncode else err_b
    assert "locked by pid" in loser and "esmctl deploy --yes" in loser
    assert len(cli.client("sagemaker").list_endpoints()["Endpoints"]) == 1


def test_plan_and_status_need_no_lock(cli: Env) -> None:
    cli.example("basic")
    deploy(cli)
    lock = cli.folder / "state" / "dev.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"pid": holder.pid, "host": __import__("socket").gethostname(),
                                    "command": "esmctl deploy", "since": "2026-11-27T10:00:00Z"}))
        assert cli.run("plan").code == 0
        assert cli.run("status").code == 0
        assert cli.run("deploy", "--yes").code == 1
    finally:
        holder.kill()
        holder.wait()


# --- state safety ----------------------------------------------------------------------------------

def test_state_is_never_half_written_when_killed_mid_write(tmp_path: Path) -> None:
    """Kill a process that rewrites a large state in a loop, 8 times at random moments."""
    writer = textwrap.dedent(f"""
        from esmctl import state as st
        s = st.State(region="us-east-2", environment="dev")
        for i in range(300):
            s.deployments[f"d{{i}}"] = st.DeploymentState(selector="ESMC-300M", suffix="0000abcd",
                                                          forge_model_name="esmc-300m-2024-12")
        p = __import__("pathlib").Path({str(tmp_path / "dev.json")!r})
        while True:
            st.write(p, s)
    """)
    rng = random.Random(7)
    target = tmp_path / "dev.json"
    for _ in range(8):
        serial_before = json.loads(target.read_text())["serial"] if target.exists() else 0
        proc = subprocess.Popen([sys.executable, "-c", writer])
        while not target.exists() or json.loads(target.read_bytes() or b'{"serial": 0}').get("serial", 0) \
                <= serial_before + 1:  # it is writing now (two writes done since it started)
            time.sleep(0.01)
        time.sleep(rng.random() * 0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        from esmctl import state as st
        s = st.read(tmp_path / "dev.json")  # always a whole document, never a torn one
        assert s is not None and len(s.deployments) == 300
        backup = st.read(st.backup_path(tmp_path / "dev.json"))
        assert backup is not None and backup.serial in (s.serial - 1, s.serial)


# --- injected faults -------------------------------------------------------------------------------

TRANSIENT = [FaultError(400, "ThrottlingException", "Rate exceeded"), FaultError(500, "InternalFailure"),
             FaultError(503, "ServiceUnavailable"), RESET]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_deploy_and_destroy_survive_30_percent_transient_faults(cli: Env, sandbox: Any, seed: int) -> None:
    cli.example("basic_shared_user")
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + "  performance_model:\n    selector: ESMC-300M\n")
    rng = random.Random(seed)
    injected: list[str] = []

    def hook(req: RequestInfo) -> Any:
        if req.from_esmctl and rng.random() < 0.3:
            fault = rng.choice(TRANSIENT)
            injected.append(f"{req.operation}:{fault if fault == RESET else fault.code}")  # type: ignore[union-attr]
            return fault
        return None

    sandbox.request_hook = hook
    deploy(cli)
    sandbox.request_hook = None
    assert injected, "no fault was injected"
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
    print(f"seed {seed}: {len(injected)} faults injected and survived")


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
