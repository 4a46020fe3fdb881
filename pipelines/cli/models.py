"""The `models` verbs: list versions, show one, promote through the gate, roll back, card."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from pipelines.cli.common import console, err_console, settings

app = typer.Typer(
    help="Model versions: list, show, promote (gated), rollback.", no_args_is_help=True
)


def _fail(what: str, error: Exception) -> typer.Exit:
    err_console.print(f"[red]{what}:[/red] {error}")
    return typer.Exit(code=1)


@app.command("list")
def list_models() -> None:
    """Every saved version, oldest first; * marks the champion."""
    from pipelines.lifecycle import list_versions

    config = settings()
    versions = list_versions(config)
    if not versions:
        console.print("no model versions yet: run `cargo-risk train`")
        return
    for v in versions:
        mark = "*" if v["champion"] else " "
        figures = ", ".join(
            f"{c} {p:.3f}" if p is not None else f"{c} n/a"
            for c, p in sorted(v["precision_at_budget"].items())
        )
        budget = f"{config.model_gate_budget:.0%}"
        summary = f"precision at {budget}: {figures}" if figures else "not evaluated"
        console.print(
            f"{mark} {v['version']}  trained until {v['trained_until']}  {summary}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("show")
def show(version: Annotated[str, typer.Argument(help="Version id (see `models list`).")]) -> None:
    """A version's metadata, metrics and warnings, as JSON (without the phrases)."""
    from models.registry import read_metadata
    from pipelines.lifecycle import models_root

    folder = models_root(settings()) / version
    try:
        meta = read_metadata(folder)
    except FileNotFoundError as error:
        raise _fail("cannot show", error) from error
    meta.pop("phrases", None)
    meta.pop("drift_profile", None)
    evaluation = folder / "evaluation.json"
    if evaluation.is_file():
        meta["evaluation"] = json.loads(evaluation.read_text(encoding="utf-8"))
        for entry in meta["evaluation"]["versions"].values():
            for metrics in entry["categories"].values():
                metrics.pop("curves", None)
            entry.pop("importance", None)
    console.print_json(json.dumps(meta, default=str))


@app.command("promote")
def promote_verb(
    version: Annotated[str, typer.Argument(help="Version id to make champion.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even when the gate refuses (logged).")
    ] = False,
) -> None:
    """Compare with the champion at the inspection budget; promote if the gate passes."""
    from pipelines.lifecycle import promote, write_card

    config = settings()
    try:
        decision = promote(config, version, datetime.now(UTC), force=force)
        card = write_card(config, version)
    except (FileNotFoundError, ValueError) as error:
        raise _fail("cannot promote", error) from error
    for reason in decision["reasons"]:
        console.print(f"- {reason}", highlight=False, soft_wrap=True)
    verdict = "promoted to champion" if decision["promoted"] else "NOT promoted"
    console.print(f"{version}: {verdict}; model card {card}", highlight=False, soft_wrap=True)
    if not decision["promoted"] and decision["action"] == "refuse":
        raise typer.Exit(code=2)


@app.command("rollback")
def rollback_verb() -> None:
    """Make the previous champion champion again."""
    from pipelines.lifecycle import rollback

    try:
        decision = rollback(settings(), datetime.now(UTC))
    except (FileNotFoundError, ValueError) as error:
        raise _fail("cannot roll back", error) from error
    console.print(f"champion is now {decision['version']} (was {decision['previous']})")


@app.command("card")
def card_verb(version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Evaluate a version against the champion and write its HTML model card."""
    from pipelines.lifecycle import current_champion, evaluate_version, write_card

    config = settings()
    try:
        evaluate_version(config, version, current_champion(config), datetime.now(UTC))
        path = write_card(config, version)
    except (FileNotFoundError, ValueError) as error:
        raise _fail("cannot write the card", error) from error
    console.print(f"model card written to {path}")


def register(root: typer.Typer) -> None:
    """Add `models`."""
    root.add_typer(app, name="models")
