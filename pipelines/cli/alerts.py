"""The `alerts` verbs: share seizures and alerts with partner agencies as signed bundles."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contracts.alerts import SEIZURE_FIELDS
from contracts.threats import NAMES as THREAT_NAMES
from pipelines import layout
from pipelines.alerts.errors import AlertError
from pipelines.alerts.export import bundle_summary, export_bundle
from pipelines.alerts.inbound import import_bundle
from pipelines.alerts.keys import (
    SharingPolicy,
    add_partner,
    init_keys,
    keys_dir,
    load_identity,
    load_partners,
)
from pipelines.cli.common import console, date_option, err_console, settings

alerts_app = typer.Typer(
    help="Share seizures, party alerts and indicators with partner agencies (signed bundles).",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="The agency's own signing key pair.", no_args_is_help=True)
partners_app = typer.Typer(help="Partner agencies: trusted keys and sharing policies.")
alerts_app.add_typer(keys_app, name="keys")
alerts_app.add_typer(partners_app, name="partners")


def _fail(error: Exception) -> None:
    err_console.print(f"error: {error}", soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(code=1)


def _today() -> date:
    return datetime.now(UTC).date()


def _csv(text: str | None) -> tuple[str, ...] | None:
    return tuple(p.strip() for p in text.split(",") if p.strip()) if text else None


@keys_app.command("init")
def keys_init(
    issuer: Annotated[
        str, typer.Option(help="This agency's short name in bundles, e.g. xa-customs.")
    ],
    replace: Annotated[bool, typer.Option(help="Replace an existing key pair.")] = False,
) -> None:
    """Make the agency's Ed25519 key pair (private key owner-only, 0600)."""
    try:
        identity = init_keys(settings(), issuer, replace=replace)
    except AlertError as error:
        _fail(error)
        return
    folder = keys_dir(settings())
    console.print(
        f"{identity.issuer}: key {identity.key_id}; give partners {folder / 'public.pem'}"
    )


@keys_app.command("show")
def keys_show() -> None:
    """Print the issuer name, key id and public key file."""
    try:
        identity = load_identity(settings())
    except AlertError as error:
        _fail(error)
        return
    console.print(
        f"{identity.issuer}: key {identity.key_id}; "
        f"public key {keys_dir(settings()) / 'public.pem'}"
    )


@partners_app.command("add")
def partners_add(  # noqa: PLR0917 (typer options)
    name: Annotated[str, typer.Argument(help="The partner's short name (its bundles' issuer).")],
    key: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="The partner's public key (PEM).")
    ],
    fields: Annotated[
        str | None,
        typer.Option(
            help=f"Seizure fields sent, comma-separated (default all: {','.join(SEIZURE_FIELDS)})."
        ),
    ] = None,
    pseudonymise: Annotated[
        bool, typer.Option(help="Send party names as keyed pseudonyms, not in clear.")
    ] = False,
    categories: Annotated[
        str | None,
        typer.Option(help=f"Finding categories sent (default {','.join(THREAT_NAMES)}; or other)."),
    ] = None,
    min_severity: Annotated[str, typer.Option(help="low, medium or high.")] = "medium",
    party_alerts: Annotated[bool, typer.Option(help="Send party alerts.")] = True,
    indicators: Annotated[bool, typer.Option(help="Send commodity/route indicators.")] = True,
) -> None:
    """Trust a partner's key and set what is shared with it."""
    try:
        defaults = SharingPolicy()
        policy = SharingPolicy(
            fields=_csv(fields) or defaults.fields,
            pseudonymise=pseudonymise,
            categories=_csv(categories) or defaults.categories,
            min_severity=min_severity,
            party_alerts=party_alerts,
            indicators=indicators,
        )
        partner = add_partner(settings(), name, key, policy)
    except AlertError as error:
        _fail(error)
        return
    console.print(
        f"{partner.name}: key {partner.key_id} trusted; policy {partner.policy.as_dict()}"
    )


@partners_app.command("list")
def partners_list() -> None:
    """The trusted partners, their key ids and sharing policies."""
    partners = load_partners(settings())
    if not partners:
        console.print("no partners; add one with `cargo-risk alerts partners add NAME --key FILE`")
        return
    table = Table("partner", "key id", "fields", "names", "categories", "min severity", "added")
    for partner in partners.values():
        policy = partner.policy
        table.add_row(
            partner.name,
            partner.key_id,
            ",".join(policy.fields),
            "pseudonymised" if policy.pseudonymise else "clear",
            ",".join(policy.categories),
            policy.min_severity,
            partner.added_at,
        )
    console.print(table)


def _latest_outcome_day() -> date:
    days = layout.partition_days(layout.staged_outcomes(settings()))
    return days[-1] if days else _today()


@alerts_app.command("export")
def export_verb(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="Bundle file to write.")],
    start: Annotated[
        date | None,
        date_option(
            "--from",
            help="First inspection day (default: --to minus 6).",
        ),
    ] = None,
    end: Annotated[
        date | None,
        date_option(
            "--to",
            help="Last inspection day (default: latest outcomes).",
        ),
    ] = None,
    partner: Annotated[
        str | None, typer.Option(help="Recipient; its sharing policy applies (default policy).")
    ] = None,
    valid_days: Annotated[
        int | None, typer.Option(min=1, help="Days the bundle stays valid (default settings).")
    ] = None,
) -> None:
    """Write a signed bundle of the findings of a period."""
    config = settings()
    try:
        last = end or _latest_outcome_day()
        first = start or last - timedelta(days=6)
        policy = SharingPolicy()
        if partner is not None:
            known = load_partners(config)
            if partner not in known:
                raise AlertError(f"unknown partner {partner!r}; add it with `alerts partners add`")
            policy = known[partner].policy
        bundle = export_bundle(
            config,
            load_identity(config),
            policy,
            out,
            start=first,
            end=last,
            issued_on=last,
            valid_days=valid_days,
            recipient=partner,
        )
    except (AlertError, ValueError) as error:
        _fail(error)
        return
    console.print(json.dumps({**bundle_summary(bundle), "file": str(out)}))


@alerts_app.command("import")
def import_verb(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="A partner's bundle (JSON).")],
    on: Annotated[
        date | None,
        date_option(help="Day the import counts for (default today)."),
    ] = None,
) -> None:
    """Verify, validate and import a partner's bundle; its alerts apply from the next night."""
    try:
        day = on or _today()
        result = import_bundle(settings(), file, day)
    except (AlertError, ValueError) as error:
        _fail(error)
        return
    state = "already imported" if result.already_imported else "imported"
    summary = bundle_summary(result.bundle)
    console.print(
        f"{summary['bundle_id']} from {summary['issuer']} {state}: {summary['seizures']} seizures, "
        f"{summary['party_alerts']} party alerts, {summary['indicators']} indicators; "
        f"valid to {summary['expires_on']}"
    )
    for manifest in result.lists:
        console.print(
            f"  watch list {manifest['list']} {manifest['version']}: {manifest['name_count']} names"
        )
    for issuer, count in result.rules.items():
        console.print(f"  partner rules of {issuer}: {count}")


def register(app: typer.Typer) -> None:
    """Add the `alerts` verbs to the app."""
    app.add_typer(alerts_app, name="alerts")
