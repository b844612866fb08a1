"""`esmctl permissions` allows every AWS action esmctl calls: a whole lifecycle through the real
command against the sandbox server, whose `control.served` records the IAM action of every request
it serves (esmctl/sandbox/_served.py), then the policy `permissions --scope all --json` prints."""

from __future__ import annotations

import fnmatch
import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import Env, deploy

pytestmark = pytest.mark.e2e

BUCKET = "perm-state"
REMOTE = f"s3://{BUCKET}/esmctl/"

# Actions that need no IAM permission, so no policy has to allow them.
# - sts:GetCallerIdentity: "No permissions are required to perform this operation. If an administrator
#   attaches a policy to your identity that explicitly denies access to the sts:GetCallerIdentity
#   action, you can still perform this operation." (AWS STS API Reference, GetCallerIdentity,
#   https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})


def ok(cli: Env, *args: str) -> str:
    """Run `esmctl *args`, which must succeed; its stdout."""
    r = cli.run(*args)
    assert r.code == 0, f"esmctl {' '.join(args)} exited {r.code}:\n{r.text}"
    return r.out


def allowed_patterns(policy: dict[str, Any]) -> list[str]:
    """The Action patterns of the policy's Allow statements (IAM action names are case-insensitive)."""
    patterns = []
    for statement in policy["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        patterns += [actions] if isinstance(actions, str) else list(actions)
    return [p.lower() for p in patterns]


def missing_from(policy: dict[str, Any], actions: set[str]) -> list[str]:
    """The actions no Allow statement's Action matches ("sagemaker:Describe*" wildcards included)."""
    patterns = allowed_patterns(policy)
    return sorted(a for a in actions if not any(fnmatch.fnmatchcase(a.lower(), p) for p in patterns))


def test_policy_allows_every_action_of_a_lifecycle(cli: Env, sandbox: Any) -> None:
    cli.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    cfg = cli.example("basic_shared_user")
    sandbox.served.clear()  # from here on, only what esmctl asks (no boto3 call of this test until the end)

    deploy(cli, "--ttl", "2h")
    cfg.write_text(cfg.read_text().replace("instance_type: ml.g5.2xlarge", "instance_type: ml.g5.4xlarge"))
    deploy(cli)  # update: a new endpoint config, UpdateEndpoint
    ok(cli, "plan", "--detailed-exitcode")
    ok(cli, "refresh")
    ok(cli, "stop", "prototype_model", "--yes")
    ok(cli, "start", "prototype_model")
    ok(cli, "stop", "prototype_model", "--at", "2099-12-01T19:00Z")

    created = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]["started_at"]
    assert created
    time.sleep(1.1)  # the endpoint is older than the window: `--idle-for` asks CloudWatch
    idle = json.loads(ok(cli, "stop", "--idle-for", "1s", "--yes", "--json"))
    assert idle["idle"] == ["prototype_model"], idle
    ok(cli, "start", "prototype_model")

    ok(cli, "creds", "--reveal", "--format", "json")
    ok(cli, "creds", "rotate", "--yes")
    ok(cli, "state", "migrate", "--to", REMOTE)
    ok(cli, "state", "pull")
    ok(cli, "invoke", "prototype_model")
    ok(cli, "status")
    ok(cli, "doctor")
    ok(cli, "destroy", "--yes")
    served = set(sandbox.served_actions())
    print("served:", json.dumps(sorted(served), indent=1))  # shown when the test fails

    assert not [a for a in served if ":?" in a or a.startswith("?")], f"requests not mapped to an action: {served}"
    r = cli.run("permissions", "--scope", "all", "--json")
    assert r.code == 0, r.text
    policy = json.loads(r.out)
    assert policy["Version"] == "2012-10-17"
    missing = missing_from(policy, served - NEEDS_NO_PERMISSION)
    assert not missing, f"`esmctl permissions --scope all` does not allow {len(missing)} served action(s): {missing}"


def test_missing_from_matches_wildcards_case_insensitively() -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ["sagemaker:Describe*", "s3:GetObject"], "Resource": "*"},
        {"Sid": "One", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
        {"Sid": "No", "Effect": "Deny", "Action": "sagemaker:DeleteEndpoint", "Resource": "*"},
    ]}
    served = {"sagemaker:DescribeEndpoint", "SageMaker:describeModel", "s3:GetObject", "iam:PassRole",
              "sagemaker:DeleteEndpoint", "s3:GetObjectTagging"}
    assert missing_from(policy, served) == ["s3:GetObjectTagging", "sagemaker:DeleteEndpoint"]
