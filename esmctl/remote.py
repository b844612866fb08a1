"""Remote state: one environment's state document and its lock as objects in an S3 bucket.

`state: s3://BUCKET/PREFIX/` keeps `PREFIX<environment>.json` and, while a changing command runs,
`PREFIX<environment>.lock`. Rules, as Terraform's S3 backend with S3-native locking:

- The lock is taken with a conditional write (`IfNoneMatch="*"`): of two runs, exactly one gets it;
  the other fails at once naming the holder. It is deleted at the end with `IfMatch` on its ETag,
  so a run never deletes a lock somebody else took.
- Every state write is conditional on the ETag this run read or last wrote (`IfMatch`), so a run
  that lost its lock (someone ran `unlock --force` while it was paused) fails loudly instead of
  overwriting a newer state; before writing, a run that has not looked for LOCK_RECHECK seconds
  also checks that the lock is still its own (a paused run that resumes writes nothing).
- A conditional write that botocore retried after a lost answer may find its own first attempt
  there (412): when the object holds exactly what this run sent, the write counts as done.
- Server-side encryption is requested on every put (state, lock and backup): SSE-S3, or SSE-KMS
  under `state_kms_key` when it is set (for buckets whose policy demands it).
- Earlier versions are kept by the bucket's versioning when it is enabled (every write), else as the
  object `PREFIX<environment>.json.backup`: the version a run started from, written once after the
  run's first overwrite succeeded — one extra PUT a run instead of one a write (a deploy writes the
  state before and after every step).

The AWS calls go through esmctl.aws.S3; everything else here is bookkeeping.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esmctl import state as state_mod
from esmctl.errors import EsmctlError, LockHeld, PreconditionFailed, StateError
from esmctl.state import LockInfo, S3Url, State

if TYPE_CHECKING:
    from esmctl.aws import S3

LOCK_RECHECK = 5.0  # seconds: a state write first re-reads the lock if it was last seen longer ago


class S3Backend:
    def __init__(self, s3: S3, url: S3Url, environment: str, *, warn: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, kms_key: str = "") -> None:
        self.s3 = s3
        self.kms_key = kms_key  # "" = SSE-S3; else SSE-KMS with this key on every put
        self.bucket = url.bucket
        self.key = url.key(environment)
        self.backup_key = url.key(environment, ".json.backup")
        self.lock_key = url.key(environment, ".lock")
        self.where = f"s3://{self.bucket}/{self.key}"
        self.lock_where = f"s3://{self.bucket}/{self.lock_key}"
        self.warn = warn or (lambda _msg: None)
        self.clock = clock
        self._mutex = threading.RLock()
        self._versioned: bool | None = None
        self._lock_etag: str | None = None  # while this run holds the lock
        self._lock_seen = 0.0  # when the lock was last seen to be ours (clock)
        self._start_run()

    def _start_run(self) -> None:
        self._read = False  # whether this run has read the document yet
        self._etag: str | None = None  # ETag of the version this run read or wrote last; None: no object
        self._last: bytes | None = None
        self._backed_up = False

    # --- the document -------------------------------------------------------------------------
    def read_bytes(self) -> bytes | None:
        with self._mutex:
            got = self.s3.get(self.bucket, self.key)
            self._read = True
            self._last, self._etag = got if got is not None else (None, None)
            return self._last

    def read(self) -> State | None:
        raw = self.read_bytes()
        return None if raw is None else state_mod.parse(raw, self.where)

    def write(self, state: State) -> None:
        with self._mutex:
            before = state.serial
            try:
                self.write_bytes(state_mod.dump(state))
            except BaseException:
                state.serial = before
                raise

    def write_bytes(self, data: bytes) -> None:
        """Replace the document, only over the version this run knows (else StateError)."""
        with self._mutex:
            if not self._read:
                self.read_bytes()
            self._check_lock()
            previous = self._last
            etag: str | None
            try:
                if self._etag is None:
                    etag = self._put(self.key, data, if_none_match=True)
                else:
                    etag = self._put(self.key, data, if_match=self._etag)
            except PreconditionFailed:
                etag = self._own_write(self.key, data)
                if etag is None:
                    raise StateError(
                        f"The remote state {self.where} was changed by another run since this one read it; "
                        "this run's write was refused, and the remote state is unchanged.",
                        hint="Another run may have taken the lock (`esmctl unlock --force`) while this one was "
                        "still running. Run `esmctl refresh` to see where things stand, then run the command "
                        "again.") from None
            self._etag, self._last = etag, data
            if previous is not None and not self._backed_up and not self.versioned():
                self._put(self.backup_key, previous)  # the version this run started from
                self._backed_up = True

    def _put(self, key: str, data: bytes, **cond: Any) -> str:
        """Every PutObject of this backend (state, backup, lock): with SSE-KMS under `kms_key` if set."""
        if self.kms_key:
            cond["kms_key"] = self.kms_key
        return self.s3.put(self.bucket, key, data, **cond)

    def _own_write(self, key: str, data: bytes) -> str | None:
        """After a 412: the object's ETag when it holds exactly `data` (botocore retried a write whose
        first attempt had succeeded), else None (somebody else wrote it)."""
        got = self.s3.get(self.bucket, key)
        return got[1] if got is not None and got[0] == data else None

    def versioned(self) -> bool:
        if self._versioned is None:
            self._versioned = self.s3.versioning_enabled(self.bucket)
        return self._versioned

    # --- the lock -----------------------------------------------------------------------------
    def read_lock(self) -> LockInfo | None:
        got = self.s3.get(self.bucket, self.lock_key)
        return None if got is None else _lock_info(got[0])

    def _check_lock(self) -> None:
        """Before a state write: is the lock still this run's? (Looked at most every LOCK_RECHECK s.)"""
        if self._lock_etag is None or self.clock() - self._lock_seen < LOCK_RECHECK:
            return
        got = self.s3.get(self.bucket, self.lock_key)
        if got is None or got[1] != self._lock_etag:
            holder = f"; it is now held by {_lock_info(got[0]).describe()}" if got else ""
            raise StateError(
                f"This run no longer holds the lock {self.lock_where} (someone ran `esmctl unlock --force`?)"
                f"{holder}; its state write was refused, and the remote state is unchanged.",
                hint="Run `esmctl refresh` to see where things stand, then run the command again.")
        self._lock_seen = self.clock()

    @contextlib.contextmanager
    def locked(self, command: str, on_stale: Callable[[LockInfo], None] | None = None) -> Iterator[None]:
        """Hold `<environment>.lock` for the block; fail at once if another run has it.

        A lock whose holder ran on this machine and is gone (killed, crashed) is taken over after
        `on_stale` is told; a holder elsewhere can only be cleared with `esmctl unlock --force`.
        """
        data = LockInfo.mine(command).model_dump_json().encode()
        for attempt in range(3):
            try:
                self._lock_etag = self._put(self.lock_key, data, if_none_match=True)
                break
            except PreconditionFailed:
                got = self.s3.get(self.bucket, self.lock_key)
                if got is None:  # released between our put and get: try again
                    continue
                if got[0] == data:  # our own first attempt, answered 412 on botocore's retry
                    self._lock_etag = got[1]
                    break
                holder = _lock_info(got[0])
                if holder.alive() is False and attempt == 0:
                    if on_stale:
                        on_stale(holder)
                    with contextlib.suppress(PreconditionFailed):  # someone else took it over first
                        self.s3.delete(self.bucket, self.lock_key, if_match=got[1])
                    continue
                raise LockHeld(
                    f"The remote state {self.where} is locked by {holder.describe()}.",
                    hint="Wait for that run to finish. If it died, `esmctl unlock --force` shows the holder "
                    "and removes the lock.") from None
        else:
            raise LockHeld(f"Could not take the lock {self.lock_where}.", hint="Run the command again.")
        self._lock_seen = self.clock()
        self._start_run()  # a new run: read the state afresh, a new .backup
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        etag, self._lock_etag = self._lock_etag, None
        if etag is None:
            return
        try:
            self.s3.delete(self.bucket, self.lock_key, if_match=etag)  # never a lock someone else took
        except PreconditionFailed:
            pass  # no longer ours (forced away and taken by another run): not ours to delete
        except EsmctlError as e:  # e.g. credentials expired during a long wait: say so, keep the result
            self.warn(f"Could not remove the lock {self.lock_where} ({e.message}); once this run has ended, "
                      "remove it with `esmctl unlock --force`.")

    def unlock(self, *, force: bool = False) -> LockInfo | None:
        got = self.s3.get(self.bucket, self.lock_key)
        if got is None:
            return None
        holder = _lock_info(got[0])
        holder.check_removable(force=force)
        try:
            self.s3.delete(self.bucket, self.lock_key, if_match=got[1])
        except PreconditionFailed:
            raise LockHeld(f"The lock {self.lock_where} changed while it was being removed (another run took it).",
                           hint="Run `esmctl unlock` again to see the new holder.") from None
        return holder


def _lock_info(raw: bytes) -> LockInfo:
    return LockInfo.parse(raw, "lock object")


def backend_for(location: Path | S3Url, environment: str, s3: Callable[[], S3],
                warn: Callable[[str], None] | None = None, *, kms_key: str = "") -> state_mod.Backend:
    """The backend for a state location; `s3()` gives the S3 adapter (only asked for remote state).
    `kms_key` (`state_kms_key`): SSE-KMS with that key for every object written; "" = SSE-S3."""
    if isinstance(location, S3Url):
        return S3Backend(s3(), location, environment, warn=warn, kms_key=kms_key)
    return state_mod.LocalBackend(location)


__all__ = ["S3Backend", "StateError", "backend_for"]
