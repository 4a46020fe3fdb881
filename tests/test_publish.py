"""Publishing: Parquet round trip, CSV contract checks, HTML pages, export, identical reruns."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from contracts.ranked_list import RANKED_LIST
from features.rules import HITS_SCHEMA
from pipelines.csv_safe import write_safe_csv
from pipelines.io import write_parquet
from pipelines.publish import (
    CSV_FILE,
    PARQUET_FILE,
    export_lists,
    list_versions,
    publish_day,
    publish_lists,
    read_lists,
    render_port_html,
    to_csv_frame,
)
from pipelines.select import (
    RULE_HITS_FILE,
    SCORES_FILE,
    WATCHLIST_HITS_FILE,
    WATCHLIST_HITS_SCHEMA,
    SelectionPolicy,
    select_lanes,
)
from pipelines.settings import load_settings

DAY = date(2026, 3, 1)
POLICY = SelectionPolicy(red_capacity=4, yellow_capacity=3, seed=11)


def _scores() -> pl.DataFrame:
    rows = [("NLRTM", i) for i in range(25)] + [("BEANR", i) for i in range(8)]
    return pl.DataFrame(
        {
            "declaration_id": [f"{port}/{i:03d}" for port, i in rows],
            "item_no": [1 + i % 2 for _, i in rows],
            "port_of_discharge": [port for port, _ in rows],
            "risk_score": [round((i * 37 % 25) / 25, 3) for _, i in rows],
            "cbrn_score": [round((i * 11 % 25) / 50, 3) for _, i in rows],
            "salw_score": [round((i * 7 % 25) / 50, 3) for _, i in rows],
            "reasons": [
                None if i % 5 == 0 else f"new consignee, first seen {i} days ago" for _, i in rows
            ],
            "model_version": ["2026-02-28.1"] * len(rows),
        }
    )


def _rule_hits() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "declaration_id": ["NLRTM/003", "NLRTM/004", "NLRTM/004"],
            "item_no": [2, 1, 1],
            "rule_id": ["SALW-001@1", "SALW-002@1", "SALW-003@1"],
            "threat": ["salw"] * 3,
            "weight": [0.6, 0.3, 0.35],
            "force_red": [True, False, False],
            "title": ["Arms via an <embargoed> route", "Transshipped", "Vague & heavy"],
        },
        schema=HITS_SCHEMA,
    )


def _watch_hits() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "declaration_id": ["BEANR/002"],
            "item_no": [1],
            "entry_id": ["QDe.115"],
            "list_name": ["un"],
            "reason": ["consignee matches UN QDe.115 'AL-QAIDA' (0.94)"],
            "hold": [True],
            "score": [0.94],
        },
        schema=WATCHLIST_HITS_SCHEMA,
    )


def _ranked(run_id: str = "night-2026-03-02") -> pl.DataFrame:
    selection = select_lanes(
        _scores(), _rule_hits(), _watch_hits(), policy=POLICY, day=DAY, run_id=run_id
    )
    return selection.ranked


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] != "versions"
    }


def _contract_breaches(csv: Path) -> list[str]:
    """The checks a reader runs on a ranked-list CSV (spec/contracts.md section 4)."""
    frame = pl.read_csv(csv, infer_schema_length=10000)
    problems = []
    required = {"list_date", "port_of_discharge", "rank", "declaration_id", "item_no",
                "risk_score", "cbrn_score", "salw_score", "lane", "selection_reason", "reasons",
                "model_version", "run_id"}  # fmt: skip
    if required - set(frame.columns):
        return [f"missing {sorted(required - set(frame.columns))}"]
    if not set(frame["lane"].unique()) <= {"red", "yellow", "green"}:
        problems.append("lanes")
    for column in ("risk_score", "cbrn_score", "salw_score"):
        if frame[column].min() < 0 or frame[column].max() > 1:  # type: ignore[operator]
            problems.append(f"{column} outside 0..1")
    for (day, port), group in frame.group_by(["list_date", "port_of_discharge"]):
        if sorted(group["rank"]) != list(range(1, group.height + 1)):
            problems.append(f"ranks of {port} on {day}")
    selected = frame.filter(pl.col("lane") != "green")
    if selected.filter(pl.col("reasons").is_null() | (pl.col("reasons") == "")).height:
        problems.append("red/yellow rows without reasons")
    return problems


def test_parquet_reads_back_equal_to_the_frame(tmp_path: Path) -> None:
    ranked = _ranked()
    published = publish_lists(ranked, tmp_path / "lists", DAY)
    assert published.parquet == tmp_path / "lists" / "date=2026-03-01" / PARQUET_FILE
    back = read_lists(tmp_path / "lists", DAY)
    assert back.schema == pl.Schema(RANKED_LIST.polars_schema)
    assert back.equals(ranked.sort("port_of_discharge", "rank"))
    assert published.rows == 33
    assert dict(published.lanes) == {"red": 10, "yellow": 6, "green": 17}  # 4 + 1 random per port


def test_csv_passes_the_contract_checks_and_keeps_the_lists(tmp_path: Path) -> None:
    published = publish_lists(_ranked(), tmp_path, DAY)
    assert _contract_breaches(published.csv) == []
    frame = pl.read_csv(published.csv, infer_schema=False)
    assert frame.columns == RANKED_LIST.names
    row = frame.filter(pl.col("declaration_id") == "NLRTM/004").row(0, named=True)
    assert row["rule_hits"] == "SALW-002@1|SALW-003@1"
    assert row["list_date"] == "2026-03-01"
    green = frame.filter(pl.col("lane") == "green")
    assert green["selection_reason"].null_count() == green.height


def test_the_reader_check_catches_a_broken_csv(tmp_path: Path) -> None:
    # The replicated check must be able to fail: drop one red row's reasons and break a rank.
    broken = _ranked().with_columns(
        pl.when(pl.col("rank") == 1).then(None).otherwise(pl.col("reasons")).alias("reasons"),
        pl.when(pl.col("rank") == 2).then(99).otherwise(pl.col("rank")).alias("rank"),
    )
    path = tmp_path / "broken.csv"
    broken.with_columns(pl.col("rule_hits", "watchlist_hits").list.join("|")).write_csv(path)
    assert sorted(_contract_breaches(path)) == [
        "ranks of BEANR on 2026-03-01",
        "ranks of NLRTM on 2026-03-01",
        "red/yellow rows without reasons",
    ]


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    first = publish_lists(_ranked(), tmp_path, DAY)
    before = _digests(first.partition)
    second = publish_lists(_ranked(), tmp_path, DAY)
    assert _digests(second.partition) == before
    assert set(before) == {PARQUET_FILE, CSV_FILE, "html/BEANR.html", "html/NLRTM.html"}
    # A different run id is visible in every file, so identity is not an accident.
    publish_lists(_ranked("another-run"), tmp_path, DAY)
    changed = _digests(first.partition)
    assert all(changed[name] != before[name] for name in before)


def test_a_rerun_keeps_the_list_it_replaces_as_an_earlier_version(tmp_path: Path) -> None:
    first = publish_lists(_ranked(), tmp_path, DAY, lineage={"run_id": "night-2026-03-02"})
    assert first.version == 1
    second = publish_lists(_ranked("another-run"), tmp_path, DAY, lineage={"run_id": "another"})
    assert second.version == 2
    kept = list_versions(tmp_path, DAY)
    assert [(v.version, v.current, v.run_ids) for v in kept] == [
        (1, False, ("night-2026-03-02",)),
        (2, True, ("another-run",)),
    ]
    # Readers that know nothing of versions read the current one; the earlier stays whole.
    assert read_lists(tmp_path, DAY)["run_id"].unique().to_list() == ["another-run"]
    assert read_lists(tmp_path, DAY, version=1)["run_id"].unique().to_list() == ["night-2026-03-02"]
    current_copy = _digests(kept[1].folder)
    del current_copy["version.json"]
    assert current_copy == _digests(second.partition)
    assert json.loads((kept[0].folder / "lineage.json").read_text())["run_id"] == "night-2026-03-02"
    out = export_lists(tmp_path, DAY, tmp_path / "v1.csv", version=1)
    assert "night-2026-03-02" in out.read_text(encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no version 7"):
        read_lists(tmp_path, DAY, version=7)


def test_a_partition_from_before_versions_becomes_version_one(tmp_path: Path) -> None:
    published = publish_lists(_ranked(), tmp_path, DAY)
    shutil.rmtree(published.partition / "versions")  # as written before lists were kept
    assert publish_lists(_ranked("another-run"), tmp_path, DAY).version == 2
    kept = list_versions(tmp_path, DAY)
    assert [v.run_ids for v in kept] == [("night-2026-03-02",), ("another-run",)]


def test_html_page_per_port_is_printable_and_escaped(tmp_path: Path) -> None:
    published = publish_lists(_ranked(), tmp_path, DAY)
    page = (published.partition / "html" / "NLRTM.html").read_text(encoding="utf-8")
    assert "Ranked risk list: port NLRTM, 2026-03-01" in page
    assert "night-2026-03-02" in page and "2026-02-28.1" in page
    assert "@page" in page  # print layout
    assert "Arms via an &lt;embargoed&gt; route" in page  # rule titles are escaped
    assert "Vague &amp; heavy" in page
    assert page.count('<td class="check">') == 4 + 1 + 3  # red, random on top, yellow
    assert "items released, ranks 9 to 25" in page
    beanr = (published.partition / "html" / "BEANR.html").read_text(encoding="utf-8")
    assert "QDe.115" in beanr and "watchlist" in beanr
    assert "NLRTM/" not in beanr


def test_export_writes_one_csv_of_all_ports_or_the_chosen_ones(tmp_path: Path) -> None:
    publish_lists(_ranked(), tmp_path / "lists", DAY)
    everything = export_lists(tmp_path / "lists", DAY, tmp_path / "out" / "all.csv")
    assert _contract_breaches(everything) == []
    assert pl.read_csv(everything).height == 33
    one = export_lists(tmp_path / "lists", DAY, tmp_path / "out" / "beanr.csv", ports=["BEANR"])
    assert pl.read_csv(one)["port_of_discharge"].unique().to_list() == ["BEANR"]
    with pytest.raises(ValueError, match=r"no list for port\(s\) \['DEHAM'\]"):
        export_lists(tmp_path / "lists", DAY, tmp_path / "x.csv", ports=["DEHAM"])
    with pytest.raises(FileNotFoundError, match="no ranked lists published for 2026-03-05"):
        export_lists(tmp_path / "lists", date(2026, 3, 5), tmp_path / "x.csv")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda f: f.drop("run_id"), "columns must be"),
        (lambda f: f.with_columns(list_date=pl.lit(date(2026, 3, 2))), "holds rows of 2026-03-02"),
        (lambda f: f.with_columns(rank=pl.col("rank") * 2), r"ranks of \['BEANR', 'NLRTM'\]"),
        (lambda f: f.with_columns(lane=pl.lit("blue")), "lanes must be"),
        # The one-pass checks count: a null lane, a null or repeated rank must still be caught.
        (
            lambda f: f.with_columns(
                lane=pl.when(pl.col("rank") == 3).then(None).otherwise("lane")
            ),
            r"lanes must be .*got nulls",
        ),
        (
            lambda f: f.with_columns(
                rank=pl.when(pl.col("rank") == 2).then(None).otherwise("rank")
            ),
            r"ranks of \['BEANR', 'NLRTM'\]",
        ),
        (
            lambda f: f.with_columns(
                rank=pl.when((pl.col("rank") == 2) & (pl.col("port_of_discharge") == "BEANR"))
                .then(1)
                .otherwise("rank")
            ),
            r"ranks of \['BEANR'\] are not",
        ),
        (lambda f: f.with_columns(reasons=pl.lit(None, pl.String)), "without reasons"),
        (lambda f: f.with_columns(port_of_discharge=pl.lit("../..")), "not a UN/LOCODE"),
    ],
)
def test_a_broken_list_is_refused_and_the_old_partition_stays(
    tmp_path: Path, breakage: object, message: str
) -> None:
    published = publish_lists(_ranked(), tmp_path, DAY)
    before = _digests(published.partition)
    with pytest.raises(ValueError, match=message):
        publish_lists(breakage(_ranked()), tmp_path, DAY)  # type: ignore[operator]
    assert _digests(published.partition) == before
    assert [p.name for p in tmp_path.iterdir()] == ["date=2026-03-01"]


def test_publish_day_selects_from_the_scores_partition(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    partition = settings.zone("scores") / "date=2026-03-01"
    write_parquet(_scores(), partition / SCORES_FILE)
    write_parquet(_rule_hits(), partition / RULE_HITS_FILE)
    write_parquet(_watch_hits(), partition / WATCHLIST_HITS_FILE)
    selection, published = publish_day(settings, DAY, "night-2026-03-02", POLICY)
    assert published.partition == settings.zone("lists") / "date=2026-03-01"
    assert read_lists(settings.zone("lists"), DAY).equals(_ranked())
    assert selection.notes == []
    assert published.summary()["lane_red"] == 10


def test_a_formula_in_a_watch_list_entry_id_is_neutralised_in_every_csv(tmp_path: Path) -> None:
    ranked = _ranked()
    hit = pl.col("watchlist_hits").list.len() > 0
    assert ranked.filter(hit).height > 0
    ranked = ranked.with_columns(
        pl.when(hit)
        .then(pl.lit(['=HYPERLINK("x")'], dtype=pl.List(pl.String)))
        .otherwise(pl.col("watchlist_hits"))
        .alias("watchlist_hits")
    )
    published = publish_lists(ranked, tmp_path / "lists", DAY)
    exported = export_lists(tmp_path / "lists", DAY, tmp_path / "all.csv")
    for csv in (published.csv, exported):
        cells = pl.read_csv(csv, infer_schema=False)["watchlist_hits"].to_list()
        assert '\'=HYPERLINK("x")' in cells
        assert not any(cell.startswith("=") for cell in cells if cell)


def test_the_cli_lists_versions_and_exports_an_earlier_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    lists_zone = tmp_path / "lists"
    publish_lists(_ranked(), lists_zone, DAY)
    publish_lists(_ranked("another-run"), lists_zone, DAY)
    runner = CliRunner()
    shown = runner.invoke(app, ["--home", str(tmp_path), "lists", "versions", "--date", str(DAY)])
    assert shown.exit_code == 0, shown.output
    assert "night-2026-03-02" in shown.output and "another-run" in shown.output
    out = tmp_path / "v1.csv"
    args = ["--home", str(tmp_path), "lists", "export", "--date", str(DAY), "--out", str(out)]
    assert runner.invoke(app, [*args, "--version", "1"]).exit_code == 0
    assert "night-2026-03-02" in out.read_text(encoding="utf-8")
    refused = runner.invoke(app, [*args, "--version", "3"])
    assert refused.exit_code == 1 and "no version 3" in refused.output
    missing = runner.invoke(
        app, ["--home", str(tmp_path), "lists", "versions", "--date", "2020-01-01"]
    )
    assert missing.exit_code == 1


def _large_list(rows_per_port: dict[str, int]) -> pl.DataFrame:
    """A valid list of several ports, long enough for several Parquet row groups."""
    frames = []
    for port, n in rows_per_port.items():
        rank = pl.int_range(1, n + 1, eager=True)
        lane = pl.when(rank <= 50).then(pl.lit("red")).otherwise(pl.lit("green"))
        frames.append(
            pl.DataFrame({"rank": rank}).select(
                pl.lit(DAY).alias("list_date"),
                pl.lit(port).alias("port_of_discharge"),
                "rank",
                pl.format("{}/{}", pl.lit(port), pl.col("rank")).alias("declaration_id"),
                (pl.col("rank") % 3 + 1).alias("item_no"),
                (1 / pl.col("rank")).alias("risk_score"),
                (0.5 / pl.col("rank")).alias("cbrn_score"),
                (0.25 / pl.col("rank")).alias("salw_score"),
                lane.alias("lane"),
                pl.when(rank <= 50)
                .then(pl.lit("risk"))
                .otherwise(pl.lit("none"))
                .alias("selection_reason"),
                pl.format("score {}", pl.col("rank")).alias("reasons"),
                pl.when(rank % 7 == 0)
                .then(pl.concat_list(pl.lit("=R2"), pl.lit("R1")))
                .otherwise(pl.lit([], pl.List(pl.String)))
                .alias("rule_hits"),
                pl.lit([], pl.List(pl.String)).alias("watchlist_hits"),
                pl.lit("2026-02-28.1").alias("model_version"),
                pl.lit("night-2026-03-01").alias("run_id"),
            )
        )
    # Ports interleaved, as the gathered day file is not sorted by port.
    return pl.concat(frames).sort("rank", "port_of_discharge")


def test_a_list_published_port_by_port_from_a_scan_has_the_whole_frames_bytes(
    tmp_path: Path,
) -> None:
    ranked = _large_list({"NLRTM": 90_000, "BEANR": 40_000, "DEHAM": 7})  # two row groups
    source = write_parquet(ranked, tmp_path / "selection.parquet")
    scanned = publish_lists(pl.scan_parquet(source), tmp_path / "scanned", DAY)
    whole = publish_lists(ranked, tmp_path / "whole", DAY)
    assert scanned.rows == whole.rows == ranked.height
    assert scanned.lanes == whole.lanes == (("red", 107), ("yellow", 0), ("green", 129_900))
    # What publishing the whole frame at once wrote: the checked frame, sorted, in one piece.
    checked = ranked.sort("port_of_discharge", "rank")
    reference = write_parquet(checked, tmp_path / "reference.parquet")
    assert scanned.parquet.read_bytes() == reference.read_bytes()
    reference_csv = write_safe_csv(to_csv_frame(checked), tmp_path / "reference.csv")
    assert scanned.csv.read_bytes() == reference_csv.read_bytes()
    page = render_port_html(checked.filter(pl.col("port_of_discharge") == "BEANR"), "BEANR", DAY)
    assert (scanned.partition / "html" / "BEANR.html").read_text(encoding="utf-8") == page
    csv = scanned.csv.read_text(encoding="utf-8")
    assert csv.count("\n") == ranked.height + 1 and csv.count("list_date") == 1
    assert "'=R2" in csv  # formula-like cells still neutralised
    for published in (scanned, whole):
        assert pl.read_parquet(published.parquet).equals(checked)
    for name in (PARQUET_FILE, CSV_FILE, "html/BEANR.html", "html/DEHAM.html", "html/NLRTM.html"):
        assert (scanned.partition / name).read_bytes() == (whole.partition / name).read_bytes()
