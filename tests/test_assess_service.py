"""The pre-loading assessment service on a small simulated home, against the night it mirrors.

One module-scoped home (8 days of history, a champion, then the night of day 9 run for
real) serves every test. The service is the real FastAPI app over the real engine and a real SQLite
file, called through Starlette's TestClient (in-process HTTP).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from contracts.declarations import DECLARATIONS
from pipelines import layout, nightly
from pipelines.assess.engine import Assessor, Thresholds, answer_for
from pipelines.assess.intraday import assess_landed
from pipelines.assess.service import TokenBucket, create_app
from pipelines.assess.store import AssessmentStore, Caller
from pipelines.cli import app as cli_app
from pipelines.settings import Settings
from pipelines.train import train_models
from tests.factories.model_world import LAST_TRAIN_DAY, home_world, registry_frame, write_home
from tests.factories.simulated_home import history_home, small_settings

START = date(2026, 1, 1)
DAYS = 9
NIGHT = START + timedelta(days=DAYS - 1)
NOON = datetime(NIGHT.year, NIGHT.month, NIGHT.day, 12, tzinfo=UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home whose night of NIGHT has run, with a champion trained on the days before."""
    root = tmp_path_factory.mktemp("assess") / "home"
    settings = history_home(root, START, DAYS, 300, seed=11)
    # A simulated week holds too few findings to train anything but a constant; the champion is
    # trained on the model factory's world, whose planted signals sit in real registry features.
    world = home_world()
    trained = write_home(root.parent / "models-home", registry_frame(world), world.outcomes)
    train_models(trained, LAST_TRAIN_DAY, datetime(2026, 1, 9, tzinfo=UTC))
    shutil.copytree(trained.zone("models"), settings.zone("models"))
    nightly.run_night(settings, NIGHT)
    return root


@pytest.fixture(scope="module")
def assessor(home: Path) -> Iterator[Assessor]:
    settings = small_settings(home)
    store = AssessmentStore(layout.assessments_database(settings))
    yield Assessor(settings, store, clock=lambda: NOON)
    store.close()


@pytest.fixture(scope="module")
def client(assessor: Assessor) -> Iterator[TestClient]:
    with TestClient(create_app(assessor)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def token(assessor: Assessor) -> str:
    return assessor.store.create_token("test-ics2")[1]


def _records(settings: Settings, day: date) -> list[dict[str, Any]]:
    """The night's staged rows of `day` as JSON a filer would send (numbers as numbers)."""
    staged = pl.read_parquet(layout.staged_declarations_file(settings, day))
    out = []
    for row in staged.select(DECLARATIONS.names).iter_rows(named=True):
        record: dict[str, Any] = {}
        for name, value in row.items():
            if isinstance(value, datetime):
                record[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            elif isinstance(value, date):
                record[name] = value.isoformat()
            else:
                record[name] = value
        out.append(record)
    return out


def _post(client: TestClient, token: str, rows: list[dict[str, Any]]) -> Any:
    return client.post(
        "/v1/assessments",
        json={"declarations": rows},
        headers={"Authorization": f"Bearer {token}"},
    )


def _night_scores(settings: Settings) -> pl.DataFrame:
    return pl.read_parquet(layout.scores_file(settings, NIGHT)).select(
        "declaration_id", "item_no", "risk_score", "cbrn_score", "salw_score", "model_version"
    )


def _service_scores(client: TestClient, token: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    answers: list[dict[str, Any]] = []
    for start in range(0, len(rows), 100):
        response = _post(client, token, rows[start : start + 100])
        assert response.status_code == 200, response.text
        answers.extend(response.json()["assessments"])
    return pl.DataFrame(answers).select(
        "declaration_id",
        "item_no",
        pl.col("risk_score").alias("service_risk"),
        pl.col("cbrn_score").alias("service_cbrn"),
        pl.col("salw_score").alias("service_salw"),
        pl.col("model_version").alias("service_model"),
        "answer",
        "rule_hits",
    )


def test_the_service_scores_every_row_exactly_as_the_night(
    home: Path, client: TestClient, token: str
) -> None:
    settings = small_settings(home)
    rows = _records(settings, NIGHT)
    night = _night_scores(settings)
    service = _service_scores(client, token, rows)
    both = night.join(service, on=["declaration_id", "item_no"], how="full", coalesce=True)
    assert both.height == night.height == len(rows) > 200
    # Same features, same compiled trees, same calibration: the same doubles, not merely close.
    assert (both["risk_score"] == both["service_risk"]).all()
    assert (both["cbrn_score"] == both["service_cbrn"]).all()
    assert (both["salw_score"] == both["service_salw"]).all()
    assert (both["model_version"] == both["service_model"]).all()
    # The risk scores are not all alike: the comparison could fail.
    assert both["risk_score"].n_unique() > 50
    night_rules = pl.read_parquet(layout.scores_dir(settings, NIGHT) / layout.RULE_HITS_FILE)
    fired = service.explode("rule_hits").drop_nulls("rule_hits")
    assert sorted(fired.select("declaration_id", "item_no", "rule_hits").rows()) == sorted(
        night_rules.select("declaration_id", "item_no", "rule_id").rows()
    )
    assert set(service["answer"]) <= {
        "assessment_complete",
        "request_for_information",
        "request_for_screening",
        "do_not_load",
    }


def test_after_the_night_history_is_advanced_from_staging_to_the_same_scores(
    home: Path, tmp_path: Path
) -> None:
    """Without the NIGHT snapshot the service advances the one before through staging."""
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    settings = small_settings(copy)
    shutil.rmtree(layout.snapshot_dir(settings, NIGHT))
    (settings.zone("assessments") / "assessments.sqlite").unlink()
    store = AssessmentStore(layout.assessments_database(settings))
    assessor = Assessor(settings, store, clock=lambda: NOON)
    with TestClient(create_app(assessor)) as client:
        token = store.create_token("replica")[1]
        rows = _records(settings, NIGHT)[:150]
        service = _service_scores(client, token, rows)
    night = _night_scores(settings).join(service, on=["declaration_id", "item_no"], how="inner")
    assert night.height == 150
    assert (night["risk_score"] == night["service_risk"]).all()
    store.close()


def test_no_token_or_a_revoked_one_is_401(client: TestClient, assessor: Assessor) -> None:
    row = _records(assessor.settings, NIGHT)[0]
    assert client.post("/v1/assessments", json={"declarations": [row]}).status_code == 401
    token_id, token = assessor.store.create_token("short-lived")
    assert _post(client, token, [row]).status_code == 200
    assert assessor.store.revoke_token(token_id)
    assert _post(client, token, [row]).status_code == 401
    assert _post(client, "crk_nothing_real", [row]).status_code == 401


def test_bad_rows_get_422_naming_fields_and_reasons_and_are_recorded(
    client: TestClient, token: str, assessor: Assessor
) -> None:
    good, bad = _records(assessor.settings, NIGHT)[:2]
    bad = {**bad, "item_no": 0, "port_of_loading": "XXZZZ", "gross_mass_kg": "heavy"}
    del bad["hs_code"]
    response = _post(client, token, [good, bad])
    assert response.status_code == 422
    detail = response.json()["detail"]
    named = {(d["position"], d["field"]) for d in detail}
    assert {(2, "item_no"), (2, "port_of_loading"), (2, "gross_mass_kg"), (2, "hs_code")} <= named
    assert all(d["reason"] for d in detail)
    recorded = {(r["position"], r["field"]) for r in assessor.store.rejections()}
    assert named <= recorded
    # Nothing of a refused request is assessed, not even its good row.
    assert not assessor.store.stored([(good["declaration_id"], good["item_no"], "x")])


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"declarations": []}',
        b'{"declarations": "none"}',
        b'{"rows": [{}]}',
        b'{"declarations": [{"_line": 3}]}',
        b'{"declarations": [{"declaration_id": {"a": 1}}]}',
    ],
)
def test_unreadable_bodies_are_422_not_500(client: TestClient, token: str, body: bytes) -> None:
    response = client.post(
        "/v1/assessments",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_the_same_declaration_and_version_is_assessed_once(
    client: TestClient, token: str, assessor: Assessor
) -> None:
    row = _records(assessor.settings, NIGHT)[5]
    first = _post(client, token, [row]).json()["assessments"][0]
    second = _post(client, token, [row]).json()["assessments"][0]
    assert second["replayed"] is True
    assert second["request_id"] == first["request_id"]
    assert second["risk_score"] == first["risk_score"]
    amended = {**row, "filed_at": row["filed_at"].replace("Z", "").split(".")[0][:-2] + "59Z"}
    third = _post(client, token, [amended]).json()["assessments"][0]
    assert third["version"] != first["version"] and third["replayed"] is False
    stored = assessor.store.assessments_on(NIGHT)
    keys = [(r["declaration_id"], r["item_no"], r["version"]) for r in stored]
    assert len(keys) == len(set(keys))
    assert any(e["action"] == "assessed" for e in assessor.store.audit_events())


def test_a_flood_gets_429_while_another_caller_is_served(assessor: Assessor) -> None:
    row = _records(assessor.settings, NIGHT)[7]
    flooder = assessor.store.create_token("flooder")[1]
    other = assessor.store.create_token("other")[1]
    # One request back every 1,000 s: however slow this machine, the flood stays refused.
    app = create_app(assessor, limiter=TokenBucket(rate=0.001, burst=5))
    with TestClient(app) as client:
        codes = [_post(client, flooder, [row]).status_code for _ in range(12)]
        assert codes == [200] * 5 + [429] * 7
        refused = _post(client, flooder, [row])
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert _post(client, other, [row]).status_code == 200


def test_token_create_prints_the_token_alone_on_its_last_line(home: Path) -> None:
    result = CliRunner().invoke(cli_app, ["--home", str(home), "assess", "token", "create", "acas"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("crk_") and " " not in token
    store = AssessmentStore(layout.assessments_database(small_settings(home)))
    caller = store.caller(token)
    assert caller is not None and caller.system == "acas"
    raw = layout.assessments_database(small_settings(home)).read_bytes()
    assert token.encode() not in raw
    store.close()


def test_landed_files_run_through_the_same_path_once(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    settings = small_settings(copy)
    landing = settings.zone("landing") / "declarations"
    for path in landing.iterdir():
        if NIGHT.isoformat() not in path.name:
            path.unlink()
    (settings.zone("assessments") / "assessments.sqlite").unlink()
    store = AssessmentStore(layout.assessments_database(settings))
    assessor = Assessor(settings, store, clock=lambda: NOON)
    first = assess_landed(settings, assessor)
    assert first["files"] == 1
    assert first["assessed"] + first["rejected"] == first["rows"] > 200
    assert first["assessed"] > 200
    night = _night_scores(settings)
    stored = pl.DataFrame(
        [
            {"declaration_id": r["declaration_id"], "item_no": r["item_no"], "s": r["risk_score"]}
            for r in store.assessments_on(NIGHT, source="intraday")
        ]
    )
    joined = night.join(stored, on=["declaration_id", "item_no"], how="inner")
    assert joined.height > 200
    assert (joined["risk_score"] == joined["s"]).all()
    assert assess_landed(settings, assessor)["files"] == 0
    store.close()


def test_answers_step_up_with_the_thresholds() -> None:
    steps = Thresholds(0.1, 0.3, 0.8)
    quiet = {"hold": False, "force_red": False, "flagged": False}
    assert answer_for(0.05, steps, **quiet) == "assessment_complete"
    assert answer_for(0.1, steps, **quiet) == "request_for_information"
    assert answer_for(0.3, steps, **quiet) == "request_for_screening"
    assert answer_for(0.8, steps, **quiet) == "do_not_load"
    assert answer_for(0.0, steps, hold=True, force_red=False, flagged=True) == "do_not_load"
    assert answer_for(0.0, steps, hold=False, force_red=True, flagged=True) == (
        "request_for_screening"
    )
    assert answer_for(0.0, steps, hold=False, force_red=False, flagged=True) == (
        "request_for_information"
    )
    with pytest.raises(ValueError, match="must rise"):
        Thresholds(0.5, 0.3, 0.8)


def test_the_service_rows_are_handed_to_the_night_as_a_landing_file(
    client: TestClient, token: str, assessor: Assessor
) -> None:
    from contracts.reading import read_raw
    from pipelines.assess.intraday import hand_over
    from pipelines.validate import reference_sets, validate_frame

    rows = _records(assessor.settings, NIGHT)[20:23]
    assert _post(client, token, rows).status_code == 200
    handed = hand_over(assessor.settings, NOON)
    written = Path(handed[NIGHT.isoformat()]["file"])
    accepted = assessor.store.assessments_on(NIGHT, source="api")
    raw = read_raw(written)
    assert raw.height == len(accepted) >= 3
    valid, rejected = validate_frame(raw, reference_sets(assessor.settings), NOON)
    assert rejected.height == 0
    sent = {(r["declaration_id"], r["item_no"]) for r in rows}
    assert sent <= set(valid.select("declaration_id", "item_no").iter_rows())


def _night_rows(settings: Settings) -> pl.DataFrame:
    staged = pl.read_parquet(layout.staged_declarations_file(settings, NIGHT))
    return staged.select(DECLARATIONS.names)


def test_features_from_the_indexed_history_equal_those_from_the_whole_state(home: Path) -> None:
    """The service reads only the state rows of a call's keys; the features are the night's."""
    from polars.testing import assert_frame_equal

    from features.build import build_features
    from pipelines.assess.history_index import HistoryIndex
    from pipelines.featurize import load_references, read_snapshot
    from pipelines.pseudonym import load_key, pseudonymise

    settings = small_settings(home)
    state = read_snapshot(settings, NIGHT)
    refs = load_references(settings)
    index = HistoryIndex(state)
    # The service builds features on trader pseudonyms, as the night does (decision 0027).
    rows = pseudonymise(_night_rows(settings), load_key(settings))
    known = set(state.table("shipper")["shipper_id"])
    unseen = rows.filter(~pl.col("shipper_id").is_in(list(known)))
    # A row no entity has seen: new parties, a new lane and hub, an hs6 without a histogram.
    stranger = rows.head(1).with_columns(
        pl.lit("NEW-SHIPPER-0001").alias("shipper_id"),
        pl.lit("NEW-CONSIGNEE-0001").alias("consignee_id"),
        pl.lit("XXNEW").alias("port_of_loading"),
        pl.lit(["XXHUB"]).alias("transshipment_ports"),
        pl.lit("999999").alias("hs_code"),
    )
    for part in (rows.head(1), rows.slice(7, 5), unseen, stranger, rows):
        assert part.height
        assert_frame_equal(
            build_features(part, index.slice(part), refs),
            build_features(part, state, refs),
            check_exact=True,
        )
    sliced = index.slice(rows.filter(pl.col("shipper_id").is_in(list(known))).head(1))
    assert sliced.table("shipper").height == 1 < state.table("shipper").height
    assert sliced.table("pair").height <= 1
    assert sliced.table("global").height == state.table("global").height


def test_the_services_feature_path_gives_the_nights_frame(home: Path) -> None:
    """A pass's features (history found by one span query and taken as views, references cut by
    the keys that query asks, queries planned without Polars' optimizations) equal the night's
    build on the whole state and the whole tables, bit for bit."""
    from polars.testing import assert_frame_equal

    from features.build import build_features
    from pipelines.assess.engine import SMALL_QUERIES
    from pipelines.assess.history_index import HistoryIndex
    from pipelines.assess.references import ASKED, ReferenceIndex
    from pipelines.featurize import load_references, read_snapshot
    from pipelines.pseudonym import load_key, pseudonymise

    settings = small_settings(home)
    state = read_snapshot(settings, NIGHT)
    refs = load_references(settings)
    index, references = HistoryIndex(state), ReferenceIndex(refs)
    rows = pseudonymise(_night_rows(settings), load_key(settings))
    stranger = rows.head(1).with_columns(
        pl.lit("NEW-SHIPPER-0002").alias("shipper_id"),
        pl.lit("XXNEW").alias("port_of_loading"),
        pl.lit(None, pl.List(pl.String)).alias("transshipment_ports"),
        pl.lit("99999999").alias("hs_code"),
    )
    singles = [rows[p : p + 1] for p in range(0, rows.height, rows.height // 25)]
    for part in (rows, rows.slice(3, 40), stranger, *singles):
        spans = index.spans(part, *ASKED)
        fast = build_features(
            part, index.slice(part, spans), references.cut(part, spans), optimizations=SMALL_QUERIES
        )
        assert_frame_equal(fast, build_features(part, state, refs), check_exact=True)
    # Each sliced table holds exactly the state rows of the keys asked (the span path covers
    # single keys taken as a view and many keys gathered), in the state's key order.
    for part in (rows, rows.slice(3, 40), *singles):
        sliced = index.slice(part)
        shippers = part["shipper_id"].unique().to_list()
        expected = state.table("shipper").filter(pl.col("shipper_id").is_in(shippers))
        assert_frame_equal(sliced.table("shipper").sort("shipper_id"), expected.sort("shipper_id"))
        headings = part["hs_code"].str.slice(0, 6).unique().to_list()
        bins = state.table("hs6_value").filter(pl.col("hs6").is_in(headings))
        assert_frame_equal(
            sliced.table("hs6_value").sort(pl.all()), bins.sort(pl.all()), check_row_order=False
        )
    # The comparison read history: single rows found their shippers and value histograms.
    assert any(index.slice(one).table("shipper").height for one in singles)
    assert any(index.slice(one).table("hs6_value").height > 1 for one in singles)


def test_a_changed_strategic_table_changes_the_threat_the_features_read(home: Path) -> None:
    """The strategic-threat expression is kept for the table passed last; another table (a
    heading listed, then the original again) gives its own threat, not the kept one."""
    from dataclasses import replace

    from features.build import build_features
    from pipelines.featurize import load_references, read_snapshot

    settings = small_settings(home)
    state = read_snapshot(settings, NIGHT)
    refs = load_references(settings)
    row = _night_rows(settings).head(1)
    before = build_features(row, state, refs)["strategic_threat_code"].item()
    listed = pl.DataFrame(
        {
            "hs_prefix": [row["hs_code"].item()[:6]],
            "threat": ["military" if before != 4 else "cbrn"],
            "category": ["test"],
        }
    )
    changed = build_features(row, state, replace(refs, strategic_hs=listed))
    assert changed["strategic_threat_code"].item() not in (before, 0)
    assert build_features(row, state, refs)["strategic_threat_code"].item() == before


def test_single_calls_with_no_history_or_earlier_filings_that_day_score_as_the_night(
    home: Path, tmp_path: Path
) -> None:
    """One declaration a call, sent in filing order and coalesced into passes as the service
    does: rows of parties never seen before and rows of shippers that filed earlier the same day
    get the night's scores (the day's earlier filings are not history of the day, 0006)."""
    from pipelines.assess.engine import Call
    from pipelines.assess.store import Caller
    from pipelines.featurize import read_snapshot
    from pipelines.pseudonym import load_key

    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("assessments"))
    settings = small_settings(copy)
    records = sorted(_records(settings, NIGHT), key=lambda r: str(r["filed_at"]))
    # The history holds trader pseudonyms (decision 0027).
    key = load_key(settings)
    known = set(read_snapshot(settings, NIGHT).table("shipper")["shipper_id"])
    new_parties = [r for r in records if key.pseudonym(r["shipper_id"]) not in known][:10]
    seen_today: set[str] = set()
    repeats = []
    for record in records:
        if record["shipper_id"] in seen_today:
            repeats.append(record)
        seen_today.add(record["shipper_id"])
    chosen = {(r["declaration_id"], r["item_no"]): r for r in [*new_parties, *repeats[:20]]}
    assert len(new_parties) >= 3 and len(repeats) >= 5
    store = AssessmentStore(layout.assessments_database(settings))
    assessor = Assessor(settings, store, clock=lambda: NOON)
    caller = Caller("t", "singles")
    singles = sorted(chosen.values(), key=lambda r: str(r["filed_at"]))
    answers = []
    for start in range(0, len(singles), 7):
        calls = [
            Call([r], caller, f"s{start}-{i}") for i, r in enumerate(singles[start : start + 7])
        ]
        for outcome in assessor.assess_calls(calls):
            assert outcome.error is None and len(outcome.assessments) == 1
            answers.append(outcome.assessments[0])
    # One at a time, alone in its pass, the first of them again (replayed) and a fresh copy.
    alone = assessor.assess([{**singles[0], "declaration_id": "ALONE-1"}], caller, "alone")[0]
    store.close()
    service = pl.DataFrame(answers).select(
        "declaration_id", "item_no", pl.col("risk_score").alias("service_risk"), "replayed"
    )
    night = _night_scores(settings).join(service, on=["declaration_id", "item_no"], how="inner")
    assert night.height == len(chosen)
    assert not service["replayed"].any()
    assert (night["risk_score"] == night["service_risk"]).all()
    first = night.filter(pl.col("declaration_id") == singles[0]["declaration_id"])
    assert alone["risk_score"] == first["risk_score"][0]


def test_a_broken_call_in_a_coalesced_pass_is_refused_alone(assessor: Assessor) -> None:
    from pipelines.assess.engine import Call
    from pipelines.assess.store import Caller

    rows = _records(assessor.settings, NIGHT)
    caller = Caller("t", "coalesced")
    good = Call([{**rows[30], "declaration_id": "PASS-A"}], caller, "pass-a")
    bad = Call(
        [{**rows[31], "declaration_id": "PASS-B1"}, {**rows[32], "port_of_loading": "XXZZZ"}],
        caller,
        "pass-b",
    )
    also = Call([{**rows[33], "declaration_id": "PASS-C"}, rows[33]], caller, "pass-c")
    outcomes = assessor.assess_calls([good, bad, also])
    assert outcomes[0].error is None and outcomes[2].error is None
    assert [a["declaration_id"] for a in outcomes[2].assessments] == [
        "PASS-C",
        rows[33]["declaration_id"],
    ]
    assert outcomes[1].error is not None
    assert {(p["position"], p["field"]) for p in outcomes[1].error.problems} == {
        (2, "port_of_loading")
    }
    assert not assessor.store.stored([("PASS-B1", int(rows[31]["item_no"]), "x")])
    recorded = {(r["position"], r["field"]) for r in assessor.store.rejections("pass-b")}
    assert recorded == {(2, "port_of_loading")}
    assert outcomes[0].assessments[0]["declaration_id"] == "PASS-A"
    assert outcomes[0].assessments[0]["replayed"] is False


def test_one_callers_backlog_is_refused_while_another_caller_queues(assessor: Assessor) -> None:
    from pipelines.assess.batching import BusyError, Coalescer
    from pipelines.assess.engine import Call
    from pipelines.assess.store import Caller

    rows = _records(assessor.settings, NIGHT)[40:46]
    flooder, other = Caller("f", "flooder"), Caller("o", "other")
    coalescer = Coalescer(assessor, max_pending_rows=3)
    waiting = [coalescer.submit(Call(rows[0:2], flooder, "f1"))]
    with pytest.raises(BusyError):
        coalescer.submit(Call(rows[2:4], flooder, "f2"))
    waiting.append(coalescer.submit(Call(rows[4:6], other, "o1")))
    coalescer.start()
    outcomes = [w.result(timeout=120) for w in waiting]
    coalescer.stop()
    assert [len(o.assessments) for o in outcomes] == [2, 2]
    assert all(o.error is None for o in outcomes)
    # Both calls waited for the worker, so it joined them into one pass (the counts /v1/health
    # reports and the benchmark reads).
    assert (coalescer.passes, coalescer.calls) == (1, 2)


def test_health_counts_the_passes_and_the_calls_they_joined(
    client: TestClient, token: str, assessor: Assessor
) -> None:
    before = client.get("/v1/health").json()
    rows = _records(assessor.settings, NIGHT)[50:52]
    assert _post(client, token, [{**rows[0], "declaration_id": "HEALTH-1"}]).status_code == 200
    after = client.get("/v1/health").json()
    assert after["model_version"] == assessor.model_version
    assert after["passes"] == before["passes"] + 1
    assert after["calls"] == before["calls"] + 1


def test_small_calls_share_a_screening_and_large_ones_are_screened_alone() -> None:
    from features.screening import TRADE_MIN_NAMES
    from pipelines.assess.engine import _screening_groups

    small = TRADE_MIN_NAMES // 2 - 1
    calls = pl.Series("_call", [0] * 3 + [1] * (small + 1) + [2] * 40 + [3] * 40 + [4] * 30)
    groups = _screening_groups(calls)
    assert groups == [[1], [0, 2, 3], [4]]
    # No group of small calls reaches the name count at which token weights change.
    counts = dict(calls.value_counts().rows())
    assert all(sum(counts[c] for c in g) * 2 < TRADE_MIN_NAMES for g in groups if g != [1])


def _day_frame(settings: Settings) -> pl.DataFrame:
    staged = pl.read_parquet(layout.staged_declarations_file(settings, NIGHT))
    return staged.select(DECLARATIONS.names)


def test_features_from_reference_tables_cut_to_the_call_equal_the_full_tables(
    assessor: Assessor,
) -> None:
    """The service joins a call to the LOCODE and HS6 tables cut to its own keys."""
    from polars.testing import assert_frame_equal

    from features.build import build_features
    from pipelines.assess.references import call_references

    loaded = assessor._loaded
    index, _ = assessor._history(loaded, NIGHT)
    day = _day_frame(assessor.settings)
    whole = build_features(day, index.slice(day), loaded.refs)
    cut = call_references(loaded.refs, day)
    assert cut.locations.height < loaded.refs.locations.height
    assert cut.hs6.height < loaded.refs.hs6.height
    assert_frame_equal(build_features(day, index.slice(day), cut), whole)
    # A port and a heading no table holds, and no transshipment at all.
    stranger = day.head(1).with_columns(
        pl.lit("XXNEW").alias("port_of_loading"),
        pl.lit(None, pl.List(pl.String)).alias("transshipment_ports"),
        pl.lit("99999999").alias("hs_code"),
    )
    parts = [day, stranger, *(day[p : p + 1] for p in range(0, day.height, day.height // 30))]
    for one in parts:
        alone = build_features(one, index.slice(one), call_references(loaded.refs, one))
        assert_frame_equal(alone, build_features(one, index.slice(one), loaded.refs))
        # The service's index finds the rows the filter keeps, in the same order.
        indexed = loaded.reference_index.cut(one)
        filtered = call_references(loaded.refs, one)
        assert_frame_equal(indexed.locations, filtered.locations)
        assert_frame_equal(indexed.hs6, filtered.hs6)
    # The joins found rows: route and description features are not all null.
    assert whole.select(pl.all().is_not_null().any()).row(0).count(True) > whole.width // 2


def test_rules_compiled_once_a_generation_fire_as_evaluated_per_call(
    assessor: Assessor,
) -> None:
    from polars.testing import assert_frame_equal

    from features.build import build_features
    from features.rules import RuleError, evaluate_rules, rule_input, rules_valid_on

    loaded = assessor._loaded
    index, _ = assessor._history(loaded, NIGHT)
    day = _day_frame(assessor.settings)
    frame = rule_input(day, build_features(day, index.slice(day), loaded.refs))
    compiled = loaded.rules_for(NIGHT, frame)
    assert loaded.rules_for(NIGHT, frame) is compiled
    expected = evaluate_rules(rules_valid_on(loaded.rules, NIGHT), frame, NIGHT)
    assert expected.height > 0
    assert_frame_equal(compiled.hits(frame), expected)
    for row in expected["declaration_id"].unique().sort().head(10):
        one = frame.filter(pl.col("declaration_id") == row)
        assert_frame_equal(
            compiled.hits(one), evaluate_rules(rules_valid_on(loaded.rules, NIGHT), one, NIGHT)
        )
    with pytest.raises(RuleError, match="schema"):
        compiled.hits(frame.drop(frame.columns[-1]))


def test_one_declaration_a_call_answers_as_a_batch_and_scores_as_the_night(
    home: Path, tmp_path: Path
) -> None:
    """Each row sent alone gets the risk score, answer and reasons it gets in a batch of 100."""
    settings = small_settings(home)
    rows = _records(settings, NIGHT)[:100]
    answers: list[list[dict[str, Any]]] = []
    for name, sizes in (("alone", 1), ("batch", 100)):
        store = AssessmentStore(tmp_path / f"{name}.sqlite")
        assessor = Assessor(settings, store, clock=lambda: NOON)
        got: list[dict[str, Any]] = []
        for start in range(0, len(rows), sizes):
            got += assessor.assess(rows[start : start + sizes], Caller("t", "test"), name)
        answers.append(got)
        store.close()
    fields = ("declaration_id", "item_no", "risk_score", "answer", "reasons", "rule_hits")
    alone, batch = ([{f: a[f] for f in fields} for a in got] for got in answers)
    assert alone == batch
    night = _night_scores(settings)
    scored = pl.DataFrame(alone).select("declaration_id", "item_no", "risk_score")
    joined = night.join(scored, on=["declaration_id", "item_no"], suffix="_alone")
    assert joined.height == len(rows)
    assert (joined["risk_score"] == joined["risk_score_alone"]).all()
    assert any(a["reasons"] for a in alone)


def test_passes_take_the_in_memory_engine_and_the_last_one_gives_it_back() -> None:
    """The engine choice is Polars' process-wide setting: taken while any pass runs, restored
    when the last ends, even when a pass fails."""
    import os

    from pipelines.assess.engine import in_memory_queries

    def affinity() -> str | None:
        return os.environ.get("POLARS_ENGINE_AFFINITY")

    before = affinity()
    assert before != "in-memory"
    with in_memory_queries():
        assert affinity() == "in-memory"
        with in_memory_queries():  # a second pass at the same time
            assert affinity() == "in-memory"
        assert affinity() == "in-memory"  # the first pass still runs
    assert affinity() == before
    with pytest.raises(RuntimeError), in_memory_queries():
        raise RuntimeError("a pass fails")
    assert affinity() == before


def _screened_from_the_party_frame(
    declarations: pl.DataFrame, index: Any, threshold: float
) -> pl.DataFrame:
    """Hits as the night built them before its names were scored ahead of any frame: every
    party in one frame through `screen`, then joined back to its items."""
    from features.screening import screen

    parties = pl.concat(
        [
            declarations.select(
                "declaration_id",
                pl.col("item_no").cast(pl.Int64),
                pl.lit(role).alias("party_role"),
                pl.col(f"{role}_name").cast(pl.String).alias("name"),
                pl.col(f"{role}_country").cast(pl.String).alias("country"),
            )
            for role in ("shipper", "consignee")
        ]
    ).with_columns(
        party_key=pl.concat_str(
            [pl.col("name").fill_null(""), pl.col("country").fill_null("")], separator="\x1f"
        )
    )
    hits = screen(parties.select("party_key", "name", "country"), index, threshold)
    return parties.join(hits, on="party_key", how="inner")


def test_a_pass_screened_from_its_name_scores_equals_screening_its_party_frame(
    assessor: Assessor,
) -> None:
    """`screen_declarations` (the night's, the service's) scores the party names straight from
    the columns, returns at once when none is near a listed one and builds the hits from those
    scores otherwise: its hits equal `screen` over the whole party frame, for plain rows, rows
    naming listed parties (exactly, upper-cased, misspelt, with a null name) one by one, and the
    whole day at once (trade weights set)."""
    from features.screening import score_party_names
    from pipelines.watchlists.screen import party_names, screen_declarations

    loaded = assessor._loaded
    settings = assessor.settings
    threshold = settings.watchlist_threshold
    day = _day_frame(settings)
    listed = loaded.index.rows.filter(pl.col("name_quality") != "low")["name"].head(3).to_list()
    named = pl.concat(
        [
            day.head(1).with_columns(pl.lit(listed[0]).alias("shipper_name")),
            day.slice(1, 1).with_columns(pl.lit(listed[1].upper()).alias("consignee_name")),
            day.slice(2, 1).with_columns(pl.lit(listed[2][:-1] + "x").alias("shipper_name")),
            day.slice(3, 1).with_columns(pl.lit(None, pl.String).alias("shipper_name")),
        ]
    )
    columns = ["declaration_id", "item_no", "party_role", "list_name", "entry_id", "score"]

    def hits(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
        return sorted(frame.select(columns).rows())

    skipped = screened = 0
    for frame in [*(day[i : i + 1] for i in range(40)), *(named[i : i + 1] for i in range(4))]:
        fast = screen_declarations(frame, settings, threshold, loaded.index, loaded.clearances)
        full = _screened_from_the_party_frame(frame, loaded.index, threshold)
        assert hits(fast) == hits(full)
        if score_party_names(party_names(frame), loaded.index, threshold).near:
            screened += 1
        else:
            skipped += 1
            assert full.is_empty()
    assert skipped >= 30 and screened >= 2
    assert hits(_screened_from_the_party_frame(named.head(2), loaded.index, threshold))
    for frame in (day, pl.concat([day, named])):
        assert hits(
            screen_declarations(frame, settings, threshold, loaded.index, loaded.clearances)
        ) == hits(_screened_from_the_party_frame(frame, loaded.index, threshold))
