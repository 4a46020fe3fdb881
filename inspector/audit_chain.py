"""The audit log's hash chain: each row stores sha256(previous row's hash + its own content).

Triggers refuse updates, deletes and reused ids, but whoever can drop a trigger can rewrite the
file; the chain makes such a rewrite visible, since changing or removing a row breaks the hash of
every later row. It cannot show rows cut from the end: compare the newest hash with a copy kept
elsewhere for that.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

GENESIS = "0" * 64


def canonical(
    at: datetime, *, username: str, role: str, action: str, target: str, detail: str
) -> str:
    """One row's content as fixed JSON (UTC time to the microsecond, keys in order)."""
    return json.dumps(
        [at.astimezone(UTC).isoformat(), username, role, action, target, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def chain_hash(previous: str, content: str) -> str:
    """The hash a row stores: sha256 of the previous row's hash followed by its content."""
    return hashlib.sha256((previous + content).encode("utf-8")).hexdigest()
