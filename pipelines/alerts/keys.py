"""The agency's own Ed25519 key pair and the partner agencies it trusts.

Layout under the alerts zone: `keys/private.pem` (PKCS#8, owner-only 0600), `keys/public.pem`
and `keys/identity.json` (the issuer name bundles carry); `partners.json`, one entry per partner
with its public key, key id and the sharing policy for what is sent to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.alerts import FINDING_CATEGORIES, ISSUER_PATTERN, SEIZURE_FIELDS, SEVERITIES
from contracts.threats import NAMES as THREAT_NAMES
from pipelines import layout
from pipelines.alerts.errors import AlertError
from pipelines.io import atomic_path, write_text
from pipelines.settings import Settings

PRIVATE_FILE = "private.pem"
PUBLIC_FILE = "public.pem"
IDENTITY_FILE = "identity.json"
PARTNERS_FILE = "partners.json"


def check_agency_name(name: str) -> str:
    """The name, if it is a valid agency short name (`customs-xa`)."""
    if len(name) > 31 or not re.fullmatch(ISSUER_PATTERN, name):
        raise AlertError(
            f"agency name {name!r}: use up to 31 lower-case letters and digits, words joined by '-'"
        )
    return name


def key_id(public_key: Ed25519PublicKey) -> str:
    """16 hex digits of the SHA-256 of the raw public key: how bundles name the signing key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM text (what a partner is given)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def read_public_key(text: str, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text; one-line error otherwise."""
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise AlertError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AlertError(f"{where}: not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class Identity:
    """Who this agency is in the bundles it signs."""

    issuer: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)


def keys_dir(settings: Settings) -> Path:
    return layout.alerts_home(settings) / "keys"


def init_keys(settings: Settings, issuer: str, *, replace: bool = False) -> Identity:
    """Create the agency's key pair (private key owner-only); refuses to replace one silently."""
    check_agency_name(issuer)
    folder = keys_dir(settings)
    private_path = folder / PRIVATE_FILE
    if private_path.exists() and not replace:
        raise AlertError(
            f"{private_path}: a key pair exists already; pass --replace to make a new one "
            "(partners must then be given the new public key)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with atomic_path(private_path) as tmp:
        tmp.write_bytes(pem)
        os.chmod(tmp, 0o600)
    os.chmod(private_path, 0o600)  # atomic_path widens to the umask; the key stays owner-only
    write_text(public_pem(private_key.public_key()), folder / PUBLIC_FILE)
    identity = Identity(issuer, private_key)
    text = json.dumps({"issuer": issuer, "key_id": identity.key_id}, indent=2) + "\n"
    write_text(text, folder / IDENTITY_FILE)
    return identity


def load_identity(settings: Settings) -> Identity:
    """The agency's issuer name and private key; a one-line hint when none was made."""
    folder = keys_dir(settings)
    private_path = folder / PRIVATE_FILE
    if not private_path.is_file() or not (folder / IDENTITY_FILE).is_file():
        raise AlertError(f"{folder}: no key pair; run `cargo-risk alerts keys init --issuer NAME`")
    if private_path.stat().st_mode & 0o077:
        raise AlertError(f"{private_path}: readable by others; chmod 600 it before signing")
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AlertError(f"{private_path}: not an Ed25519 private key")
    issuer = json.loads((folder / IDENTITY_FILE).read_text(encoding="utf-8"))["issuer"]
    return Identity(check_agency_name(issuer), key)


def sign(identity: Identity, message: bytes) -> str:
    """Base64 Ed25519 signature of `message` (deterministic: same bytes, same signature)."""
    return base64.b64encode(identity.private_key.sign(message)).decode("ascii")


def verifies(public_key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is `public_key`'s signature of `message`."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class SharingPolicy:
    """What leaves the agency for one partner."""

    fields: tuple[str, ...] = SEIZURE_FIELDS
    """Optional seizure fields sent; the alert id, date, category and severity always go."""
    pseudonymise: bool = False
    """Party names replaced by a keyed digest (stable, but not screenable by the partner)."""
    categories: tuple[str, ...] = THREAT_NAMES
    """Finding categories shared (threat categories by default; `other` on request)."""
    min_severity: str = "medium"
    party_alerts: bool = True
    indicators: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fields) - set(SEIZURE_FIELDS))
        if unknown:
            raise AlertError(f"unknown seizure field(s) {unknown}; known: {list(SEIZURE_FIELDS)}")
        bad = sorted(set(self.categories) - set(FINDING_CATEGORIES))
        if bad or not self.categories:
            raise AlertError(
                f"categories {list(self.categories)}: choose from {list(FINDING_CATEGORIES)}"
            )
        if self.min_severity not in SEVERITIES:
            raise AlertError(f"min severity {self.min_severity!r}: one of {list(SEVERITIES)}")

    def lets_out(self, severity: str) -> bool:
        """Whether an alert of `severity` meets the minimum."""
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SharingPolicy:
        defaults = cls()
        return cls(
            fields=tuple(raw.get("fields", defaults.fields)),
            pseudonymise=bool(raw.get("pseudonymise", defaults.pseudonymise)),
            categories=tuple(raw.get("categories", defaults.categories)),
            min_severity=str(raw.get("min_severity", defaults.min_severity)),
            party_alerts=bool(raw.get("party_alerts", defaults.party_alerts)),
            indicators=bool(raw.get("indicators", defaults.indicators)),
        )


@dataclass(frozen=True)
class Partner:
    """A partner agency: its key (to check what it sends) and the policy for what it gets."""

    name: str
    public_pem: str
    key_id: str
    policy: SharingPolicy = field(default_factory=SharingPolicy)
    added_at: str = ""

    @property
    def public_key(self) -> Ed25519PublicKey:
        return read_public_key(self.public_pem, f"partner {self.name}")


def _partners_path(settings: Settings) -> Path:
    return layout.alerts_home(settings) / PARTNERS_FILE


def load_partners(settings: Settings) -> dict[str, Partner]:
    """The partners this agency trusts, by name (none when the file is absent)."""
    path = _partners_path(settings)
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: Partner(
            name=name,
            public_pem=entry["public_key"],
            key_id=entry["key_id"],
            policy=SharingPolicy.from_dict(entry.get("policy", {})),
            added_at=entry.get("added_at", ""),
        )
        for name, entry in raw.items()
    }


def add_partner(
    settings: Settings, name: str, public_key_file: Path, policy: SharingPolicy
) -> Partner:
    """Trust a partner's public key (replacing an earlier one of that name) and set its policy."""
    check_agency_name(name)
    try:
        text = public_key_file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertError(f"{public_key_file}: cannot read the key: {exc}") from None
    key = read_public_key(text, str(public_key_file))
    partner = Partner(
        name,
        public_pem(key),
        key_id(key),
        policy,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    partners = load_partners(settings)
    partners[name] = partner
    document = {
        p.name: {
            "public_key": p.public_pem,
            "key_id": p.key_id,
            "policy": p.policy.as_dict(),
            "added_at": p.added_at,
        }
        for p in sorted(partners.values(), key=lambda p: p.name)
    }
    write_text(json.dumps(document, indent=2) + "\n", _partners_path(settings))
    return partner
