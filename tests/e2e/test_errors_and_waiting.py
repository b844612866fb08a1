"""Errors users hit, each with its cause and next step; waiting, timeouts and Ctrl-C."""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

import pytest

from tests.e2e.conftest import AtRequest, Env, SandboxClock, run_until_waiting_then_advance

pytestmark = pytest.mark.e2e
PKG = ("arn:aws:sagemaker:us-east-2:057799348421:model-package/"
       "esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53")


def test_unsubscribed_marketplace_package(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    sandbox.unsubscribed_packages.add(PKG)
    r = cli.run("deploy", "--yes")
    assert r.code == 1 and "Traceback" not in r.text
    assert "not subscribed" in r.err and "Subscribe in AWS Marketplace" in r.err
    # Nothing half-made is lost: the recorded model was never created, the next run creates it.
    sandbox.unsubscribed_packages.clear()
    r = cli.run("deploy", "--yes")
    assert r.code == 0, r.text
    dep = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]
    suffix = dep["suffix"]  # one suffix for the deployment's three names, as the module does
    assert (dep["model"]["name"], dep["endpoint_config"]["name"], dep["endpoint"]["name"]) == (
        f"Model-ESMC-300M-1-{suffix}", f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}",
        f"Endpoint-ESMC-300M-1-{suffix}")


def test_instance_quota_exceeded(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    sandbox.quota_instances["ml.g5.2xlarge"] = 0
    r = cli.run("deploy", "--yes")
    assert r.code == 1 and "Traceback" not in r.text
    assert "quota" in r.err and "Service Quotas" in r.err
    assert "ml.g5.2xlarge for endpoint usage" in r.err
    # Refused by the pre-deploy checks, before anything billable or anything at all was made.
    sm, iam = cli.client("sagemaker"), cli.client("iam")
    assert sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_endpoints()["Endpoints"] == []
    assert iam.list_roles()["Roles"] == []
    assert not (cli.folder / "state").exists(), sorted(p.name for p in (cli.folder / "state").iterdir())


def test_no_credentials(cli: Env) -> None:
    cli.example("basic")
    env = cli.env()
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(k)
    import subprocess

    from tests.e2e.conftest import ESMCTL
    p = subprocess.run([ESMCTL, "plan"], cwd=cli.folder, env={**env, "AWS_EC2_METADATA_DISABLED": "true"},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "no AWS credentials were found" in p.stderr and "esmctl demo" in p.stderr


def test_timeout_saves_state_and_next_deploy_resumes(cli: Env, sandbox: Any, sandbox_clock: SandboxClock) -> None:
    cli.example("basic")
    sandbox.creating_seconds = 600  # Creating until the test moves the sandbox's clock on
    r = cli.run("deploy", "--yes", "--timeout", "1")
    assert r.code == 1
    assert "still Creating" in r.err and "run `esmctl deploy` again" in r.err
    dep = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]
    assert dep["endpoint"]["created"] is True
    p = cli.run("plan")
    assert "deploy waits for it" in p.out
    r = run_until_waiting_then_advance(cli, sandbox_clock, 600, "deploy", "--yes")
    assert r.code == 0, r.text
    assert "Waiting for 1 endpoint to be InService" in r.err and "InService" in r.err.split("Waiting for", 1)[1]
    assert cli.client("sagemaker").list_endpoints()["Endpoints"][0]["EndpointName"] == dep["endpoint"]["name"]
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_ctrl_c_while_waiting_exits_130_and_names_what_is_creating(cli: Env, sandbox: Any,
                                                                  sandbox_clock: SandboxClock) -> None:
    cli.example("basic")
    sandbox.creating_seconds = 600  # Creating until the test moves the sandbox's clock on
    # esmctl waits once its first ListEndpoints poll after CreateEndpoint; that poll's answer is held
    # until Ctrl-C has been sent, so the signal arrives while it is waiting, on any machine.
    polled = AtRequest("sagemaker", "ListEndpoints", hold=True)
    created = threading.Event()

    def hook(req: Any) -> Any:
        if req.from_esmctl and req.operation == "CreateEndpoint":
            created.set()
            return None
        return polled(req) if created.is_set() else None

    sandbox.request_hook = hook
    p = cli.popen("deploy", "--yes")
    try:
        polled.wait()
        p.send_signal(signal.SIGINT)
    finally:
        polled.release.set()
    _, err = p.communicate(timeout=30)
    sandbox.request_hook = None
    assert p.returncode == 130, err
    assert "state is saved" in err and "Endpoint-ESMC-300M-1-" in err
    assert not (cli.folder / "state" / "dev.lock").exists()
    assert json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]["endpoint"]["created"] is True
    r = run_until_waiting_then_advance(cli, sandbox_clock, 600, "deploy", "--yes")  # picks the wait up again
    assert r.code == 0, r.text
    assert "Waiting for 1 endpoint to be InService" in r.err
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_no_wait_then_status(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    sandbox.creating_seconds = 60  # still Creating when status looks
    r = cli.run("deploy", "--yes", "--no-wait")
    assert r.code == 0, r.text
    s = json.loads(cli.run("status", "--json").out)
    (row,) = s["deployments"]
    assert row["status"] == "Creating" and row["estimated_cost_per_hour"] == pytest.approx(1.515)


def test_python_dash_m_and_version(cli: Env) -> None:
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "esmctl", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("esmctl ")
    r = cli.run("no-such-command")
    assert r.code == 2
