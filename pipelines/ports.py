"""The night per port of discharge: plan once, assess each port, gather and publish once.

`plan_ports` (after validate) does what every port shares, once: it advances the point-in-time
history to the night (all ports' history: a trader's record does not stop at a port), fixes the
night's screening weights (how common each word is among all the night's party names),
measures the rules' and watch lists' past precision, and lists the ports of the day.
`assess_port` then featurizes, scores (models, rules, screening) and selects one port's items,
reading only that port's rows; Airflow maps it over the ports (dynamic task mapping) and
`cargo-risk run` loops over them. `publish_ports` gathers the ports' files into the day's
partitions, in the staged rows' order (training and drift read them), gives the night its run
id and publishes. The lists are byte-identical to the whole-day stages of pipelines/nightly.py
(tests/test_ports.py): selection was already per port, with a seed per (date, port).

Grain: `features/date=D/port=P/features.parquet` and `scores/date=D/port=P/*.parquet` hold one
port's rows, with `_row`, the item's position in the staged partition; the night's shared
inputs live in `scores/date=D/night/`. Locks: the plan and publish hold the date's lock; each
port holds the date's lock shared and a lock of its own (date, port).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from features.screening import WatchlistIndex
from models.scoring import ExplainTop
from pipelines import layout
from pipelines.io import (
    PARQUET_OPTIONS,
    TMP_SUFFIX,
    atomic_path,
    write_parquet,
    write_parquet_groups,
    write_text,
)
from pipelines.locks import date_lock_name, run_lock
from pipelines.memory import peak_rss_mb
from pipelines.nightly import _day, _stage_report, _timed, date_run
from pipelines.settings import Settings

ROW = "_row"
"""An item's position in the day's staged partition: the gathered files keep that order."""
NIGHT_FOLDER = "night"
"""Under the scores partition: what every port of the night shares."""
WEIGHTS_FILE = "screening_weights.json"
EVIDENCE_RULES = "evidence_rules.parquet"
EVIDENCE_WATCHLIST = "evidence_watchlist.parquet"
EVIDENCE_META = "evidence.json"
PENDING_RUN_ID = ""
"""A port's selection carries no run id: the night's is known once every port is selected."""
PART_ROW_GROUP_ROWS = 16_384
"""Rows per row group of a port's features and scores parts. The gather reads a part a row
group at a time and holds one per port: with `write_parquet`'s groups (up to 131,072 rows)
that was 190 MB more than a slice-per-group merge at 3 M a day; with these, about the same
memory (decision 0040, addendum). The parts are read by the gather alone."""
CHUNK_ROWS = 250_000
"""Items of a port featurized, scored, checked against the rules and screened at once (whole
declarations, so a chunk may run a declaration over). Measured on the largest port at 3 M and
10 M a day (decision 0033, addendum): a chunk's wide frames (the declarations, their features,
the scores) cost 3 to 4 KB an item, so 250,000 items peak at 0.7 to 0.9 GB above the port's
fixed 0.4 to 0.5 GB (models, snapshot, screening index), whatever the day's size. Smaller chunks
would not lower the task's peak at 10 M a day, which is then selection's over the whole port
(narrow columns, 2.4 GB at 3.4 M items), and each chunk pays fixed costs (reading its row
groups, planning the feature queries). Same size as validate's chunks
(`pipelines.staging_chunks.CHUNK_ROWS`)."""
_EXPLAIN_NONE = ExplainTop(rows=0)
"""Chunks are scored without reasons: the rows to explain are the port's riskiest."""
_PORT_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def port_partition(table: Path, day: date, port: str) -> Path:
    """`table/date=D/port=P`: one port's part of a day's partition."""
    return layout.partition(table, day) / f"port={port}"


def night_dir(settings: Settings, day: date) -> Path:
    """The night's shared inputs of the per-port stages."""
    return layout.scores_dir(settings, day) / NIGHT_FOLDER


def ports_of_day(settings: Settings, day: date) -> list[str]:
    """The ports of discharge of the day's staged items, sorted; ValueError for an item with
    no port or a code that cannot name a folder."""
    source = layout.staged_declarations_file(settings, day)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no staged declarations for {day}; run validate first")
    found = pl.scan_parquet(source).select(pl.col("port_of_discharge").unique()).collect()
    ports = found.get_column("port_of_discharge").to_list()
    bad = sorted(str(p) for p in ports if p is None or not _PORT_CODE.match(p))
    if bad:
        raise ValueError(f"{source}: port_of_discharge not a port code: {', '.join(bad)}")
    return sorted(ports)


# --- the plan: what all ports share -------------------------------------------------------------


@_timed("plan_ports")
def plan_ports(settings: Settings, day: date) -> dict[str, Any]:
    """History to the night, the night's screening weights and precision evidence, the ports."""
    from pipelines.featurize import drop_snapshots_after, history_before, load_references
    from pipelines.watchlists.screen import lists_in_force

    ports = ports_of_day(settings, day)
    lists = lists_in_force(settings)
    # As featurize_day: a rerun drops later snapshots, then history is advanced (and stored)
    # once, so the ports read one snapshot instead of racing to write it.
    drop_snapshots_after(settings, day)
    history_before(settings, day, load_references(settings))
    for table in (layout.features_table(settings), layout.scores_table(settings)):
        for old in layout.partition(table, day).glob("port=*"):
            shutil.rmtree(old)  # a rerun with fewer ports must not publish a stale one
    folder = night_dir(settings, day)
    write_text(
        json.dumps(night_trade_weights(settings, day), sort_keys=True), folder / WEIGHTS_FILE
    )
    _write_evidence(settings, day, folder)
    counts = (
        pl.scan_parquet(layout.staged_declarations_file(settings, day))
        .group_by("port_of_discharge")
        .len()
        .collect()
    )
    return {
        "ports": ports,
        "rows": int(counts["len"].sum()),
        "rows_per_port": dict(sorted(counts.iter_rows())),
        "watchlists": lists,
    }


def night_trade_weights(settings: Settings, day: date) -> dict[str, float]:
    """The screening index's weights of words common among all the night's party names.

    Screening a batch weighs each word by how common it is in the batch; a port is not the
    batch, the night is, so the weights are computed here once, from every port's names.
    """
    from pipelines.watchlists.screen import ROLES, index_in_force

    source = layout.staged_declarations_file(settings, day)
    names = (
        pl.concat(
            [
                pl.scan_parquet(source).select(
                    pl.col(f"{role}_name").cast(pl.String).fill_null("").alias("name")
                )
                for role in ROLES
            ]
        )
        .unique()
        .collect()
        .get_column("name")
        .to_list()
    )
    index = index_in_force(settings)
    index.set_trade_names(names)
    return dict(index.trade_weights)


class NightWeightedIndex(WatchlistIndex):
    """A screening index whose batch weights are the night's: one port's names leave them be."""

    def set_trade_names(self, names: list[str]) -> None:
        """Kept as the night set them (see `night_trade_weights`)."""


def night_index(settings: Settings, weights: dict[str, float]) -> NightWeightedIndex:
    """The index in force with the night's weights fixed."""
    from pipelines.watchlists.screen import index_in_force

    index = index_in_force(settings)
    kept = {
        f.name: getattr(index, f.name)
        for f in fields(index)
        if not f.name.startswith("_") and f.name != "trade_weights"
    }
    return NightWeightedIndex(**kept, trade_weights=dict(weights))


def _write_evidence(settings: Settings, day: date, folder: Path) -> None:
    """The rules' and watch lists' counts on past inspections, measured once for every port."""
    from pipelines.select import day_evidence

    evidence = day_evidence(settings, day)
    write_parquet(evidence.rules, folder / EVIDENCE_RULES)
    write_parquet(evidence.watchlist, folder / EVIDENCE_WATCHLIST)
    meta = {
        "inspected_items": evidence.inspected_items,
        "since": evidence.since.isoformat() if evidence.since else None,
    }
    write_text(json.dumps(meta, sort_keys=True), folder / EVIDENCE_META)


def _read_evidence(settings: Settings, day: date) -> Any:
    from pipelines.evidence import Evidence

    folder = night_dir(settings, day)
    meta_path = folder / EVIDENCE_META
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: no plan for {day}; run plan_ports first")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return Evidence(
        rules=pl.read_parquet(folder / EVIDENCE_RULES),
        watchlist=pl.read_parquet(folder / EVIDENCE_WATCHLIST),
        inspected_items=meta["inspected_items"],
        since=date.fromisoformat(meta["since"]) if meta["since"] else None,
    )


# --- one port ----------------------------------------------------------------------------------


@contextmanager
def port_run(settings: Settings, day: date, port: str) -> Iterator[None]:
    """The date's lock shared (ports run side by side) and the (date, port) lock exclusive."""
    name = date_lock_name(day)
    with run_lock(settings, name, shared=True), run_lock(settings, f"{name}.port={port}"):
        yield


def assess_port(
    settings: Settings,
    day: str | date,
    port: str,
    model: str | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Featurize, score (models, rules, screening) and select one port's items of the day.

    The model is `model` when named, else the one that scored the date's published list (a rerun
    of a past date keeps its model, decision 0027), else the champion.
    """
    from pipelines.lineage import recorded_model

    night = _day(day)
    recorded = None if model else recorded_model(settings, night)
    chosen_by = "asked" if model else "recorded for the date" if recorded else "champion"
    with port_run(settings, night, port):
        started = time.perf_counter()
        summary = _assess_port(settings, night, port, model or recorded, chunk_rows)
        summary["model_chosen_by"] = chosen_by
        summary["seconds"] = round(time.perf_counter() - started, 3)
        target = layout.run_report_dir(settings, night) / "ports" / f"{port}.json"
        write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), target)
    return summary


def _assess_port(
    settings: Settings, day: date, port: str, model: str | None, chunk_rows: int
) -> dict[str, Any]:
    from pipelines.featurize import load_references, read_snapshot
    from pipelines.pseudonym import load_key
    from pipelines.rules import night_rules_with_partners
    from pipelines.score import explain_top, load_models
    from pipelines.select import SCORES_SCHEMA, SLICES_FILE, policy_from_settings, select_lanes
    from pipelines.watchlists import clearances as clearance_store

    source = layout.staged_declarations_file(settings, day)
    weights_path = night_dir(settings, day) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: no plan for {day}; run plan_ports first")
    clock = _StepClock()
    lap = clock.lap

    with _port_scratch(settings, day, port) as scratch:
        # The port's rows as stored, in staged order, each with its position in the day:
        # streamed to scratch once, so each chunk reads only its own row groups.
        port_rows = scratch / "declarations.parquet"
        pl.scan_parquet(source).with_row_index(ROW).filter(
            pl.col("port_of_discharge") == port
        ).sink_parquet(port_rows, row_group_size=PART_ROW_GROUP_ROWS, **PARQUET_OPTIONS)
        declaration_ids = pl.read_parquet(port_rows, columns=["declaration_id"]).to_series()
        if declaration_ids.is_empty():
            raise ValueError(f"{source}: no items for port {port} on {day}")
        lap("extract")
        night = _NightInputs(
            snapshot=read_snapshot(settings, day),
            references=load_references(settings),
            key=load_key(settings),
            models=load_models(settings, model),
            rules=night_rules_with_partners(settings, day, settings.rules_dirs or None),
            index=night_index(settings, json.loads(weights_path.read_text(encoding="utf-8"))),
            clearances=clearance_store.active(clearance_store.read_export(settings)),
        )
        lap("load")
        done: list[_Chunk] = []
        for number, positions in enumerate(declaration_chunks(declaration_ids, chunk_rows)):
            done.append(
                _assess_chunk(
                    settings,
                    day,
                    night,
                    port_rows,
                    positions,
                    scratch=scratch,
                    number=number,
                    clock=clock,
                )
            )
        del declaration_ids
        # What selection reads, of the whole port, in staged order.
        scores = pl.concat([c.scores for c in done]).sort(ROW).select(ROW, *SCORES_SCHEMA)
        rule_hits = _sorted_hits([c.rule_hits for c in done], "rule_id")
        watch_hits = _sorted_hits([c.watch_hits for c in done], "entry_id")
        screened_rows = sum(c.screened_rows for c in done)
        # Reasons go to the port's riskiest rows (`explain_top`), known once all are scored.
        explained = scores.select(ROW).filter(
            explain_top(settings).mask(
                scores.get_column("risk_score").to_numpy(), scores.get_column("port_of_discharge")
            )
        )
        reasons = _reasons_of(night, [c.features for c in done], explained.get_column(ROW), scores)
        scores = _with_reasons(scores, reasons)
        lap("score")
        selection = select_lanes(
            scores.drop(ROW),
            rule_hits,
            watch_hits,
            policy=policy_from_settings(settings),
            day=day,
            run_id=PENDING_RUN_ID,
            evidence=_read_evidence(settings, day),
        )
        model_version = scores["model_version"][0]
        del scores
        lap("select")
        features_target = (
            port_partition(layout.features_table(settings), day, port) / layout.FEATURES_FILE
        )
        # One chunk's features part is already the port's: moved, not read and written again.
        if len(done) != 1 or not _moved(done[0].features, features_target):
            _merge_by_row(
                [c.features for c in done], features_target, group_rows=PART_ROW_GROUP_ROWS
            )
        folder = port_partition(layout.scores_table(settings), day, port)
        _merge_by_row(
            [c.scores_part for c in done],
            folder / layout.SCORES_FILE,
            group_rows=PART_ROW_GROUP_ROWS,
            reasons=reasons,
        )
    write_parquet(rule_hits, folder / layout.RULE_HITS_FILE)
    write_parquet(watch_hits, folder / layout.WATCHLIST_HITS_FILE)
    write_parquet(selection.ranked, folder / layout.SELECTION_FILE)
    write_parquet(selection.slices, folder / SLICES_FILE)
    lap("write")
    (port_summary,) = selection.ports
    return {
        "port": port,
        "rows": sum(c.rows for c in done),
        "chunks": len(done),
        "model_version": model_version,
        "rule_hits": rule_hits.height,
        "rules_fired": sorted(rule_hits["rule_id"].unique().to_list()),
        "watchlist_hits": watch_hits.height,
        "watchlist_suppressed": screened_rows - watch_hits.height,
        "selection": port_summary.as_dict(),
        "notes": selection.notes,
        "step_seconds": clock.seconds,
        "step_peak_rss_mb": clock.peak_mb,
    }


@dataclass(frozen=True)
class _NightInputs:
    """What every chunk of a port reads, loaded once."""

    snapshot: Any
    references: Any
    key: Any
    models: Any
    rules: Any
    index: NightWeightedIndex
    clearances: pl.DataFrame


@dataclass(frozen=True)
class _Chunk:
    """What a chunk leaves: its wide parts on scratch, its narrow results in memory."""

    rows: int
    features: Path
    scores_part: Path
    scores: pl.DataFrame
    rule_hits: pl.DataFrame
    watch_hits: pl.DataFrame
    screened_rows: int


class _StepClock:
    """Wall seconds and the process's peak RSS by step of a port's task; a step run once per
    chunk adds its seconds and keeps its highest peak."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}
        self._since = time.perf_counter()

    def lap(self, step: str) -> None:
        """Close `step`: the time since the last lap, the peak so far."""
        now = time.perf_counter()
        self.seconds[step] = round(self.seconds.get(step, 0.0) + now - self._since, 3)
        self.peak_mb[step] = max(self.peak_mb.get(step, 0.0), round(peak_rss_mb(), 1))
        self._since = now


def declaration_chunks(declaration_ids: pl.Series, chunk_rows: int) -> list[pl.Series]:
    """Positions (in a port's staged rows) of each chunk: whole declarations, in the order of
    their first item, cut after about `chunk_rows` items; each chunk's positions ascending.

    A declaration is never split: features and selection read a declaration's other lines
    (selection's one examination per consignment, its watch-list hits shared over lines).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    items = pl.DataFrame({"declaration_id": declaration_ids}).with_row_index("position")
    sizes = items.group_by("declaration_id", maintain_order=True).agg(pl.len().alias("n"))
    sizes = sizes.select(
        "declaration_id",
        ((pl.col("n").cum_sum() - pl.col("n")) // chunk_rows).alias("chunk"),
    )
    chunked = items.join(sizes, on="declaration_id", how="left", maintain_order="left")
    return [
        part.get_column("position")
        for part in chunked.partition_by("chunk", maintain_order=True, include_key=False)
    ]


def _assess_chunk(
    settings: Settings,
    day: date,
    night: _NightInputs,
    port_rows: Path,
    positions: pl.Series,
    *,
    scratch: Path,
    number: int,
    clock: _StepClock,
) -> _Chunk:
    """Featurize, score (without reasons), check the rules and screen one chunk of a port, each
    step timed on the port's `clock`."""
    from contracts.declarations import DECLARATIONS
    from features.build import build_features
    from pipelines.pseudonym import pseudonymise
    from pipelines.rules import rule_hits_of
    from pipelines.score import score_features
    from pipelines.watchlists.screen import (
        DECLARATION_COLUMNS,
        hits_not_cleared,
        screen_declarations,
    )

    lap = clock.lap
    first, last = int(positions[0]), int(positions[-1])
    stored = pl.scan_parquet(port_rows).slice(first, last - first + 1).collect()
    if stored.height != len(positions):  # a declaration's items not all side by side
        stored = stored[(positions - first).to_list()]
    rows = stored.get_column(ROW)
    declarations = stored.select([pl.col(c).cast(t) for c, t in DECLARATIONS.polars_schema.items()])
    # Trader ids leave staging only as pseudonyms (decision 0027); screening reads them in clear.
    declarations = pseudonymise(declarations, night.key)
    features = build_features(declarations, night.snapshot, night.references)
    del declarations
    features_part = scratch / f"features-{number:06d}.parquet"
    # Straight to the file, no rename: the scratch folder is temporary as a whole.
    features.with_columns(rows).write_parquet(
        features_part, **PARQUET_OPTIONS, row_group_size=PART_ROW_GROUP_ROWS
    )
    lap("featurize")
    # No reasons yet: they go to the port's riskiest rows, known when every chunk is scored.
    scores = score_features(settings, features, loaded=night.models, explain=_EXPLAIN_NONE)
    scores = scores.with_columns(rows)
    scores_part = scratch / f"scores-{number:06d}.parquet"
    scores.write_parquet(scores_part, **PARQUET_OPTIONS, row_group_size=PART_ROW_GROUP_ROWS)
    lap("score")
    rule_hits = rule_hits_of(night.rules, stored.drop(ROW).lazy(), features.lazy(), day)
    del features
    lap("rules")
    schema = stored.schema
    screen_columns = [c for c in DECLARATION_COLUMNS if c in schema or not c.endswith("_id")]
    screened = screen_declarations(
        stored.select(screen_columns),
        settings,
        settings.watchlist_threshold,
        night.index,
        night.clearances,
    )
    watch_hits = hits_not_cleared(screened)
    lap("screen")
    return _Chunk(
        rows=stored.height,
        features=features_part,
        scores_part=scores_part,
        scores=scores.drop("filed_at"),
        rule_hits=rule_hits,
        watch_hits=watch_hits,
        screened_rows=screened.height,
    )


def _reasons_of(
    night: _NightInputs, features_parts: list[Path], explained: pl.Series, scores: pl.DataFrame
) -> pl.DataFrame:
    """(`_row`, reasons) of the explained rows, from their features read back from the parts."""
    from models.scoring import reasons_of

    wanted = pl.col(ROW).is_in(explained.implode())
    features = pl.concat([pl.scan_parquet(p).filter(wanted) for p in features_parts]).collect()
    features = features.sort(ROW)
    calibrated = features.select(ROW).join(scores, on=ROW, how="left", maintain_order="left")
    _, models = night.models
    texts = reasons_of(models, features, calibrated)
    return pl.DataFrame(
        {ROW: features.get_column(ROW), "reasons": pl.Series(texts, dtype=pl.String)}
    )


def _sorted_hits(parts: list[pl.DataFrame], last: str) -> pl.DataFrame:
    """The chunks' hits as the whole port's stage gives them: by item, then rule or entry."""
    return pl.concat(parts).sort("declaration_id", "item_no", last, maintain_order=True)


def _moved(source: Path, target: Path) -> bool:
    """Rename `source` onto `target` (atomic); False where they are on different file systems."""
    import os

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError:
        return False
    return True


@contextmanager
def _port_scratch(settings: Settings, day: date, port: str) -> Iterator[Path]:
    """A scratch folder for one port's chunk parts, in the date's scores partition, removed
    after; named as every temporary (`.<name>.<random>.tmp`), so the date's next one-at-a-time
    stage sweeps what a killed port left."""
    import tempfile

    folder = layout.scores_dir(settings, day)
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".port={port}.chunks.", suffix=TMP_SUFFIX, dir=folder))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- gather and publish ------------------------------------------------------------------------


def run_id_of(day: date, ranked: pl.DataFrame) -> str:
    """The night's run id: a digest of its lists' content, port by port, so a rerun (and the
    whole-day and per-port nights alike) gets the same id."""
    ports = sorted(ranked.get_column("port_of_discharge").unique().to_list())
    return run_id_of_ports(
        day, ((p, ranked.filter(pl.col("port_of_discharge") == p)) for p in ports)
    )


def run_id_of_ports(day: date, lists: Iterable[tuple[str, pl.DataFrame]]) -> str:
    """`run_id_of` from each port's lists in turn (ports in order), never the whole day's."""
    digest = hashlib.sha256()
    for port, frame in lists:
        buffer = io.BytesIO()
        frame.drop("run_id").rechunk().write_parquet(
            buffer, compression="uncompressed", statistics=False
        )
        digest.update(port.encode())
        digest.update(buffer.getvalue())
    return f"{day.isoformat()}-{digest.hexdigest()[:12]}"


def with_run_id(ranked: Frame, run_id: str) -> Frame:
    """The lists with the night's run id set."""
    return ranked.with_columns(pl.lit(run_id, dtype=pl.String).alias("run_id"))


def publish_ports(settings: Settings, day: str | date) -> dict[str, Any]:
    """Gather the ports' files into the day's partitions, then publish as the whole-day night."""
    from pipelines.nightly import publish

    night = _day(day)
    with date_run(settings, night):
        gather_ports(settings, night)
        return publish(settings, night)


def planned_ports(settings: Settings, day: date) -> list[str]:
    """The ports the night's plan found."""
    report = layout.run_report_dir(settings, day) / "plan_ports.json"
    if not report.is_file():
        raise FileNotFoundError(f"{report}: no plan for {day}; run plan_ports first")
    ports: list[str] = json.loads(report.read_text(encoding="utf-8"))["ports"]
    return ports


def gather_ports(settings: Settings, day: date) -> None:
    """The day's features, scores, hits and selection from the ports' parts, as the whole-day
    stages write them (items in staged order), and the stage reports the run report reads."""
    from pipelines.select import SLICES_FILE

    ports = planned_ports(settings, day)
    scores_folders = [port_partition(layout.scores_table(settings), day, p) for p in ports]
    missing = [p for p, f in zip(ports, scores_folders, strict=True) if not f.is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{layout.scores_dir(settings, day)}: port(s) {', '.join(missing)} not assessed; "
            "run assess_port for them first"
        )
    features_parts = [
        port_partition(layout.features_table(settings), day, p) / layout.FEATURES_FILE
        for p in ports
    ]
    _merge_by_row(features_parts, layout.features_file(settings, day))
    _merge_by_row(
        [f / layout.SCORES_FILE for f in scores_folders], layout.scores_file(settings, day)
    )
    target = layout.scores_dir(settings, day)
    # In the whole-day stages' order: by item, then rule or watch-list entry.
    for name, last in (
        (layout.RULE_HITS_FILE, "rule_id"),
        (layout.WATCHLIST_HITS_FILE, "entry_id"),
    ):
        hits = pl.concat([pl.read_parquet(f / name) for f in scores_folders])
        write_parquet(
            hits.sort("declaration_id", "item_no", last, maintain_order=True), target / name
        )
    # The lists a port at a time: the run id's digest, then the day's file, streamed.
    selections = [f / layout.SELECTION_FILE for f in scores_folders]
    run_id = run_id_of_ports(
        day, ((p, pl.read_parquet(f)) for p, f in zip(ports, selections, strict=True))
    )
    ranked = pl.concat([pl.scan_parquet(f) for f in selections])
    with atomic_path(target / layout.SELECTION_FILE) as tmp:
        ranked.pipe(with_run_id, run_id).sink_parquet(tmp, **PARQUET_OPTIONS)
    report_dir = layout.run_report_dir(settings, day)
    slices = pl.concat([pl.read_parquet(f / SLICES_FILE) for f in scores_folders])
    write_parquet(slices, report_dir / SLICES_FILE)
    rows = ranked.select(pl.len()).collect().item()
    _stage_reports(settings, day, ports, rows, run_id)


def _merge_by_row(
    parts: list[Path],
    target: Path,
    *,
    group_rows: int | None = None,
    reasons: pl.DataFrame | None = None,
) -> Path:
    """Merge parts (each in staged order, no `_row` in two) into one file in staged order, one
    row group at a time: a row group of the target, and at most one row group of each part, in
    memory.

    The target's rows `start..stop` are, in each part, the contiguous run of its rows whose
    `_row` falls between the `_row` of the target's `start`th and `stop`th rows: the next run of
    the part's file, which is read front to back, each of its row groups once (`_PartReader`).
    Without `group_rows` the parts are the ports' and the target is the day's: its row groups
    are those `write_parquet` cuts for the day's row count, so the file is the one the whole
    frame would give, without the whole frame, and `_row` is dropped. With it the parts are a
    port's chunks, the target the port's part: groups of `group_rows`, `_row` kept, and
    `reasons` (`_row`, reasons) filled in.
    """
    from pipelines.staging_chunks import row_group_sizes

    rows = [pl.read_parquet(p, columns=[ROW]).get_column(ROW) for p in parts]
    total = sum(len(r) for r in rows)
    if group_rows is None:
        sizes = row_group_sizes(total)
    else:
        sizes = [min(group_rows, total - start) for start in range(0, total, group_rows)]
    bounds = list(itertools.accumulate(sizes, initial=0))
    if group_rows is None:
        edges = pl.Series(bounds, dtype=pl.UInt32)  # every staged row: the row is its position
    else:
        ordered = pl.concat(rows).sort()
        edges = pl.concat([ordered.gather(bounds[:-1]), ordered.tail(1) + 1])
    # cuts[p][g]: how many of part p's rows come before row group g of the target.
    cuts = [r.search_sorted(edges.cast(r.dtype)).to_list() for r in rows]
    del rows

    def groups() -> Iterator[pl.DataFrame]:
        readers = [_PartReader(p) for p in parts]
        for g in range(len(bounds) - 1):
            runs = [
                reader.take(cut[g + 1] - cut[g]) for reader, cut in zip(readers, cuts, strict=True)
            ]
            group = pl.concat(runs).sort(ROW)
            if group_rows is None:
                yield group.drop(ROW)
            else:
                yield group if reasons is None else _with_reasons(group, reasons)

    schema = pl.read_parquet_schema(parts[0])
    kept = {c: t for c, t in schema.items() if c != ROW or group_rows is not None}
    return write_parquet_groups(groups, pl.Schema(kept), target, row_group_size=group_rows)


def _with_reasons(frame: pl.DataFrame, reasons: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the reasons of the rows `reasons` (`_row`, reasons) holds set."""
    found = frame.select(ROW).join(
        reasons.rename({"reasons": "_found"}), on=ROW, how="left", maintain_order="left"
    )
    return (
        frame.with_columns(found.get_column("_found"))
        .with_columns(pl.coalesce("_found", "reasons").alias("reasons"))
        .drop("_found")
    )


class _PartReader:
    """One port's part read front to back, each of its row groups read once, whole:
    `take(n)` gives its next `n` rows.

    A row group is the smallest piece a Parquet reader decodes, so a part holds at most one of
    its row groups beyond what was taken. (Reading Arrow batches through pyarrow instead held
    about twice the memory for the same CPU: decision 0040, addendum.)
    """

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self._path = path
        meta = pq.read_metadata(path)
        self._groups = iter([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        self._scan = pl.scan_parquet(path)
        self._read = 0
        # A part may give nothing to the first groups (a port's later chunk): an empty start.
        self._held: list[pl.DataFrame] = [pl.DataFrame(schema=self._scan.collect_schema())]
        self._held_rows = 0

    def take(self, n: int) -> pl.DataFrame:
        while self._held_rows < n:
            rows = next(self._groups, None)
            if rows is None:
                raise ValueError(f"{self._path}: ends {n - self._held_rows} rows short of its _row")
            self._held.append(self._scan.slice(self._read, rows).collect())
            self._read += rows
            self._held_rows += rows
        held = pl.concat(self._held) if len(self._held) != 1 else self._held[0]
        self._held, self._held_rows = [held.slice(n)], held.height - n
        return held.head(n)


def _stage_reports(settings: Settings, day: date, ports: list[str], rows: int, run_id: str) -> None:
    """The whole-day stage reports, summed over the ports, for the run report."""
    from pipelines.select import night_rules, policy_from_settings, precision_report

    folder = layout.run_report_dir(settings, day)
    per_port = [
        json.loads((folder / "ports" / f"{p}.json").read_text(encoding="utf-8")) for p in ports
    ]
    plan = json.loads((folder / "plan_ports.json").read_text(encoding="utf-8"))
    risk = pl.read_parquet(layout.scores_file(settings, day), columns=["risk_score"])
    seconds = {
        step: round(sum(p["step_seconds"].get(step, 0.0) for p in per_port), 3)
        for step in ("featurize", "score", "rules", "screen", "select")
    }
    reports: dict[str, dict[str, Any]] = {
        "featurize": {"features": str(layout.features_file(settings, day)), "rows": rows},
        "score": {
            "rows": rows,
            "model_version": per_port[0]["model_version"] if per_port else None,
            "model_chosen_by": per_port[0].get("model_chosen_by", "champion") if per_port else None,
            "risk_score_p99": round(risk["risk_score"].quantile(0.99) or 0.0, 4),
        },
        "rules": {
            "rule_hits": sum(p["rule_hits"] for p in per_port),
            "rules_fired": sorted({r for p in per_port for r in p["rules_fired"]}),
        },
        "screen": {
            "watchlist_hits": sum(p["watchlist_hits"] for p in per_port),
            "watchlist_suppressed": sum(p["watchlist_suppressed"] for p in per_port),
            "watchlists": plan["watchlists"],
        },
        "select": {
            "run_id": run_id,
            "rows": rows,
            "notes": [n for p in per_port for n in p["notes"]],
            "ports": {p["port"]: p["selection"] for p in per_port},
            "precision": precision_report(
                night_rules(settings, day),
                _read_evidence(settings, day),
                policy_from_settings(settings),
            ),
        },
    }
    for stage, summary in reports.items():
        _stage_report(settings, day, stage, {**summary, "seconds": seconds[stage]})
