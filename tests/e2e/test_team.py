"""Team scale, end to end on the sandbox: state in S3 with locking, moving the state between local
and S3, and adopting what the Terraform module made (`import-terraform`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import AtRequest, Env, deploy
from tests.tf_fixture import EXAMPLES, apply_module, show_json

BUCKET = "team-state"
URL = f"s3://{BUCKET}/esmctl/"
KEY = "esmctl/dev.json"
LOCK = "esmctl/dev.lock"


def remote(cli: Env) -> None:
    """A bucket for the state, and esmctl.yaml pointing at it (multi_model example)."""
    cli.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    cfg = cli.example("multi_model")
    cfg.write_text(cfg.read_text() + f"state: {URL}\n")


def obj(cli: Env, key: str) -> bytes | None:
    try:
        return bytes(cli.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except cli.client("s3").exceptions.NoSuchKey:
        return None


# --- remote state ------------------------------------------------------------------------------------

def test_remote_state_lives_in_s3_encrypted_with_a_backup(cli: Env) -> None:
    remote(cli)
    deploy(cli)
    assert not (cli.folder / "state").exists()  # nothing local
    s3 = cli.client("s3")
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ServerSideEncryption"] == "AES256"
    doc = json.loads(obj(cli, KEY) or b"")
    assert sorted(doc["deployments"]) == ["performance_model", "prototype_model"]
    backup = json.loads(obj(cli, KEY + ".backup") or b"")  # versioning is off: an earlier version
    assert backup["serial"] < doc["serial"] and backup["lineage"] == doc["lineage"]
    assert obj(cli, LOCK) is None  # released at the end
    assert cli.run("status").code == 0
    d = cli.run("doctor", "--json")
    state_finding = next(f for f in json.loads(d.out)["findings"] if f["name"] == "state")
    assert state_finding["level"] == "ok" and f"s3://{BUCKET}/{KEY} is readable" in state_finding["message"]
    r = cli.run("state", "pull")
    assert r.code == 0 and json.loads(r.out)["serial"] == doc["serial"]
    before_stop = obj(cli, KEY)
    assert cli.run("stop", "performance_model", "--yes").code == 0
    assert obj(cli, KEY + ".backup") == before_stop  # the version `stop` started from


def test_with_bucket_versioning_no_backup_object_is_written(cli: Env) -> None:
    remote(cli)
    cli.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    deploy(cli)
    assert obj(cli, KEY + ".backup") is None
    versions = cli.client("s3").list_object_versions(Bucket=BUCKET, Prefix=KEY)["Versions"]
    assert len(versions) > 2  # every write kept as a version


def test_two_deploys_with_s3_state_one_proceeds_the_other_names_the_holder(cli: Env, sandbox: Any) -> None:
    remote(cli)
    # `a`'s first S3 write is its lock; its answer is held (so `a` holds the lock) until `b` is done.
    locked = AtRequest("s3", "PutObject", hold=True)
    sandbox.request_hook = locked
    a = cli.popen("deploy", "--yes")
    try:
        locked.wait()
        assert json.loads(obj(cli, LOCK) or b"{}").get("pid") == a.pid
        b = cli.run("deploy", "--yes", timeout=30)
    finally:
        locked.release.set()
    assert b.code == 1
    assert f"The remote state s3://{BUCKET}/{KEY} is locked by pid {a.pid}" in b.err
    assert "esmctl deploy --yes" in b.err
    _, err = a.communicate(timeout=120)
    assert a.returncode == 0, err
    assert len(cli.client("sagemaker").list_endpoints()["Endpoints"]) == 2


def _kill_after(cli: Env, sandbox: Any, operation: str, nth: int, sig: signal.Signals,
                *args: str) -> tuple[subprocess.Popen[str], AtRequest]:
    """Start `esmctl *args` and send it `sig` once the sandbox has served its `nth` `operation`
    (before that answer reaches it): a fixed point in the run, however fast or slow the machine."""
    started = threading.Event()
    procs: list[subprocess.Popen[str]] = []

    def signal_it() -> None:
        assert started.wait(60)
        os.kill(procs[0].pid, sig)

    point = AtRequest("sagemaker", operation, nth=nth, then=signal_it)
    sandbox.request_hook = point
    procs.append(cli.popen(*args))
    started.set()
    point.wait()
    return procs[0], point


def test_killed_run_unlock_force_then_deploy_converges(cli: Env, sandbox: Any) -> None:
    remote(cli)
    a, _ = _kill_after(cli, sandbox, "CreateEndpoint", 2, signal.SIGKILL, "deploy", "--yes")
    a.wait()
    sandbox.request_hook = None
    assert len(cli.client("sagemaker").list_endpoints()["Endpoints"]) == 2
    lock = json.loads(obj(cli, LOCK) or b"")
    assert lock["pid"] == a.pid and lock["command"] == "esmctl deploy --yes"
    r = cli.run("unlock", "--force")
    assert r.code == 0, r.text
    assert f"Removed the lock s3://{BUCKET}/{LOCK} held by pid {a.pid}" in r.err
    assert obj(cli, LOCK) is None
    deploy(cli)  # waits for what the killed run created
    eps = cli.client("sagemaker").list_endpoints()["Endpoints"]
    assert len(eps) == 2 and {e["EndpointStatus"] for e in eps} == {"InService"}
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_a_run_that_lost_its_lock_cannot_overwrite_the_newer_state(cli: Env, sandbox: Any) -> None:
    remote(cli)
    # paused while it holds the lock, right after its last CreateEndpoint (its state not yet written)
    a, _ = _kill_after(cli, sandbox, "CreateEndpoint", 2, signal.SIGSTOP, "deploy", "--yes")
    sandbox.request_hook = None
    try:
        assert cli.run("unlock").code == 1  # its holder is alive
        assert cli.run("unlock", "--force").code == 0
        assert cli.run("refresh").code == 0  # another run takes the lock and writes the state
        newer = obj(cli, KEY)
    finally:
        os.kill(a.pid, signal.SIGCONT)
    _, err = a.communicate(timeout=120)
    assert a.returncode == 1
    # Refused by the lock re-check (paused over 5 s) or by the ETag (the other run wrote first).
    assert "write was refused, and the remote state is unchanged" in err and "Traceback" not in err
    assert obj(cli, KEY) == newer  # the paused run's write was refused: the newer state is intact


def test_lock_held_on_another_host_needs_force(cli: Env) -> None:
    remote(cli)
    deploy(cli)
    other = {"pid": 4242, "host": "ci-runner-7", "command": "esmctl deploy --yes", "since": "2026-11-27T10:00:00Z"}
    cli.client("s3").put_object(Bucket=BUCKET, Key=LOCK, Body=json.dumps(other).encode())
    before = obj(cli, KEY)
    r = cli.run("destroy", "--yes")
    assert r.code == 1 and "locked by pid 4242 on ci-runner-7" in r.err
    assert obj(cli, KEY) == before  # nothing changed
    r = cli.run("unlock")
    assert r.code == 1 and "another machine" in r.err
    assert cli.run("unlock", "--force").code == 0
    assert cli.run("destroy", "--yes").code == 0


# --- moving the state ------------------------------------------------------------------------------

def test_migrate_local_to_s3_and_back_round_trips_byte_for_byte(cli: Env) -> None:
    cli.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    cli.example("multi_model")
    deploy(cli)
    local = cli.state_file.read_bytes()
    r = cli.run("state", "migrate", "--to", URL)
    assert r.code == 0, r.text
    assert obj(cli, KEY) == local  # the same document: same serial, same lineage
    assert yaml.safe_load((cli.folder / "esmctl.yaml").read_text())["state"] == URL
    assert cli.run("plan", "--detailed-exitcode").code == 0  # esmctl now reads it from S3

    assert cli.run("stop", "performance_model", "--yes").code == 0  # a change recorded in S3 only
    in_s3 = obj(cli, KEY) or b""
    assert json.loads(in_s3)["serial"] > json.loads(local)["serial"]
    assert cli.state_file.read_bytes() == local  # the old copy is left as it was

    r = cli.run("state", "migrate", "--to", "local")
    assert r.code == 0, r.text  # same lineage, newer serial: replaces the old local copy
    assert cli.state_file.read_bytes() == in_s3
    assert yaml.safe_load((cli.folder / "esmctl.yaml").read_text())["state"] == ""
    assert json.loads(cli.state_file.read_bytes())["lineage"] == json.loads(local)["lineage"]
    st = cli.run("status", "--json")
    assert {d["name"]: d["desired"] for d in json.loads(st.out)["deployments"]} == \
        {"performance_model": "stopped", "prototype_model": "running"}


def test_migrate_refuses_to_replace_a_newer_state(cli: Env) -> None:
    remote(cli)
    deploy(cli)
    newer = obj(cli, KEY) or b""
    older = obj(cli, KEY + ".backup") or b""
    cli.state_file.parent.mkdir()
    cli.state_file.write_bytes(newer)
    cli.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=older)  # S3 now holds the older version
    r = cli.run("state", "migrate", "--to", "local")
    assert r.code == 1 and "is newer" in r.err
    assert cli.state_file.read_bytes() == newer
    assert yaml.safe_load((cli.folder / "esmctl.yaml").read_text())["state"] == URL


def test_push_applies_terraforms_lineage_and_serial_checks(cli: Env) -> None:
    remote(cli)
    deploy(cli)
    current = obj(cli, KEY) or b""
    doc = json.loads(current)
    (cli.folder / "old.json").write_text(json.dumps({**doc, "serial": doc["serial"] - 1}))
    (cli.folder / "other.json").write_text(json.dumps({**doc, "lineage": "another", "serial": doc["serial"] + 5}))
    (cli.folder / "next.json").write_text(json.dumps({**doc, "serial": doc["serial"] + 1}))
    r = cli.run("state", "push", "old.json")
    assert r.code == 1 and "newer (serial" in r.err
    r = cli.run("state", "push", "other.json")
    assert r.code == 1 and "another lineage" in r.err
    assert obj(cli, KEY) == current
    assert cli.run("state", "push", "next.json").code == 0
    assert json.loads(obj(cli, KEY) or b"")["serial"] == doc["serial"] + 1
    assert cli.run("state", "push", "--force", "old.json").code == 0

    cli.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=b"{ not json")  # a corrupt remote state ...
    r = cli.run("state", "push", "next.json")
    assert r.code == 1 and "is not valid JSON" in r.err and "list-object-versions" in r.err
    assert cli.run("state", "push", "--force", "next.json").code == 0  # ... is repaired with --force
    assert json.loads(obj(cli, KEY) or b"")["serial"] == doc["serial"] + 1


def test_a_missing_bucket_is_a_clear_error_and_nothing_is_created(cli: Env) -> None:
    cfg = cli.example("basic")
    cfg.write_text(cfg.read_text() + "state: s3://no-such-bucket/esmctl/\n")
    r = cli.run("deploy", "--yes")
    assert r.code == 1 and "the S3 bucket does not exist" in r.err and "Traceback" not in r.text
    assert cli.client("sagemaker").list_models()["Models"] == []
    d = cli.run("doctor", "--json")
    state = next(f for f in json.loads(d.out)["findings"] if f["name"] == "state")
    assert state["level"] == "error" and "aws s3 mb" in state["fix"]


def test_secret_store_local_is_refused_with_remote_state(cli: Env) -> None:
    remote(cli)
    cfg = cli.folder / "esmctl.yaml"
    cfg.write_text(cfg.read_text() + "secret_store: local\n")
    r = cli.run("validate")
    assert r.code == 1 and "secret_store" in r.err and "secretsmanager" in r.err


# --- adopting the Terraform module ---------------------------------------------------------------

def _tf_state(cli: Env, **kw: Any) -> dict[str, Any]:
    """The module applied on the sandbox, and the catalog it used next to the (future) esmctl.yaml."""
    from esmctl.sandbox import control

    (cli.folder / "models.yaml").write_text((EXAMPLES / "models.yaml").read_text())
    # Terraform waits out IAM's propagation itself (2 minutes); the fixture makes its calls at once.
    delays = ("role_propagation_seconds", "config_lookup_seconds", "key_propagation_seconds")
    saved = {k: getattr(control, k) for k in delays}
    for k in delays:
        setattr(control, k, 0.0)
    try:
        return apply_module(cli.client, **kw)
    finally:
        for k, v in saved.items():
            setattr(control, k, v)


@pytest.mark.parametrize("form", ["v4", "show-json"])
def test_import_terraform_adopts_the_module_resources(cli: Env, form: str) -> None:
    tf = _tf_state(cli, example="multi_model", shared=True)
    doc = tf if form == "v4" else show_json(tf)
    (cli.folder / "tf.json").write_text(json.dumps(doc))
    iam, sm = cli.client("iam"), cli.client("sagemaker")
    endpoints_before = sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"])
    key_id = iam.list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"][0]["AccessKeyId"]
    key_res = next(r for r in tf["resources"] if r["type"] == "aws_iam_access_key")
    secret = key_res["instances"][0]["attributes"]["secret"]

    r = cli.run("import-terraform", "tf.json")
    assert r.code == 0, r.text
    assert "terraform state rm module.esm" in r.err and "never `terraform destroy`" in r.err

    cfg = yaml.safe_load((cli.folder / "esmctl.yaml").read_text())
    assert cfg["environment"] == "dev" and cfg["region"] == "us-east-2" and cfg["iam_role_name_prefix"] == "esm"
    assert cfg["tags"] == {"Environment": "dev", "Project": "esm-partner"}
    assert cfg["enable_shared_service_account"] is True
    assert cfg["selected_models"] == {
        "performance_model": {"selector": "ESMC-300M", "instance_type": "ml.g5.4xlarge", "instance_count": 1},
        "prototype_model": {"selector": "ESMC-300M", "instance_type": "ml.g5.2xlarge", "instance_count": 1}}
    raw = cli.state_file.read_bytes()
    assert secret.encode() not in raw  # the secret is not in the esmctl state ...
    state = json.loads(raw)
    stored = json.loads(cli.client("secretsmanager").get_secret_value(
        SecretId="esmctl/dev/esm-shared-invoke-dev")["SecretString"])
    assert stored == {"aws_access_key_id": key_id, "aws_secret_access_key": secret}  # ... but in the store
    assert state["shared_account"]["access_key_id"] == key_id
    suffixes = {r["index_key"]: r["attributes"]["hex"] for r in
                next(x for x in tf["resources"] if x["type"] == "random_id")["instances"]}
    for name, dep in state["deployments"].items():
        assert dep["suffix"] == suffixes[name]
        assert dep["endpoint"]["name"] == f"Endpoint-ESMC-300M-1-{suffixes[name]}"

    p = cli.run("plan", "--json", "--detailed-exitcode")
    assert p.code == 2, p.text
    plan = json.loads(p.out)
    kinds = sorted({a["action"] for a in plan["actions"]})
    assert kinds == ["tag_resource", "tag_role", "tag_user", "update_policy"], kinds
    assert plan["summary"]["add"] == 0 and plan["summary"]["destroy"] == 0
    assert "narrowed from Resource" in next(a["reason"] for a in plan["actions"] if a["action"] == "update_policy")

    if form == "show-json":
        return  # the rest is the same for both forms (tests/unit/test_tfimport.py compares them)
    status = json.loads(cli.run("status", "--json").out)
    assert all(d["status"] == "InService" and d["running_since"] for d in status["deployments"])

    deploy(cli)
    assert cli.run("plan", "--detailed-exitcode").code == 0
    assert sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]) == endpoints_before
    assert iam.list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"][0]["AccessKeyId"] == key_id
    tags = {t["Key"]: t["Value"] for t in iam.get_role(RoleName="esm-sagemaker-exec-dev")["Role"]["Tags"]}
    assert tags["esmctl:environment"] == "dev"
    assert cli.run("creds", "--format", "json", "--reveal").out.count(secret) == 1


def test_import_terraform_straight_into_remote_state(cli: Env) -> None:
    cli.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    tf = _tf_state(cli, example="basic", shared=False)
    (cli.folder / "tf.json").write_text(json.dumps(tf))
    r = cli.run("--state", URL, "import-terraform", "tf.json")
    assert r.code == 0, r.text
    assert yaml.safe_load((cli.folder / "esmctl.yaml").read_text())["state"] == URL
    assert not cli.state_file.exists() and list(cli.state_doc()["deployments"]) == ["prototype_model"]
    assert obj(cli, LOCK) is None
    p = json.loads(cli.run("plan", "--json").out)  # esmctl.yaml now names the remote state itself
    assert p["summary"]["add"] == 0 and p["summary"]["destroy"] == 0


def test_import_terraform_changes_nothing_on_bad_input(cli: Env) -> None:
    tf = _tf_state(cli, example="basic", shared=False)
    (cli.folder / "v3.json").write_text(json.dumps({**tf, "version": 3}))
    r = cli.run("import-terraform", "v3.json")
    assert r.code == 1 and "format version 3" in r.err and "Traceback" not in r.text
    assert not (cli.folder / "esmctl.yaml").exists() and not cli.state_file.exists()

    (cli.folder / "tf.json").write_text(json.dumps(tf))
    (cli.folder / "esmctl.yaml").write_text("selected_models: {}\n")
    r = cli.run("import-terraform", "tf.json")
    assert r.code == 1 and "already exists" in r.err
    assert (cli.folder / "esmctl.yaml").read_text() == "selected_models: {}\n" and not cli.state_file.exists()

    assert cli.run("import-terraform", "--force", "tf.json").code == 0
    r = cli.run("import-terraform", "--force", "tf.json")  # a second import into the same state
    assert r.code == 1 and "already exists at" in r.err
