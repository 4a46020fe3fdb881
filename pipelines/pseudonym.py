"""Keyed pseudonyms for trader ids: what leaves staging carries an HMAC, never the id itself.

Staging (and the inspector app reading it) holds party names and trader ids in clear, because
inspectors need them. Everything derived for models and data scientists (history snapshots,
features, scores, model files, training sets) must not: the featurize stage replaces
`shipper_id`, `consignee_id` and `declarant_id` by `<key id>:<HMAC-SHA256>` as it reads staging,
so history is kept and joined on pseudonyms. An HMAC under one key maps equal ids to equal
pseudonyms, so every count is the same as with clear ids; without the key a pseudonym cannot be
reversed or recomputed from a guessed id (a plain hash could, ids being short). Party names
never reach those zones at all: features read them in memory and keep only numbers.

The key is a small JSON file apart from the data (`Settings.pseudonym_key_file`, created 0600).
Rotating it (`rotate_key`) gives a new key id and drops the history snapshots, which the next
night rebuilds from staging under the new key; the key id in every pseudonym says which key made
it, so a join of pseudonyms across a rotation fails visibly instead of silently matching nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines import layout
from pipelines.settings import Settings

ID_COLUMNS = ("shipper_id", "consignee_id", "declarant_id")
"""Trader ids that never leave staging in clear."""
NAME_COLUMNS = ("shipper_name", "consignee_name")
"""Party names: read in memory by features, written to no zone after staging."""
DIGEST_CHARS = 32
"""Hex characters of the HMAC kept: 128 bits, no collision among any realistic trader count."""


class PseudonymKeyError(RuntimeError):
    """The key file is unreadable, malformed or open to other users."""


@dataclass(frozen=True)
class PseudonymKey:
    """One secret and the id that every pseudonym made with it starts with."""

    key_id: str
    secret: bytes

    @property
    def marker(self) -> str:
        """`<key id>/<fingerprint>`: names the key without revealing it (stored with history)."""
        check = hmac.new(self.secret, b"cargo-risk key fingerprint", hashlib.sha256).hexdigest()
        return f"{self.key_id}/{check[:16]}"

    def pseudonym(self, value: str) -> str:
        """`<key id>:<hex HMAC-SHA256 of value>`."""
        digest = hmac.new(self.secret, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{self.key_id}:{digest[:DIGEST_CHARS]}"


def key_file(settings: Settings) -> Path:
    """Where the key lives: the setting, else `<home>/keys/pseudonym.key`."""
    return settings.pseudonym_key_file or settings.home / "keys" / "pseudonym.key"


def _write_key(path: Path, key: PseudonymKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"key_id": key.key_id, "secret": key.secret.hex()}, handle)
    os.replace(tmp, path)


def load_key(settings: Settings, *, create: bool = True) -> PseudonymKey:
    """The key in force; a new one (id `k1`) is made on first use when `create`."""
    path = key_file(settings)
    if not path.exists():
        if not create:
            raise PseudonymKeyError(f"{path}: no pseudonym key")
        key = PseudonymKey("k1", secrets.token_bytes(32))
        _write_key(path, key)
        return key
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PseudonymKeyError(f"{path}: pseudonym key readable by others; chmod 600 it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        key = PseudonymKey(str(data["key_id"]), bytes.fromhex(data["secret"]))
    except (ValueError, KeyError, TypeError) as error:
        raise PseudonymKeyError(f"{path}: not a pseudonym key file ({error})") from error
    if len(key.secret) < 16 or not key.key_id or ":" in key.key_id:
        raise PseudonymKeyError(f"{path}: key id must be set and the secret at least 16 bytes")
    return key


def rotate_key(settings: Settings) -> PseudonymKey:
    """Replace the key by a new one with the next id, and drop history made with the old one."""
    old = load_key(settings)
    number = int(old.key_id[1:]) + 1 if old.key_id[1:].isdigit() else 2
    new = PseudonymKey(f"k{number}", secrets.token_bytes(32))
    _write_key(key_file(settings), new)
    # Snapshots are keyed on pseudonyms of the old key: rebuilt from staging on the next night.
    shutil.rmtree(layout.snapshots(settings), ignore_errors=True)
    # Who rotated and when is kept with every other action; the markers never reveal a secret.
    from pipelines.audit_trail import PSEUDONYM_ROTATE, record_action

    record_action(settings, PSEUDONYM_ROTATE, new.marker, {"replaced": old.marker})
    return new


def pseudonymise(frame: pl.DataFrame, key: PseudonymKey) -> pl.DataFrame:
    """`frame` with every trader-id column it has replaced by its pseudonym (nulls stay null)."""
    replaced = []
    for column in ID_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column].drop_nulls().unique().to_list()
        pseudonyms = [key.pseudonym(v) for v in values]
        replaced.append(pl.col(column).replace(values, pseudonyms))
    return frame.with_columns(replaced) if replaced else frame
