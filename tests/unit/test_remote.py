"""Remote state in S3 (esmctl/remote.py) against moto: conditional writes, the lock, the backup."""

from __future__ import annotations

import json
from typing import Any

import pytest

from esmctl.aws import Aws
from esmctl.errors import LockHeld, StateError
from esmctl.remote import S3Backend
from esmctl.state import LockInfo, State, parse_s3_url
from tests.unit.conftest import REGION, URL


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


class LostAnswers:
    """An S3 adapter whose conditional PUTs succeed but lose their answer, and botocore's retry then
    gets 412 — as when a connection drops after S3 applied the first attempt."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def put(self, bucket: str, key: str, data: bytes, **cond: Any) -> str:
        from esmctl.errors import PreconditionFailed

        self.s3.put(bucket, key, data, **cond)
        if cond:
            raise PreconditionFailed("s3:PutObject: the object changed since it was read (412)", code="412")
        return "unconditional"


def test_a_retried_conditional_put_that_finds_its_own_write_succeeds(s3: Any) -> None:
    b = S3Backend(LostAnswers(Aws(region=REGION).s3), URL, "dev")  # type: ignore[arg-type]
    st = State(region=REGION, environment="dev")
    with b.locked("esmctl deploy"):
        b.read()
        b.write(st)
        b.write(st)
    assert st.serial == 2 and b.read_lock() is None  # both writes counted, the lock was released
    assert json.loads(body(s3, "esm/dev.json"))["serial"] == 2


def test_a_paused_run_that_lost_its_lock_writes_nothing_even_if_it_writes_first(s3: Any) -> None:
    now = [0.0]
    a = S3Backend(Aws(region=REGION).s3, URL, "dev", clock=lambda: now[0])
    st = State(region=REGION, environment="dev")
    backend().write(st)
    before = body(s3, "esm/dev.json")
    with a.locked("esmctl deploy --yes"):
        mine = a.read()
        assert mine is not None
        now[0] += 600  # a is paused ...
        b = backend()
        b.unlock(force=True)  # ... its lock is broken and another run takes it
        with b.locked("esmctl refresh"):
            b.read()
            with pytest.raises(StateError, match="no longer holds the lock"):
                a.write(mine)  # a resumes and tries to write before b does
            assert body(s3, "esm/dev.json") == before
            assert mine.serial == 1
    with pytest.raises(s3.exceptions.NoSuchKey):
        body(s3, "esm/dev.json.backup")  # the refused write did not back anything up


def test_a_holder_with_this_host_name_on_another_machine_is_not_taken_over(s3: Any) -> None:
    import socket

    other = LockInfo(pid=2**22 + 7, host=socket.gethostname(), command="esmctl deploy", since="2026-11-27T10:00:00Z",
                     machine="another-boot/pid:[1]")
    s3.put_object(Bucket="team-state", Key="esm/dev.lock", Body=other.model_dump_json().encode())
    with pytest.raises(LockHeld, match="locked by pid"):
        with backend().locked("esmctl deploy"):
            pass
    with pytest.raises(LockHeld, match="another machine"):
        backend().unlock()
    assert backend().unlock(force=True) is not None


def test_a_lock_that_cannot_be_released_is_a_warning_not_a_failure(s3: Any) -> None:
    from esmctl.errors import AwsError

    warned: list[str] = []
    b = S3Backend(Aws(region=REGION).s3, URL, "dev", warn=warned.append)
    with b.locked("esmctl deploy"):
        def expired(*_a: Any, **_k: Any) -> bool:
            raise AwsError("s3:DeleteObject: the AWS credentials are invalid or expired", code="ExpiredToken")
        b.s3.delete = expired  # type: ignore[method-assign]
    assert warned and "unlock --force" in warned[0]
