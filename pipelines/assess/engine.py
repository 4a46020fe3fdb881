"""Assess declaration rows one call at a time, exactly as the night would score them.

The night featurizes the items filed on day D against the history as known before D, scores
them with the champion's compiled trees, evaluates the expert rules valid on D and screens the
parties against the watch lists in force. `Assessor` keeps all of that loaded (references, the
contract suite, the models, the rules, the screening index and the history states) and runs the
same functions on a handful of rows: `features.build.build_features`, `models.scoring.score`,
`features.rules.evaluate_rules` and `pipelines.watchlists.screen.screen_declarations`. Features of
a row depend only on the row and the history, so the service's risk score for a row equals the
night's for the same row and history (tests/test_assess_service.py checks it bit for bit).

History for filing day D: the newest stored snapshot on or before D, advanced through the staged
days before D. A day before D with no staged partition yet (the night has not run) is filled from
the rows this service itself accepted for that day, and the answer says the history was
provisional. Rows filed on D itself never enter D's history (no leakage, decision 0006).

Grain of an assessment: one per declaration item (declaration_id, item_no, version = filed_at).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from contracts.reading import records_frame
from expectations.declarations import declarations_suite
from expectations.polars_runner import run_suite_polars
from expectations.suite import Suite
from features.build import build_features
from features.history import HistoryState, advance, attribute_outcomes, rollup_day
from features.refs import References
from features.rules import CompiledRules, Rule, rule_input
from features.screening import TRADE_MIN_NAMES, WatchlistIndex
from models.registry import CHAMPION_FILE, ThreatModels
from models.scoring import ExplainTop, score
from pipelines import layout
from pipelines.assess.history_index import SMALL_QUERIES, HistoryIndex
from pipelines.assess.references import ASKED, ReferenceIndex
from pipelines.assess.store import AssessmentStore, Caller, Recorded
from pipelines.assess.validation import CallSuites, suite_at
from pipelines.featurize import day_rollup, load_references, read_snapshot
from pipelines.pseudonym import PseudonymKey, key_file, load_key, pseudonymise
from pipelines.rules import load_partner_rules, load_rules, load_starter_rules
from pipelines.score import load_models
from pipelines.settings import Settings
from pipelines.validate import reference_sets, validate_with_suite
from pipelines.watchlists import clearances as clearance_store
from pipelines.watchlists.screen import index_in_force, screen_declarations

log = logging.getLogger(__name__)

Answer = Literal[
    "assessment_complete", "request_for_information", "request_for_screening", "do_not_load"
]
ANSWERS: tuple[Answer, ...] = (
    "assessment_complete",
    "request_for_information",
    "request_for_screening",
    "do_not_load",
)
HISTORY_CACHE_DAYS = 2
"""Filing days whose indexed history is kept in memory (today and yesterday): a year at 100 k
declarations a day indexes to ~0.4 GB a day (benchmarks/results/assess.md)."""


class AssessmentError(ValueError):
    """A request that cannot be assessed as sent: `problems` name each row, field and reason."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        first = problems[0] if problems else {}
        super().__init__(
            f"{len({p['position'] for p in problems})} row(s) rejected, e.g. row "
            f"{first.get('position')} {first.get('field')}: {first.get('reason')}"
        )
        self.problems = problems


@dataclass(frozen=True)
class Thresholds:
    """Risk scores at which the answer steps up (settings `assess_*_score`)."""

    information: float
    screening: float
    do_not_load: float

    def __post_init__(self) -> None:
        if not self.information <= self.screening <= self.do_not_load:
            raise ValueError(
                "assessment thresholds must rise: information <= screening <= do_not_load "
                f"(got {self.information}, {self.screening}, {self.do_not_load})"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds the settings name."""
        return cls(
            settings.assess_information_score,
            settings.assess_screening_score,
            settings.assess_do_not_load_score,
        )


@dataclass(frozen=True)
class Call:
    """One caller's request: its rows, who sent them, and whether broken rows may be left out
    (`partial`, a landed file) or refuse the whole request (an API call)."""

    records: Sequence[Mapping[str, Any]]
    caller: Caller
    request_id: str
    source: str = "api"
    partial: bool = False


@dataclass
class Outcome:
    """What one call gets back: its assessments in row order, the problems of its broken rows,
    and the error to raise when the call is refused."""

    assessments: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    error: AssessmentError | None = None


@dataclass(frozen=True)
class ExplainAsked(ExplainTop):
    """Model factors for the rows whose score alone asks something of the filer.

    Explaining a row (SHAP contributions) costs about ten times scoring it and was a third of a
    pass; a row answered `assessment_complete` on its score needs no factors, and one stepped up
    by a rule or a watch-list hit has those as its reasons.
    """

    floor: float = 0.0

    def mask(
        self, risk: npt.NDArray[np.float64], groups: pl.Series | None
    ) -> npt.NDArray[np.bool_]:
        """True where `risk` reaches the floor."""
        return np.asarray(risk >= self.floor, dtype=np.bool_)


def answer_for(
    risk: float, thresholds: Thresholds, *, hold: bool, force_red: bool, flagged: bool
) -> Answer:
    """The answer to a filer: a watch-list hold stops loading whatever the score; a rule that
    forces the red lane asks for screening; any other rule or watch-list hit asks at least for
    information; otherwise the score decides."""
    if hold or risk >= thresholds.do_not_load:
        return "do_not_load"
    if force_red or risk >= thresholds.screening:
        return "request_for_screening"
    if flagged or risk >= thresholds.information:
        return "request_for_information"
    return "assessment_complete"


@dataclass
class Loaded:
    """What one generation of the service holds: swapped whole by `Assessor.refresh`."""

    refs: References
    reference_sets: dict[str, frozenset[str]]
    suite: Suite
    model_version: str
    models: ThreatModels
    rules: list[Rule]
    index: WatchlistIndex
    clearances: pl.DataFrame
    marker: tuple[Any, ...]
    suites: CallSuites
    key: PseudonymKey
    """The trader-id pseudonym key: history is kept on pseudonyms (decision 0027)."""
    reference_index: ReferenceIndex
    """The LOCODE and HS6 tables' keys mapped to their rows, to cut them to a call."""
    histories: dict[date, tuple[HistoryIndex, bool]] = field(default_factory=dict)
    compiled: dict[tuple[tuple[int, ...], tuple[tuple[str, Any], ...]], CompiledRules] = field(
        default_factory=dict
    )
    """Rules compiled once per generation, by the rules valid on a day and the frame schema."""

    def rules_for(self, day: date, frame: pl.DataFrame) -> CompiledRules:
        """The rules valid on `day`, compiled for frames of `frame`'s schema."""
        valid = tuple(i for i, rule in enumerate(self.rules) if rule.is_valid_on(day))
        key = (valid, tuple(frame.schema.items()))
        compiled = self.compiled.get(key)
        if compiled is None:
            active = [self.rules[i] for i in valid]
            compiled = self.compiled.setdefault(key, CompiledRules(active, frame.schema))
        return compiled


def _marker(settings: Settings) -> tuple[Any, ...]:
    """What changes when a night has run or a model was promoted: checked before reloading."""
    champion = settings.zone("models") / CHAMPION_FILE
    snapshots = layout.partition_days(layout.snapshots(settings))
    staged = layout.partition_days(layout.staged_declarations(settings))
    # Outcomes are imported after validation in the night: they change yesterday's rollup too.
    outcomes = [
        path.stat().st_mtime_ns
        for _, path in layout.partition_files(
            layout.staged_outcomes(settings), layout.OUTCOMES_FILE
        )
    ]
    partner_rules = layout.partner_rules_dir(settings)
    cleared = clearance_store.export_path(settings)
    pseudonyms = key_file(settings)
    return (
        pseudonyms.stat().st_mtime_ns if pseudonyms.exists() else None,
        partner_rules.stat().st_mtime_ns if partner_rules.exists() else None,
        cleared.stat().st_mtime_ns if cleared.exists() else None,
        champion.stat().st_mtime_ns if champion.exists() else None,
        snapshots[-1] if snapshots else None,
        staged[-1] if staged else None,
        len(staged),
        max(outcomes, default=None),
        len(outcomes),
    )


class Assessor:
    """Assess rows as the night would; thread-safe; `refresh` after a night or a promotion."""

    def __init__(
        self,
        settings: Settings,
        store: AssessmentStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.thresholds = Thresholds.from_settings(settings)
        self._lock = threading.Lock()
        self._loaded = self._load()

    def _load(self) -> Loaded:
        started = time.perf_counter()
        marker = _marker(self.settings)
        refs = load_references(self.settings)
        sets = reference_sets(self.settings)
        # Built once (sorting the reference sets costs most of a second); only the not-future
        # helper reads the clock, and it is swapped per call.
        suite = declarations_suite(
            sets, self.clock(), timedelta(days=self.settings.future_tolerance_days)
        )
        # One thread per call: calls run side by side, each on a few rows.
        version, models = load_models(self.settings, threads=1)
        # The night's rule set (pipelines.rules.evaluate_rules_day): the officers' rules, or
        # the starter set, and the rules derived from partner agencies' indicators.
        officers = (
            load_rules(self.settings.rules_dirs)
            if self.settings.rules_dirs
            else load_starter_rules()
        )
        rules = [*officers, *load_partner_rules(self.settings)]
        index = index_in_force(self.settings)
        clearances = clearance_store.active(clearance_store.read_export(self.settings))
        suites = CallSuites(sets, timedelta(days=self.settings.future_tolerance_days))
        key = load_key(self.settings)
        loaded = Loaded(
            refs,
            sets,
            suite,
            version,
            models,
            rules,
            index,
            clearances,
            marker,
            suites,
            key,
            ReferenceIndex(refs),
        )
        log.info("assessor loaded model %s in %.2f s", version, time.perf_counter() - started)
        return loaded

    @property
    def model_version(self) -> str:
        """The champion the service scores with."""
        return self._loaded.model_version

    def refresh(self, *, force: bool = False) -> bool:
        """Reload models, lists and history when a night ran or a champion changed (or `force`).

        The new generation is built beside the old one and swapped in whole: calls in flight
        finish on the old one. Returns whether it reloaded.
        """
        if not force and _marker(self.settings) == self._loaded.marker:
            return False
        fresh = self._load()
        today = self.clock().astimezone(UTC).date()
        self._history(fresh, today)
        with self._lock:
            self._loaded = fresh
        return True

    def warm(self) -> None:
        """Build today's history now rather than on the first call."""
        self._history(self._loaded, self.clock().astimezone(UTC).date())

    def _history(self, loaded: Loaded, day: date) -> tuple[HistoryIndex, bool]:
        cached = loaded.histories.get(day)
        if cached is not None:
            return cached
        with self._lock:
            cached = loaded.histories.get(day)
            if cached is None:
                state, provisional = self._build_history(loaded, day)
                cached = (HistoryIndex(state), provisional)
                loaded.histories[day] = cached
                for old in sorted(loaded.histories)[:-HISTORY_CACHE_DAYS]:
                    del loaded.histories[old]
        return cached

    def _build_history(self, loaded: Loaded, day: date) -> tuple[HistoryState, bool]:
        """State before `day` and whether a day of it came from this service's own rows."""
        stored = [d for d in layout.partition_days(layout.snapshots(self.settings)) if d <= day]
        if not stored:
            raise AssessmentError(
                [
                    {
                        "position": None,
                        "field": "filed_at",
                        "value": day.isoformat(),
                        "reason": "no history on or before this filing date: run a night first",
                        "rule": "history",
                    }
                ]
            )
        state = read_snapshot(self.settings, stored[-1])
        provisional = False
        while state.as_of < day:
            current = state.as_of
            if layout.staged_declarations_file(self.settings, current).is_file():
                rollup = day_rollup(self.settings, current, loaded.refs)
            else:
                rollup = rollup_day(
                    pseudonymise(self._accepted_rows(loaded, current), loaded.key),
                    _no_inspections(),
                    current,
                    loaded.refs.currency_rates,
                )
                provisional = True
            state = advance(state, rollup)
        return state, provisional

    def _accepted_rows(self, loaded: Loaded, day: date) -> pl.DataFrame:
        """The rows this service accepted for `day`, latest filing per key, in contract types."""
        records = [json.loads(r["declaration"]) for r in self.store.assessments_on(day)]
        if not records:
            return DECLARATIONS.empty_frame()
        far = suite_at(loaded.suite, datetime(9999, 1, 1, tzinfo=UTC), timedelta(0))
        valid, _ = validate_with_suite(records_frame(records, "assessments"), far, run_suite_polars)
        latest = valid.sort("filed_at").unique(list(DECLARATIONS.key), keep="last")
        return latest.select(DECLARATIONS.names)

    def assess(
        self,
        records: Sequence[Mapping[str, Any]],
        caller: Caller,
        request_id: str,
        source: str = "api",
    ) -> list[dict[str, Any]]:
        """Assess `records` (declarations contract rows as JSON values): one answer per row, in
        order. Raises AssessmentError (nothing assessed, the rows recorded) when any row breaks
        the contract. A row whose key and version were assessed before gets the stored answer."""
        outcome = self.assess_calls([Call(records, caller, request_id, source)])[0]
        if outcome.error is not None:
            raise outcome.error
        return outcome.assessments

    def assess_valid(
        self, records: Sequence[Mapping[str, Any]], caller: Caller, request_id: str, source: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A landed batch: assess the rows that keep the contract, record the others.
        Returns (assessments, problems)."""
        call = Call(records, caller, request_id, source, partial=True)
        outcome = self.assess_calls([call])[0]
        if outcome.error is not None:
            raise outcome.error
        return outcome.assessments, outcome.problems

    def assess_calls(self, calls: Sequence[Call]) -> list[Outcome]:
        """Assess several calls in one pass (validation, features, trees, rules, screening and
        one store transaction for all of them), each answered as if it had come alone: a call
        with a broken row is refused on its own, the others are assessed."""
        loaded = self._loaded
        now = self.clock()
        problems: list[list[dict[str, Any]]] = [_shape_problems(c.records) for c in calls]
        readable = [i for i, c in enumerate(calls) if c.records and not problems[i]]
        # Every call's rows in one frame; `_line` runs on across calls, `offsets` map it back.
        offsets = np.cumsum([0, *(len(calls[i].records) for i in readable)])
        valid = DECLARATIONS.empty_frame()
        if readable:
            records = [_complete(r) for i in readable for r in calls[i].records]
            raw = records_frame(records, f"{calls[readable[0]].source}:batch")
            # The runner's suite looks up only known keys asked so far (same verdicts).
            with in_memory_queries():
                valid, rejected = validate_with_suite(raw, loaded.suite, loaded.suites.runner(now))
            for r in rejected.iter_rows(named=True):
                at = int(np.searchsorted(offsets, int(r["_line"]), side="left")) - 1
                problems[readable[at]].append(
                    {
                        "position": int(r["_line"]) - int(offsets[at]),
                        "field": r["field"],
                        "value": r["value"],
                        "reason": r["reason"],
                        "rule": r["rule"],
                        "original": r["original"],
                    }
                )
        outcomes = [Outcome([], p) for p in problems]
        taken: list[int] = []
        for position, call in enumerate(calls):
            refused = bool(problems[position]) and (
                not call.partial or not call.records or position not in readable
            )
            if refused:
                outcomes[position].error = AssessmentError(problems[position])
            elif position in readable:
                taken.append(position)
        rows_by_call: list[tuple[int, str, int, str]] = []
        if taken:
            call_of_row = np.searchsorted(offsets, valid["_line"].to_numpy(), side="left") - 1
            valid = valid.with_columns(
                pl.Series("_call", np.asarray(readable, dtype=np.int64)[call_of_row], pl.Int64),
                pl.col("filed_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").alias("_version"),
            ).filter(pl.col("_call").is_in(taken))
            rows_by_call = valid.select("_call", "declaration_id", "item_no", "_version").rows()
        keys = [(str(d), int(i), str(v)) for _, d, i, v in rows_by_call]
        known = self.store.stored(keys)
        # A key sent twice within the batch is scored once; a later call replays it.
        first: dict[tuple[str, int, str], int] = {}
        for row_no, key in enumerate(keys):
            if key not in known:
                first.setdefault(key, row_no)
        made: dict[tuple[str, int, str], dict[str, Any]] = {}
        if first:
            fresh = valid[sorted(first.values())]
            new_rows = self._score_rows(loaded=loaded, valid=fresh, calls=calls, now=now)
            made = {(r["declaration_id"], r["item_no"], r["version"]): r for r in new_rows}
        new_by_call: dict[int, list[dict[str, Any]]] = {p: [] for p in taken}
        replayed_by_call: dict[int, int] = dict.fromkeys(taken, 0)
        added: set[tuple[str, int, str]] = set()
        for (call_no, *_), key in zip(rows_by_call, keys, strict=True):
            answers = outcomes[call_no].assessments
            if key in known:
                answers.append({**known[key], "replayed": True})
                replayed_by_call[call_no] += 1
            elif rows_by_call[first[key]][0] == call_no:
                answers.append({**made[key], "replayed": False})
                if key not in added:
                    added.add(key)
                    new_by_call[call_no].append(made[key])
            else:
                answers.append({**made[key], "replayed": True})
                replayed_by_call[call_no] += 1
        self.store.record_batch(
            [
                Recorded(
                    calls[p].caller,
                    calls[p].request_id,
                    calls[p].source,
                    new_by_call.get(p, []),
                    replayed_by_call.get(p, 0),
                    problems[p],
                )
                for p in range(len(calls))
            ]
        )
        return outcomes

    def _score_rows(
        self,
        *,
        loaded: Loaded,
        valid: pl.DataFrame,
        calls: Sequence[Call],
        now: datetime,
    ) -> list[dict[str, Any]]:
        days = valid.get_column("filed_at").dt.date()
        if days.n_unique() == 1:
            # The usual pass: every row filed today (no frame to split).
            only = days[0]
            assert isinstance(only, date)
            return self._score_day(loaded=loaded, day=only, rows=valid, calls=calls, now=now)
        out: list[dict[str, Any]] = []
        dated = valid.with_columns(days.alias("_day"))
        for (day,), rows in dated.group_by("_day", maintain_order=True):
            assert isinstance(day, date)
            out.extend(self._score_day(loaded=loaded, day=day, rows=rows, calls=calls, now=now))
        return out

    def _score_day(
        self,
        *,
        loaded: Loaded,
        day: date,
        rows: pl.DataFrame,
        calls: Sequence[Call],
        now: datetime,
    ) -> list[dict[str, Any]]:
        index, provisional = self._history(loaded, day)
        # Polars queries of a few rows: the in-memory engine (see `in_memory_queries`).
        with in_memory_queries():
            declarations = rows.select(DECLARATIONS.names)
            # Features read the history on trader pseudonyms, as the night's do (decision 0027);
            # rules and screening read the ids and names in clear, as the night's do.
            pseudonymous = pseudonymise(declarations, loaded.key)
            # Where the rows' keys sit in the history, and their reference keys: one query.
            keys = index.spans(pseudonymous, *ASKED)
            # Only the state rows of this call's keys: the features read nothing else.
            history = index.slice(pseudonymous, keys)
            # Reference tables cut to the call's ports and headings: same joins, far fewer rows.
            features = build_features(
                pseudonymous,
                history,
                loaded.reference_index.cut(pseudonymous, keys),
                # A call's few rows: planning them as written is faster than optimizing the
                # plans, and gives the same frame (tested against the optimized build).
                optimizations=SMALL_QUERIES,
            )
            scored = score(
                loaded.models, features, explain=ExplainAsked(floor=self.thresholds.information)
            )
            rule_frame = rule_input(declarations, features)
            # Compiled once per generation (the night compiles once a day; a call would each time).
            rule_hits = loaded.rules_for(day, rule_frame).hits(rule_frame)
            # Matches an officer cleared are dropped, as the night's score stage drops them.
            groups = _screening_groups(rows["_call"])
            screened = [
                screen_declarations(
                    # One group (the usual pass) is every row: nothing to filter.
                    declarations
                    if len(groups) == 1
                    else declarations.filter(rows["_call"].is_in(group)),
                    self.settings,
                    self.settings.watchlist_threshold,
                    loaded.index,
                    loaded.clearances,
                )
                for group in groups
            ]
            watch_hits = screened[0] if len(screened) == 1 else pl.concat(screened)
            if watch_hits.height:
                watch_hits = watch_hits.filter(~pl.col("cleared"))
        rules_by_item = _group(rule_hits, ("rule_id", "title", "force_red"))
        watch_by_item = _group(watch_hits, ("list_name", "entry_id", "reason", "hold"))
        names = list(loaded.models.categories)
        assessed_at = now.astimezone(UTC).isoformat()
        out: list[dict[str, Any]] = []
        for row, scores in zip(
            rows.iter_rows(named=True), scored.iter_rows(named=True), strict=True
        ):
            key = (row["declaration_id"], int(row["item_no"]))
            call = calls[int(row["_call"])]
            fired = rules_by_item.get(key, [])
            hits = watch_by_item.get(key, [])
            risk = float(scores["risk_score"])
            reasons = [h["reason"] for h in hits] + [
                f"rule {h['rule_id']}: {h['title']}" for h in fired
            ]
            reasons += [r for r in (scores["reasons"] or "").split("; ") if r]
            out.append(
                {
                    "declaration_id": key[0],
                    "item_no": key[1],
                    "version": row["_version"],
                    "filing_date": day.isoformat(),
                    "answer": answer_for(
                        risk,
                        self.thresholds,
                        hold=any(bool(h["hold"]) for h in hits),
                        force_red=any(bool(h["force_red"]) for h in fired),
                        flagged=bool(fired or hits),
                    ),
                    "risk_score": risk,
                    **{
                        f"{n}_score": float(scores[f"{n}_score"])
                        for n in ("cbrn", "salw")
                        if n in names
                    },
                    "reasons": reasons,
                    "rule_hits": [h["rule_id"] for h in fired],
                    "watchlist_hits": [f"{h['list_name']}:{h['entry_id']}" for h in hits],
                    "model_version": loaded.model_version,
                    "history_as_of": history.as_of.isoformat(),
                    "provisional_history": provisional,
                    "system": call.caller.system,
                    "source": call.source,
                    "request_id": call.request_id,
                    "assessed_at": assessed_at,
                    "declaration": _original(row),
                }
            )
        return out


class _QueryEngine:
    """Polars' engine choice taken while any pass runs, given back when the last one ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._config: pl.Config | None = None

    @contextmanager
    def in_memory(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._config = pl.Config(engine_affinity="in-memory")
                self._config.__enter__()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._config is not None:
                    self._config.__exit__(None, None, None)
                    self._config = None


_QUERY_ENGINE = _QueryEngine()


def in_memory_queries() -> AbstractContextManager[None]:
    """Run the lazy Polars queries inside on the in-memory engine.

    Polars 2 collects lazy queries on its streaming engine by default; on the few rows of a
    call its fixed cost per query is the larger part (`build_features` on one row: ~14 ms
    streaming, ~9 ms in memory, the same frame; docs/decisions/0032). The engine changes how a
    query runs, not its result. The choice is Polars' process-wide setting, so it is taken
    while any pass runs and given back when the last one ends (passes on several threads never
    restore each other's choice half-way). A pass takes it for validation and for scoring;
    building and advancing history stays outside: it runs the night's day-sized queries.
    """
    return _QUERY_ENGINE.in_memory()


def _screening_groups(call_of_row: pl.Series) -> list[list[int]]:
    """Calls to screen together so that each call's hits are those it would get alone.

    Screening weighs name tokens by how common they are among the names screened together once
    there are `TRADE_MIN_NAMES` of them; a call of fewer than half that many rows (two parties a
    row) never reaches it alone, so such calls share a screening as long as the group stays
    below it too. A larger call is screened on its own, as it was before passes were shared.
    """
    # Counted in Python: two Polars queries cost more than counting a pass's few calls.
    sizes = sorted(Counter(call_of_row.to_list()).items())
    small = TRADE_MIN_NAMES // 2 - 1
    groups: list[list[int]] = []
    current: list[int] = []
    rows_in_current = 0
    for call, size in sizes:
        if size > small:
            groups.append([call])
            continue
        if rows_in_current + size > small:
            groups.append(current)
            current, rows_in_current = [], 0
        current.append(call)
        rows_in_current += size
    if current:
        groups.append(current)
    return [g for g in groups if g]


def _shape_problems(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fields no contract row may carry: reserved names (`_...`) and nested objects."""
    problems: list[dict[str, Any]] = []
    for position, record in enumerate(records, start=1):
        for name, value in record.items():
            if name.startswith("_"):
                reason = "names starting with _ are reserved"
            elif isinstance(value, dict):
                reason = "must be a value or a list, not an object"
            else:
                continue
            problems.append(
                {
                    "position": position,
                    "field": name,
                    "value": None,
                    "reason": reason,
                    "rule": "structure",
                }
            )
    return problems


def _complete(record: Mapping[str, Any]) -> dict[str, Any]:
    """Every contract column present (missing ones as null, so the contract names them)."""
    return {**dict.fromkeys(DECLARATIONS.names), **record}


def _original(row: Mapping[str, Any]) -> str:
    """The accepted row as contract JSON (what a later history or the night can re-read)."""
    values: dict[str, Any] = {}
    for name in DECLARATIONS.names:
        value = row[name]
        if isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif isinstance(value, date):
            value = value.isoformat()
        values[name] = value
    return json.dumps(values, sort_keys=True)


def _group(
    hits: pl.DataFrame, columns: tuple[str, ...]
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for hit in hits.iter_rows(named=True):
        grouped.setdefault((hit["declaration_id"], int(hit["item_no"])), []).append(
            {c: hit[c] for c in columns}
        )
    return grouped


def _no_inspections() -> pl.DataFrame:
    return attribute_outcomes(OUTCOMES.empty_frame(), DECLARATIONS.empty_frame().lazy())
