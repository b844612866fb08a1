"""Errors users hit, each with its cause and next step; waiting, timeouts and Ctrl-C."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from tests.e2e.conftest import Env

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


def test_timeout_saves_state_and_next_deploy_resumes(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    sandbox.creating_seconds = 8  # still Creating after this deploy, a plan and the next deploy's checks, under load
    r = cli.run("deploy", "--yes", "--timeout", "1")
    assert r.code == 1
    assert "still Creating" in r.err and "run `esmctl deploy` again" in r.err
    dep = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]
    assert dep["endpoint"]["created"] is True
    p = cli.run("plan")
    assert "deploy waits for it" in p.out
    r = cli.run("deploy", "--yes")
    assert r.code == 0, r.text
    assert "InService" in r.err
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_ctrl_c_while_waiting_exits_130_and_names_what_is_creating(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    sandbox.creating_seconds = 3
    p = cli.popen("deploy", "--yes")
    deadline = time.time() + 30
    err = ""
    while time.time() < deadline:
        if cli.state_file.exists() and '"created": true' in cli.state_file.read_text() and \
                '"Creating"' in cli.state_file.read_text():
            break
        time.sleep(0.05)
    time.sleep(0.3)  # let it enter the wait loop
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "state is saved" in err and "Endpoint-ESMC-300M-1-" in err
    assert not (cli.folder / "state" / "dev.lock").exists()
    r = cli.run("deploy", "--yes")  # picks the wait up again
    assert r.code == 0, r.text
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
