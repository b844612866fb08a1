"""`state_kms_key:`: every object of a remote state (state, lock, backup) is written with SSE-KMS under
that key; the setting is validated like the others (file:line) and refused with a local state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from esmctl import config
from esmctl.aws import Aws
from esmctl.errors import ConfigError
from esmctl.remote import S3Backend, backend_for
from esmctl.state import State
from tests.unit.conftest import REGION, URL

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-2:111122223333:key/{KEY_ID}"


def _sse(s3: Any, key: str) -> tuple[str, str | None]:
    head = s3.head_object(Bucket="team-state", Key=key)
    return head["ServerSideEncryption"], head.get("SSEKMSKeyId")


def test_state_lock_and_backup_are_written_with_sse_kms_under_the_key(s3: Any) -> None:
    key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    backend = backend_for(URL, "dev", lambda: Aws(region=REGION).s3, kms_key=key_arn)
    assert isinstance(backend, S3Backend)
    st = State(region=REGION, environment="dev")
    with backend.locked("esmctl deploy"):
        assert _sse(s3, "esm/dev.lock") == ("aws:kms", key_arn)
        backend.write(st)
        st.account_id = "123456789012"
        backend.write(st)  # the second write keeps the first as the .backup (versioning is off)
    assert _sse(s3, "esm/dev.json") == ("aws:kms", key_arn)
    assert _sse(s3, "esm/dev.json.backup") == ("aws:kms", key_arn)
    again = S3Backend(Aws(region=REGION).s3, URL, "dev", kms_key=key_arn).read()  # S3 decrypts on read
    assert again is not None and again.account_id == "123456789012"


def test_without_a_key_it_is_sse_s3(s3: Any) -> None:
    backend = S3Backend(Aws(region=REGION).s3, URL, "dev")
    backend.write(State(region=REGION, environment="dev"))
    assert _sse(s3, "esm/dev.json") == ("AES256", None)


# --- validation ------------------------------------------------------------------------------------


def _write(project: Path, state: str, key: str) -> Path:
    path = project / "esmctl.yaml"
    path.write_text(f"state: {state}\nstate_kms_key: {key}\nselected_models: {{}}\n")
    return path


@pytest.mark.parametrize("key", [
    '""', KEY_ARN, KEY_ID, "alias/esmctl-state", "alias/team/esmctl_state-1",
    "arn:aws:kms:us-east-2:111122223333:alias/esmctl-state",
    "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + KEY_ID,
    "mrk-1234abcd12ab34cd56ef1234567890ab",
])
def test_accepted_keys(project: Path, key: str) -> None:
    cfg = config.load(_write(project, "s3://team-state/esm/", key))
    assert cfg.settings.state_kms_key == key.strip('"')


@pytest.mark.parametrize("key", [
    "my-key", "arn:aws:kms:us-east-2:111122223333:key/", "arn:aws:s3:::team-state",
    "arn:aws:kms:us-east-2:1111:key/" + KEY_ID, "alias/", "alias/has space", KEY_ID + "0",
    "arn:aws:kms:us-east-2:111122223333:key/" + KEY_ID + "/x",
])
def test_malformed_keys_are_refused_with_file_and_line(project: Path, key: str) -> None:
    path = _write(project, "s3://team-state/esm/", f'"{key}"')
    with pytest.raises(ConfigError) as e:
        config.load(path)
    (problem,) = e.value.problems
    assert problem.render().startswith(f"{path}:2:1: state_kms_key: ")
    assert "is not a KMS key" in problem.message and "arn:aws:kms:REGION:ACCOUNT:key/ID" in problem.message


def test_a_key_with_a_local_state_is_refused(project: Path) -> None:
    path = _write(project, '""', KEY_ARN)
    with pytest.raises(ConfigError) as e:
        config.load(path)
    (problem,) = e.value.problems
    assert problem.render().startswith(f"{path}:2:1: state_kms_key: ")
    assert "local file, so it would do nothing" in problem.message
    # --state s3://... makes it remote: accepted; --state to a file: refused, naming --state
    assert config.load(path, state="s3://team-state/esm/").settings.state_kms_key == KEY_ARN
    with pytest.raises(ConfigError) as e:
        config.load(_write(project, "s3://team-state/esm/", KEY_ARN), state="states/dev.json")
    assert "--state is a local file" in e.value.problems[0].message
