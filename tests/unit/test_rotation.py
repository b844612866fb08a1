"""`esmctl creds rotate` as a plan through the executor, against the in-memory fake AWS
(tests/fakes.py), whose STS accepts an access key only if IAM has it and the secret matches:
leftovers deleted, a new key stored and verified, only then the old one deleted; a new key that
does not work is deleted and the old one put back."""

from __future__ import annotations

from pathlib import Path

import pytest

from esmctl import secrets
from esmctl.errors import AwsError
from esmctl.plan import Plan, plan_only
from esmctl.resources import shared_user
from tests.fakes import Env, aws_error


@pytest.fixture
def env(tmp_path: Path, fast_disk: None) -> Env:
    """The shared-user example, deployed."""
    env = Env(tmp_path, "basic_shared_user")
    assert env.deploy().failures == []
    return env


def user(env: Env) -> str:
    return env.config.shared_user_name


def stored(env: Env) -> dict[str, str] | None:
    return env.aws.secrets.value(secrets.secret_name("dev", user(env)))


def rotation(env: Env) -> Plan:
    env.refresh()
    return plan_only(env.planning(), shared_user.plan_rotation)


def test_rotation_deletes_leftovers_then_creates_verifies_and_only_then_deletes_the_old_key(env: Env) -> None:
    old = env.state.shared_account.access_key_id  # type: ignore[union-attr]
    leftover = env.aws.iam.create_access_key(user(env))["AccessKeyId"]  # a rotation died before storing it
    p = rotation(env)
    assert [(a.action, a.name) for a in p.actions] == [
        ("delete_access_key", leftover), ("create_access_key", user(env)), ("verify_access_key", user(env)),
        ("delete_access_key", old)]
    env.aws.reset_calls()
    assert env.apply(p).failures == []

    (new,) = env.aws.iam.user_keys(user(env))  # IAM allows two keys: the leftover had to go first
    assert new not in (old, leftover)
    assert stored(env) == {"aws_access_key_id": new, "aws_secret_access_key": env.aws.iam.keys[new]["SecretAccessKey"]}
    assert env.state.shared_account.access_key_id == new  # type: ignore[union-attr]
    assert env.saved()["shared_account"]["access_key_id"] == new
    ops = [(c.op, c.name) for c in env.aws.calls if c.op in ("CreateAccessKey", "PutSecretValue",
                                                             "GetCallerIdentity", "DeleteAccessKey")]
    assert ops == [("DeleteAccessKey", f"{user(env)}/{leftover}"), ("CreateAccessKey", user(env)),
                   ("PutSecretValue", secrets.secret_name("dev", user(env))), ("GetCallerIdentity", new),
                   ("DeleteAccessKey", f"{user(env)}/{old}")]


def test_a_new_key_that_does_not_work_is_deleted_and_the_old_one_kept(env: Env) -> None:
    old = env.state.shared_account.access_key_id  # type: ignore[union-attr]
    old_secret = stored(env)
    env.aws.fail("GetCallerIdentity", lambda key: key not in ("", old), times=None,
                 error=aws_error("sts:GetCallerIdentity", "", "InvalidClientTokenId",
                                 "The security token included in the request is invalid."))
    p = rotation(env)
    with pytest.raises(AwsError) as e:
        env.apply(p)

    assert e.value.message.startswith("The new access key did not work (sts:GetCallerIdentity: the AWS credentials "
                                      "are invalid or expired (InvalidClientTokenId)); it was deleted and the old "
                                      "key kept.")
    assert "creds rotate" in e.value.hint
    assert env.aws.iam.user_keys(user(env)) == [old]
    assert stored(env) == old_secret  # the old, working secret is back
    assert env.state.shared_account.access_key_id == old  # type: ignore[union-attr]
    assert env.saved()["shared_account"]["access_key_id"] == old
    assert env.aws.count("DeleteAccessKey", f"{user(env)}/{old}") == 0


def test_a_lost_answer_while_storing_the_new_key_leaves_a_working_secret_stored(env: Env) -> None:
    env.aws.fail("PutSecretValue", after=True)  # stored; the answer never came
    p = rotation(env)
    with pytest.raises(AwsError):
        env.apply(p)

    doc = stored(env)
    assert doc is not None and doc["aws_access_key_id"] in env.aws.iam.user_keys(user(env))
