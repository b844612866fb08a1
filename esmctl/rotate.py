"""Rotating the shared service account's access key, safely at every step.

Order: converge leftovers (keys whose secret is not stored) → create the new key → store it →
record it → check it works (sts:GetCallerIdentity with it, retried while IAM propagates it) → only
then delete the old key. A run killed anywhere leaves at most two keys, and the next rotate or
deploy converges to one: the key whose secret is in the store wins, the others are deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from esmctl import secrets
from esmctl.errors import AwsError, EsmctlError
from esmctl.state import Store, iso, utcnow

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.ui import UI


def rotate(aws: Aws, store: Store, config: Config, ui: UI) -> dict[str, Any]:
    rec = store.state.shared_account
    assert rec is not None
    user = rec.user_name
    vault = secrets.store_for(config, aws, rec.secret_store, user)
    stored = vault.read() or {}
    keys = [k["AccessKeyId"] for k in aws.iam.list_access_keys(user)]
    current = stored.get("aws_access_key_id", "")
    if current not in keys:
        raise EsmctlError(f"The stored secret of {user} does not match any of its access keys.",
                          hint="Run `esmctl deploy`: it replaces a key whose secret was lost.")
    for k in keys:
        if k != current:  # left by a rotation that died before finishing; its secret is not stored
            ui.step(f"- access key {k} (left over by an interrupted rotation)")
            aws.iam.delete_access_key(user, k)
    with store.change():
        rec.access_key_id = current

    new = aws.iam.create_access_key(user)
    ui.step(f"+ access key {new['AccessKeyId']} for {user}")
    new_doc = {"aws_access_key_id": new["AccessKeyId"], "aws_secret_access_key": new["SecretAccessKey"]}
    try:
        ref = vault.write(new_doc)
    except BaseException:
        aws.iam.delete_access_key(user, new["AccessKeyId"])
        raise
    with store.change():
        rec.access_key_id, rec.secret_ref = new["AccessKeyId"], ref
        rec.access_key_created = iso(new.get("CreateDate") or utcnow())

    try:
        _verify(aws, new_doc)
    except AwsError as e:
        vault.write(stored)  # put the old, working key back
        aws.iam.delete_access_key(user, new["AccessKeyId"])
        with store.change():
            rec.access_key_id = current
        raise AwsError(f"The new access key did not work ({e.message}); it was deleted and the old key kept.",
                       hint="Run `esmctl creds rotate` again later.") from None
    ui.ok(f"The new key works ({user}).")
    ui.step(f"- access key {current} (the old one)")
    aws.iam.delete_access_key(user, current)
    return {"user_name": user, "old_access_key_id": current, "aws_access_key_id": new["AccessKeyId"],
            "created": rec.access_key_created}


def _verify(aws: Aws, doc: dict[str, str]) -> None:
    """sts:GetCallerIdentity with the new key; while IAM propagates it (InvalidClientTokenId for a few
    seconds) the AWS layer retries for up to about two minutes (esmctl/aws/consistency.py)."""
    aws.with_credentials(doc["aws_access_key_id"], doc["aws_secret_access_key"], fresh=True).sts.caller_identity()
