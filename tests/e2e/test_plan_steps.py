"""Everything that changes AWS is a step of a plan a person can read first: stop timers
(`plan --ttl`, `deploy --ttl`) and key rotation (`plan --rotate-key`, `creds rotate`)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Env, deploy
from tests.e2e.test_shared_account import enable_shared, secret_of

pytestmark = pytest.mark.e2e


def test_plan_with_a_ttl_lists_one_stop_timer_per_deployment_and_deploy_sets_them(cli: Env, sandbox: object) -> None:
    enable_shared(cli)
    r = cli.run("plan", "--ttl", "2h")
    assert r.code == 0, r.text
    assert "+ prototype_model: stop timer esmctl-dev-prototype_model-stop" in r.out
    assert "EventBridge Scheduler deletes Endpoint-ESMC-300M-1-" in r.out
    j = json.loads(cli.run("plan", "--ttl", "2h", "--json").out)
    (timer,) = [a for a in j["actions"] if a["action"] == "create_stop_timer"]
    assert timer["phase"] == "post" and timer["role_name"].startswith("esm-stop-dev-")
    assert cli.client("scheduler").list_schedules()["Schedules"] == []  # plan changed nothing

    r = deploy(cli, "--ttl", "2h")
    assert "+ prototype_model: stop timer esmctl-dev-prototype_model-stop" in r.err  # shown before it is asked
    (sched,) = cli.client("scheduler").list_schedules()["Schedules"]
    assert sched["Name"] == "esmctl-dev-prototype_model-stop"
    assert cli.run("plan", "--detailed-exitcode").code == 0  # the timer is no drift


def test_plan_rotate_key_lists_the_rotation_steps_and_creds_rotate_shows_them(cli: Env, sandbox: object) -> None:
    enable_shared(cli)
    deploy(cli)
    old = secret_of(cli)["aws_access_key_id"]
    r = cli.run("plan", "--rotate-key")
    assert r.code == 0, r.text
    lines = [ln.strip() for ln in r.out.splitlines() if ln.strip()[:1] in ("+", "-", "v")]
    assert lines == [
        "+ access key for esm-shared-invoke-dev  (the new key, stored)",
        "verify access key of esm-shared-invoke-dev  (sts:GetCallerIdentity with the new key; on failure the old "
        "key is kept)",
        f"- access key {old}  (the old one)",
    ]
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in r.out
    keys = cli.client("iam").list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [old]  # plan changed nothing

    r = cli.run("creds", "rotate", "--yes")
    assert r.code == 0, r.text
    assert f"- access key {old} (the old one)" in r.err
    new = secret_of(cli)["aws_access_key_id"]
    keys = cli.client("iam").list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]
    assert new != old and [k["AccessKeyId"] for k in keys] == [new]
