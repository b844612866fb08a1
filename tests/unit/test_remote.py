"""Remote state in S3 (esmctl/remote.py) against moto: conditional writes, the lock, the backup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from esmctl.aws import Aws
from esmctl.errors import LockHeld, StateError
from esmctl.remote import S3Backend
from esmctl.state import LockInfo, S3Url, State, parse_s3_url

REGION = "us-east-2"
URL = S3Url("team-state", "esm/")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="team-state", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def backend() -> S3Backend:
    return S3Backend(Aws(region=REGION).s3, URL, "dev")


def body(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket="team-state", Key=key)["Body"].read())


def test_a_write_with_a_stale_etag_is_refused_and_the_remote_state_is_unchanged(s3: Any) -> None:
    a, b = backend(), backend()
    st = State(region=REGION, environment="dev")
    a.write(st)
    stale = b.read()
    assert stale is not None and stale.serial == 1
    st.account_id = "123456789012"
    a.write(st)  # serial 2: b's copy is now stale
    before = body(s3, "esm/dev.json")
    stale.account_id = "999999999999"
    with pytest.raises(StateError, match="changed by another run"):
        b.write(stale)
    assert body(s3, "esm/dev.json") == before
    assert stale.serial == 1  # the refused write did not count


def test_the_first_write_refuses_to_overwrite_a_state_written_meanwhile(s3: Any) -> None:
    a, b = backend(), backend()
    assert a.read() is None and b.read() is None
    a.write(State(region=REGION, environment="dev"))
    with pytest.raises(StateError):
        b.write(State(region=REGION, environment="dev"))


def test_puts_ask_for_encryption_and_keep_the_previous_version(s3: Any) -> None:
    a = backend()
    st = State(region=REGION, environment="dev")
    a.write(st)
    first = body(s3, "esm/dev.json")
    a.write(st)
    assert body(s3, "esm/dev.json.backup") == first
    for key in ("esm/dev.json", "esm/dev.json.backup"):
        assert s3.head_object(Bucket="team-state", Key=key)["ServerSideEncryption"] == "AES256"


def test_lock_one_holder_at_a_time_and_released_only_by_its_owner(s3: Any) -> None:
    a, b = backend(), backend()
    with a.locked("esmctl deploy --yes"):
        with pytest.raises(LockHeld, match="esmctl deploy --yes"):
            with b.locked("esmctl deploy"):
                pass
        holder = b.read_lock()
        assert holder is not None and holder.command == "esmctl deploy --yes"
        b.unlock(force=True)  # someone breaks it ...
        with b.locked("esmctl refresh"):
            pass  # ... and takes it
        with b.locked("esmctl refresh"):  # a's release must not delete b's lock: held again here
            a._release()
            assert b.read_lock() is not None
    assert b.read_lock() is None


def test_a_dead_holder_on_this_host_is_taken_over(s3: Any) -> None:
    import socket

    dead = LockInfo(pid=2**22 + 7, host=socket.gethostname(), command="esmctl deploy", since="2026-11-27T10:00:00Z")
    s3.put_object(Bucket="team-state", Key="esm/dev.lock", Body=dead.model_dump_json().encode())
    told: list[LockInfo] = []
    with backend().locked("esmctl deploy", on_stale=told.append):
        pass
    assert [t.pid for t in told] == [dead.pid]


@pytest.mark.parametrize(("url", "prefix"), [("s3://b-1/team/esm", "team/esm/"), ("s3://b-1/", ""),
                                             ("s3://b-1", "")])
def test_s3_urls(url: str, prefix: str) -> None:
    assert parse_s3_url(url).prefix == prefix


@pytest.mark.parametrize("url", ["s3://B_ad/x/", "s3://ab/", "s3://bucket//x/"])
def test_bad_s3_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_url(url)
