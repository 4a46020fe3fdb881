"""Alert bundles as bytes: canonical form, signing, and the checks an incoming bundle must pass.

The signature covers the canonical JSON of the whole bundle without its `signature` member: keys
sorted, no insignificant white space, UTF-8. A bundle holds no floating-point numbers, so the
canonical form is the same in any JSON library. Checks, in order, each refusing with one line:
JSON that parses, an issuer this agency trusts, a signature that verifies against that issuer's
key (so any changed byte of content is caught), the JSON Schema of the format, a format version
this reader knows, a recipient that is this agency (when named) and an expiry not yet passed.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from typing import Any

import jsonschema

from contracts.alerts import FORMAT, FORMAT_VERSION, SCHEMA_FILE
from pipelines.alerts.errors import AlertError
from pipelines.alerts.keys import Identity, Partner, sign, verifies


def canonical_bytes(bundle: dict[str, Any]) -> bytes:
    """The bytes the signature covers: the bundle without `signature`, canonically serialised."""
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    return json.dumps(
        unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def signed(bundle: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """The bundle with its signature member set by the agency's key."""
    if bundle.get("issuer") != identity.issuer:
        raise AlertError(f"bundle issuer {bundle.get('issuer')!r} is not this agency")
    return {
        **bundle,
        "signature": {
            "algorithm": "Ed25519",
            "key_id": identity.key_id,
            "value": sign(identity, canonical_bytes(bundle)),
        },
    }


def to_text(bundle: dict[str, Any]) -> str:
    """How a bundle is written to a file: indented for people; the signature does not depend on
    the layout, only on the content."""
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def schema_errors(bundle: Any) -> list[str]:
    """Where and why `bundle` breaks the shipped schema (empty when it conforms)."""
    found = sorted(_validator().iter_errors(bundle), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in found
    ]


def check_bundle(
    text: str,
    partners: dict[str, Partner],
    on: date,
    own_name: str | None = None,
) -> dict[str, Any]:
    """The bundle in `text` if it passes every check on day `on`; else AlertError, one line."""
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlertError(f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise AlertError(f'not an alert bundle (no "format": "{FORMAT}")')
    issuer = bundle.get("issuer")
    partner = partners.get(issuer) if isinstance(issuer, str) else None
    if partner is None:
        raise AlertError(f"unknown issuer {issuer!r}: not among the trusted partners")
    signature = bundle.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("value"), str):
        raise AlertError(f"unsigned: no signature by {issuer}")
    if signature.get("key_id") != partner.key_id:
        raise AlertError(
            f"signed with key {signature.get('key_id')!r}, not {issuer}'s trusted key "
            f"{partner.key_id}"
        )
    if not verifies(partner.public_key, canonical_bytes(bundle), signature["value"]):
        raise AlertError(f"signature does not verify: changed after {issuer} signed it")
    errors = schema_errors(bundle)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AlertError(f"does not match the alert bundle schema: {errors[0]}{more}")
    major = bundle["format_version"].split(".")[0]
    if major != FORMAT_VERSION.split(".")[0]:
        raise AlertError(f"format version {bundle['format_version']} is not readable here")
    recipient = bundle.get("recipient")
    if own_name is not None and recipient is not None and recipient != own_name:
        raise AlertError(f"addressed to {recipient}, not to this agency ({own_name})")
    expires = date.fromisoformat(bundle["expires_on"])
    if expires < on:
        raise AlertError(f"expired on {expires} (checked on {on})")
    if date.fromisoformat(bundle["issued_on"]) > expires:
        raise AlertError("expires before it was issued")
    return bundle
