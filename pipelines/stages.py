"""The nightly stages, defined once: the DAG's tasks and `cargo-risk run` are both built from
`NIGHTLY`.

Each row names a stage (the DAG's task id), the function that does its work (as
"module:function", imported only when the stage runs), the stages it waits for, the typed summary
it returns (JSON-able, for XCom and the CLI), whether a data error fails it at once, the asset it
updates and whether it is skipped when it did nothing. `cargo-risk run` runs the rows in the
table's order, which is a dependency order (checked on import); the DAG runs them as the
dependencies allow, so score, rules and screen run side by side.

Imported at DAG parse time, so it stays light: the standard library only.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, cast

if TYPE_CHECKING:
    from pipelines.settings import Settings


class Summary:
    """A stage's typed summary; built from the dict the stage's function returns."""

    LOOSE_PREFIXES: ClassVar[tuple[str, ...]] = ()
    """Keys starting with these are gathered into the `loose` field (e.g. one per lane)."""

    @classmethod
    def from_dict(cls, found: Mapping[str, Any]) -> Self:
        """The summary of `found`; TypeError naming any key the summary does not declare, so a
        stage and its summary cannot drift apart unnoticed."""
        names = {f.name for f in dataclasses.fields(cast(Any, cls))}
        loose = {k: v for k, v in found.items() if k.startswith(cls.LOOSE_PREFIXES or ("\0",))}
        unknown = sorted(set(found) - names - set(loose))
        if unknown:
            raise TypeError(f"{cls.__name__}: undeclared summary key(s) {', '.join(unknown)}")
        given = {k: v for k, v in found.items() if k in names}
        if loose:
            given["loose"] = loose
        return cls(**given)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-able values (what XCom carries)."""
        return dataclasses.asdict(cast(Any, self))

    def nothing_done(self) -> bool:
        """True when the stage found nothing to do (such a stage may be skipped in the DAG)."""
        return False


@dataclass(frozen=True)
class AppExportSummary(Summary):
    written: str | None = None
    """The outcomes file written to landing, or None when the app had nothing new."""


@dataclass(frozen=True)
class IngestSummary(Summary):
    loaded: dict[str, int]
    skipped: list[str]
    rejected: dict[str, str]
    dates: list[str]
    seconds: float = 0.0


@dataclass(frozen=True)
class ValidateSummary(Summary):
    rows_read: int
    rows_rejected: int
    rows_staged: int
    amendments_superseded: int
    staging: str
    rejections: list[dict[str, Any]]
    late: dict[str, dict[str, Any]]
    seconds: float = 0.0


@dataclass(frozen=True)
class DataDocsSummary(Summary):
    index: str
    rows: int
    success: bool
    expectations: int
    failed_expectations: int
    runs: int
    seconds_prepare: float
    seconds_import: float
    seconds_gx: float
    seconds: float = 0.0
    rows_in_night: int = 0
    """Raw rows of the night; `rows` of them were validated (decision 0047)."""
    sample_every: int = 1
    """1 row in this many validated: 1 up to `data_docs_max_rows` rows a night."""


@dataclass(frozen=True)
class OutcomesSummary(Summary):
    imported: dict[str, int]
    rejected_rows: dict[str, int]
    rejected_files: dict[str, str]
    skipped: list[str]
    reasons: dict[str, int]
    dates: list[str]
    seconds: float = 0.0

    def nothing_done(self) -> bool:
        return not any(self.imported.values())


@dataclass(frozen=True)
class AlertsImportSummary(Summary):
    imported: list[str]
    already_imported: list[str]
    refused: dict[str, str]
    lists_updated: list[str]
    partner_rules: dict[str, int]


@dataclass(frozen=True)
class ScoreSummary(Summary):
    rows: int
    model_version: str | None
    risk_score_p99: float
    model_chosen_by: str = "champion"
    """"asked" (`--model`), "recorded for the date" (a rerun keeps its model) or "champion"."""
    seconds: float = 0.0


@dataclass(frozen=True)
class PublishSummary(Summary):
    LOOSE_PREFIXES: ClassVar[tuple[str, ...]] = ("lane_",)

    date: str
    partition: str
    rows: int
    ports: int
    republished: dict[str, str]
    report: str
    version: int = 1
    """The number this publication got among the date's kept list versions."""
    disparity: str | None = None
    """The night's disparity report (JSON; the HTML beside it), linked from the run report."""
    loose: dict[str, int] = field(default_factory=dict)
    """Items per lane, as `lane_<name>`."""
    seconds: float = 0.0

    def lane(self, name: str) -> int:
        """Items published in lane `name`."""
        return self.loose.get(f"lane_{name}", 0)


@dataclass(frozen=True)
class RetentionSummary(Summary):
    as_of: str
    tables: dict[str, dict[str, Any]]
    """Per table: the partitions removed and those held past their time, by reason."""
    removed: int


@dataclass(frozen=True)
class PlanSummary(Summary):
    ports: list[str]
    """The ports of discharge of the night's items: what `per_port` stages are mapped over."""
    rows: int
    rows_per_port: dict[str, int]
    watchlists: dict[str, str]
    seconds: float = 0.0


@dataclass(frozen=True)
class PortSummary(Summary):
    port: str
    rows: int
    model_version: str | None
    rule_hits: int
    rules_fired: list[str]
    watchlist_hits: int
    watchlist_suppressed: int
    selection: dict[str, Any]
    notes: list[str]
    step_seconds: dict[str, float]
    step_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    """The process's peak memory by the end of each step (chunks' steps: the largest)."""
    chunks: int = 1
    """How many chunks of declarations the port was featurized and scored in."""
    model_chosen_by: str = "champion"
    """"asked" (`--model`), "recorded for the date" (a rerun keeps its model) or "champion"."""
    seconds: float = 0.0


@dataclass(frozen=True)
class PortsSummary(Summary):
    """A `per_port` stage's summaries in `cargo-risk run`, by port."""

    ports: dict[str, Summary]


@dataclass(frozen=True)
class AlertsExportSummary(Summary):
    exported: dict[str, Any]
    note: str | None = None


@dataclass(frozen=True)
class Stage:
    """One row of the table."""

    name: str
    """The DAG's task id; also how `cargo-risk run` names it."""
    function: str
    """"module:function" called as function(settings, day, **options) -> dict."""
    needs: tuple[str, ...]
    """Stages that must have finished first."""
    summary: type[Summary]
    doc: str
    """What the stage does, one or two sentences (the task's docs in the Airflow UI)."""
    fail_once: bool = True
    """A data error (no input, a refused batch) fails it without retries."""
    outlet: str | None = None
    """The Airflow asset URI it updates when it succeeds."""
    skip_when_idle: bool = False
    """In the DAG, skipped when it did nothing, so its asset is not updated."""
    trigger_rule: str = "all_success"
    """Airflow's rule for when it runs; "all_done": even when what it needs failed (in `run`, a
    failed stage stops the night, so it runs only after a success)."""
    options: tuple[str, ...] = ()
    """The run's options the function takes as keywords (`model`: `cargo-risk run --model`, the
    DAG conf's `model`); an option left unset (None) is not passed."""
    per_port: bool = False
    """Runs once per port of the night, as function(settings, day, port): Airflow maps it over
    the ports `PORTS_FROM` found, `cargo-risk run` loops over them (pipelines/ports.py)."""

    def resolve(self) -> Callable[..., dict[str, Any]]:
        """The function, imported now (stage modules are heavy)."""
        module, _, attribute = self.function.partition(":")
        found: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module), attribute)
        return found

    def run(
        self, settings: Settings, day: date, options: Mapping[str, Any] | None = None
    ) -> Summary:
        """Run the stage for `day` with the run's `options` it takes; its typed summary."""
        return self.summary.from_dict(self.resolve()(settings, day, **self.taken(options)))

    def run_port(
        self, settings: Settings, day: date, port: str, options: Mapping[str, Any] | None = None
    ) -> Summary:
        """Run a `per_port` stage for one port of `day` (with the `options` it takes); its typed
        summary."""
        return self.summary.from_dict(self.resolve()(settings, day, port, **self.taken(options)))

    def taken(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The run's options this row names, those left unset (None) left out."""
        return {k: v for k, v in (options or {}).items() if k in self.options and v is not None}


S = TypeVar("S", bound=Summary)

RANKED_LISTS = "cargo-risk://lists/ranked_list"
OUTCOMES = "cargo-risk://outcomes"
"""Updated whenever validation imports outcomes; cargo_risk_retrain listens to it."""

PORTS_FROM = "plan_ports"
"""The stage whose summary's `ports` the `per_port` stages run over."""

NIGHTLY: tuple[Stage, ...] = (
    Stage(
        "export_app_outcomes",
        "inspector.export:export_stage",
        (),
        AppExportSummary,
        "Writes what inspectors recorded in the app since the last export to landing/outcomes.",
        fail_once=False,
    ),
    Stage(
        "ingest",
        "pipelines.nightly:ingest",
        (),
        IngestSummary,
        "Copies new landing files into raw, one partition per filing date; files seen before "
        "are skipped.",
    ),
    Stage(
        "validate",
        "pipelines.nightly:validate",
        ("ingest",),
        ValidateSummary,
        "Checks the date's raw rows against the declarations contract (Great Expectations): "
        "good rows to staging, rejected rows to quarantine with their reason.",
    ),
    Stage(
        "data_docs",
        "pipelines.nightly:data_docs",
        ("validate",),
        DataDocsSummary,
        "Great Expectations Data Docs of the date's batch, linked from the run report; runs even "
        "when validation stopped the night, since that is when someone will want to look.",
        trigger_rule="all_done",
    ),
    Stage(
        "import_outcomes",
        "pipelines.nightly:import_outcomes",
        ("validate", "export_app_outcomes"),
        OutcomesSummary,
        "Imports new inspection outcomes; skipped when none arrived, so retraining is only "
        "triggered by new outcomes.",
        fail_once=False,
        outlet=OUTCOMES,
        skip_when_idle=True,
    ),
    Stage(
        "import_alerts",
        "pipelines.alerts.nightly:import_landing_alerts",
        (),
        AlertsImportSummary,
        "Imports partners' signed alert bundles from landing/alerts (refused ones to quarantine "
        "with their reason) and rebuilds the partner watch lists and rules as of the date.",
        fail_once=False,
    ),
    Stage(
        "plan_ports",
        "pipelines.ports:plan_ports",
        ("validate", "import_alerts"),
        PlanSummary,
        "What every port shares, once: point-in-time history advanced to the date (all ports' "
        "history), the night's screening weights, past precision of rules and watch lists; "
        "lists the ports of the day.",
    ),
    Stage(
        "assess_port",
        "pipelines.ports:assess_port",
        (PORTS_FROM,),
        PortSummary,
        "One port's items: point-in-time features, CBRN and SALW model scores, expert-rule and "
        "watch-list hits, then ranks within capacity, the random quota, lanes and reasons. A "
        "rerun of a date keeps the model recorded in its list's lineage unless the run names one "
        "(`model`).",
        per_port=True,
        options=("model",),
    ),
    Stage(
        "publish",
        "pipelines.ports:publish_ports",
        ("assess_port",),
        PublishSummary,
        "Writes the ranked lists (Parquet, CSV, printable HTML) and the run report; updates the "
        "lists asset.",
        outlet=RANKED_LISTS,
    ),
    Stage(
        "export_alerts",
        "pipelines.alerts.nightly:export_partner_alerts",
        ("publish",),
        AlertsExportSummary,
        "Signs the findings of the last days for each partner, under its sharing policy, into "
        "outbox/alerts/<partner>/.",
        fail_once=False,
    ),
    Stage(
        "retention",
        "pipelines.retention:night_retention",
        ("publish",),
        RetentionSummary,
        "Removes date partitions past their retention (settings), keeping what open cases and "
        "recent models need; each removal is recorded in the audit as `system`.",
    ),
)


def pick(results: Mapping[str, Summary], name: str, kind: type[S]) -> S:
    """The summary of stage `name` in a night's results, as its type."""
    found = results[name]
    if not isinstance(found, kind):
        raise TypeError(f"stage {name}: summary is {type(found).__name__}, not {kind.__name__}")
    return found


def by_name(stages: tuple[Stage, ...] = NIGHTLY) -> dict[str, Stage]:
    """Stages by name."""
    return {stage.name: stage for stage in stages}


def _check_order(stages: tuple[Stage, ...]) -> None:
    """Every stage after the ones it needs, names unique: `run` may go down the table."""
    seen: set[str] = set()
    for stage in stages:
        missing = [need for need in stage.needs if need not in seen]
        if missing or stage.name in seen:
            raise ValueError(f"stage table: {stage.name} listed before {missing} or twice")
        seen.add(stage.name)


_check_order(NIGHTLY)
