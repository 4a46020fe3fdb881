"""Column mappings: YAML model, vectorised apply, the KCS mapping on real rows, stage and CLI."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from contracts import reference
from contracts.declarations import DECLARATIONS
from contracts.mapping import (
    DEFAULTED,
    ColumnMapping,
    MappingError,
    apply_mapping,
    kcs_labels,
    load_mapping,
    mapping_outcomes,
)
from contracts.outcomes import OUTCOMES
from contracts.reading import cast_to_contract, read_raw
from pipelines.cli import app
from pipelines.mapping import DEFAULTED_FIELDS, convert_file

KCS_DIR = Path(__file__).parent / "data" / "kcs"
KCS_FILES = sorted(KCS_DIR.glob("*.csv"))

# The smallest valid mapping: every required column, most from one source row.
MINIMAL = """
name: tiny
description: a test layout
declarations:
  declaration_id: {source: id}
  item_no: {constant: "1"}
  filed_at: {source: day, date_format: "%d.%m.%Y"}
  mode: {source: how, lookup: {"S": sea, "A": air}, default: sea}
  port_of_loading: {source: from_port}
  port_of_discharge: {constant: KRPUS}
  country_of_origin: {source: origin}
  country_of_dispatch: {source: origin}
  shipper_id: {source: seller, default: UNKNOWN}
  shipper_name: {template: "Seller {seller}", default: "Seller unknown", defaulted: true}
  shipper_country: {source: origin}
  consignee_id: {constant: C1}
  consignee_name: {constant: Consignee}
  consignee_country: {constant: KR}
  hs_code: {source: hs}
  goods_description: {source: text}
  packages: {constant: "1"}
  gross_mass_kg: {source: kg, null_values: ["0"], default: "0.05"}
  declared_value: {source: value}
  currency: {constant: KRW}
extras:
  raw_how: how
"""


def _write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _tiny_raw() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["D1", "D2", "D3"],
            "day": ["02.01.2024", "31.12.2023", "not a date"],
            "how": ["A", "X", "S"],
            "from_port": ["CNSHA", "DEHAM", "NLRTM"],
            "origin": ["CN", "DE", "NL"],
            "seller": ["S1", None, "  "],
            "hs": ["930120", "850440", "292910"],
            "text": ["rifles", "converters", "isocyanates"],
            "kg": ["10.5", "0", "3"],
            "value": ["100", "0", "7.5"],
            "_source_file": ["tiny.csv"] * 3,
            "_line": [2, 3, 4],
        }
    )


@pytest.fixture
def tiny(tmp_path: Path) -> ColumnMapping:
    return load_mapping(_write(tmp_path, MINIMAL))


def test_apply_renames_translates_and_marks_defaults(tiny: ColumnMapping) -> None:
    mapped = apply_mapping(_tiny_raw(), tiny)
    assert all(dtype == pl.String for c, dtype in mapped.schema.items() if c != "_line")
    rows = mapped.to_dicts()
    assert rows[0]["filed_at"] == "2024-01-02T00:00:00Z"
    assert rows[0]["mode"] == "air"
    assert rows[0]["shipper_name"] == "Seller S1"
    assert rows[0]["gross_mass_kg"] == "10.5"
    assert rows[0][DEFAULTED] == "shipper_name"
    # Unknown code X goes to the default; missing seller and zero mass too, each marked.
    assert rows[1]["mode"] == "sea"
    assert rows[1]["shipper_id"] == "UNKNOWN"
    assert rows[1]["shipper_name"] == "Seller unknown"
    assert rows[1]["gross_mass_kg"] == "0.05"
    assert rows[1][DEFAULTED] == "mode,shipper_id,shipper_name,gross_mass_kg"
    # A blank value counts as missing; an unparseable date stays for validation to name.
    assert rows[2]["shipper_id"] == "UNKNOWN"
    assert rows[2]["filed_at"] == "not a date"
    assert rows[2]["raw_how"] == "S"
    assert rows[2]["_source_file"] == "tiny.csv"
    assert rows[2]["_line"] == 4
    assert list(mapped.columns[:3]) == ["declaration_id", "item_no", "filed_at"]
    assert mapped.columns[-1] == DEFAULTED


def test_unknown_code_without_default_passes_through(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'mode: {source: how, lookup: {"S": sea, "A": air}, default: sea}',
        'mode: {source: how, lookup: {"S": sea, "A": air}}',
    )
    mapped = apply_mapping(_tiny_raw(), load_mapping(_write(tmp_path, text)))
    assert mapped["mode"].to_list() == ["air", "X", "sea"]
    assert "mode" not in mapped[DEFAULTED][1]


def test_local_times_are_converted_to_utc(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'filed_at: {source: day, date_format: "%d.%m.%Y"}',
        'filed_at: {source: day, date_format: "%d.%m.%Y", timezone: Asia/Seoul}',
    )
    mapped = apply_mapping(_tiny_raw(), load_mapping(_write(tmp_path, text)))
    assert mapped["filed_at"][0] == "2024-01-01T15:00:00Z"


def test_constants_repeat_on_every_row(tiny: ColumnMapping) -> None:
    outcomes_only_constants = ColumnMapping.model_validate(
        {
            **tiny.model_dump(exclude={"outcomes"}),
            "outcomes": {
                "declaration_id": {"constant": "D1"},
                "inspected_at": {"constant": "2024-01-02T10:00:00Z"},
                "selection_reason": {"constant": "random"},
                "result": {"constant": "no_finding"},
                "inspector_id": {"constant": "I9"},
            },
        }
    )
    outcomes = mapping_outcomes(_tiny_raw().drop("_source_file", "_line"), outcomes_only_constants)
    assert outcomes is not None
    assert outcomes.height == 3
    assert outcomes["inspector_id"].to_list() == ["I9"] * 3
    assert outcomes["finding_category"].null_count() == 3


def test_missing_source_column_names_file_and_column(tiny: ColumnMapping) -> None:
    with pytest.raises(MappingError, match=r"tiny\.csv: .*'kg'"):
        apply_mapping(_tiny_raw().drop("kg"), tiny)


def test_no_outcomes_declared_gives_none(tiny: ColumnMapping) -> None:
    assert mapping_outcomes(_tiny_raw(), tiny) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("declaration_id: {source: id}", "declaration_id: {sorce: id}"), r"sorce.*[Ee]xtra"),
        (('{"S": sea, "A": air}', "{10: sea}"), "quoted string"),
        (('item_no: {constant: "1"}', "item_no: {constant: 1}"), "quoted string"),
        (("currency: {constant: KRW}", "colour: {constant: KRW}"), "'colour' not in"),
        (("hs_code: {source: hs}", ""), "not mapped: hs_code"),
        (('packages: {constant: "1"}', "packages: {source: n, date_format: '%Y'}"), "integer"),
        (('item_no: {constant: "1"}', "item_no: {constant: '1', source: id}"), "exactly one"),
        (("raw_how: how", "Raw-How: how"), "lower_snake_case"),
        (('"%d.%m.%Y"}', '"%d.%m.%Y", timezone: Mars/Olympus}'), "not a known IANA zone"),
        (('{"S": sea, "A": air}', "{}"), "lookup is empty"),
    ],
)
def test_bad_mapping_files_are_refused_clearly(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in MINIMAL
    path = _write(tmp_path, MINIMAL.replace(old, new))
    with pytest.raises(MappingError, match=message) as caught:
        load_mapping(path)
    assert str(path) in str(caught.value)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ndeclarations: {a: [\n")
    with pytest.raises(MappingError, match=r"tiny\.yaml:\d+: not valid YAML"):
        load_mapping(path)


def test_unknown_mapping_name_lists_shipped_ones() -> None:
    with pytest.raises(MappingError, match=r"shipped mappings: .*kcs"):
        load_mapping("no-such-layout")


# --- the KCS mapping on the real files (sample in tests/data/kcs) ---


@pytest.fixture(scope="module")
def kcs() -> ColumnMapping:
    return load_mapping("kcs")


@pytest.fixture(scope="module")
def kcs_raw() -> pl.DataFrame:
    return pl.concat([read_raw(path) for path in KCS_FILES])


def test_kcs_sample_is_the_real_layout(kcs: ColumnMapping, kcs_raw: pl.DataFrame) -> None:
    assert len(KCS_FILES) == 2
    assert kcs_raw.height == 2500
    assert set(kcs.source_columns) <= set(kcs_raw.columns)
    # Read as the reader gives it: no BOM in the first name, empty Courier IDs as "".
    assert kcs_raw.columns[0] == "Declaration ID"


def test_kcs_declarations_cast_with_zero_failures(
    kcs: ColumnMapping, kcs_raw: pl.DataFrame
) -> None:
    mapped = apply_mapping(kcs_raw, kcs)
    typed, failures = cast_to_contract(mapped.drop(DEFAULTED), DECLARATIONS)
    assert failures.height == 0
    assert typed.height == kcs_raw.height
    for column in DECLARATIONS.required:
        assert typed[column].null_count() == 0, column
    assert str(typed["filed_at"].dt.date().min()) == "2020-01-01"
    assert typed["item_no"].unique().to_list() == [1]
    assert set(typed["currency"]) == {"KRW"}


def test_kcs_through_the_reader_casts_with_zero_failures(
    kcs: ColumnMapping, kcs_raw: pl.DataFrame
) -> None:
    typed, failures = cast_to_contract(kcs_raw, DECLARATIONS, kcs)
    assert failures.height == 0
    assert typed.height == kcs_raw.height
    assert typed.schema["filed_at"] == pl.Datetime("us", "UTC")
    assert typed.schema["gross_mass_kg"] == pl.Float64
    assert DEFAULTED in typed.columns
    assert "kcs_tax_rate" in typed.columns


def test_kcs_codes_land_on_known_reference_values(
    kcs: ColumnMapping, kcs_raw: pl.DataFrame
) -> None:
    mapped = apply_mapping(kcs_raw, kcs)
    office_ports = kcs.declarations["port_of_discharge"].lookup or {}
    assert set(office_ports.values()) <= reference.locodes()
    assert set(mapped["port_of_discharge"]) <= reference.locodes()
    assert set(mapped["mode"]) <= {"sea", "air", "road", "rail", "post"}
    countries = reference.country_codes()
    # KCS writes ZZ (ISO's "unknown") on 0.1 % of rows: passed through for validation to reject.
    seen = set(mapped["country_of_origin"]) | set(mapped["country_of_dispatch"])
    assert seen - countries == {"ZZ"}
    first = mapped.row(0, named=True)
    assert first["declaration_id"] == "97061800"
    assert first["port_of_discharge"] == "KRPUS"  # office 030 is Busan
    assert first["goods_description"].startswith("Wood;")
    assert mapped.filter(pl.col("kcs_office_id") == "40")[
        "port_of_discharge"
    ].unique().to_list() == ["KRICN"]


def test_kcs_defaults_are_marked_row_by_row(kcs: ColumnMapping, kcs_raw: pl.DataFrame) -> None:
    mapped = apply_mapping(kcs_raw, kcs).with_columns(
        pl.col(DEFAULTED).str.split(",").alias("fields")
    )
    always = {"port_of_loading", "shipper_name", "shipper_country", "consignee_name", "packages"}
    assert mapped["fields"].list.eval(pl.element().is_in(list(always))).list.sum().min() == 5
    other_mode = mapped.filter(pl.col("kcs_transport_code") == "90")
    assert other_mode.height > 0
    assert other_mode["fields"].list.contains("mode").all()
    assert (
        not mapped.filter(pl.col("kcs_transport_code") != "90")["fields"]
        .list.contains("mode")
        .any()
    )
    no_seller = kcs_raw["Seller ID"].str.strip_chars().replace("", None).is_null()
    assert mapped.filter(no_seller)["shipper_id"].unique().to_list() == ["KCS-UNKNOWN-SELLER"]
    assert mapped["fields"].list.contains("shipper_id").sum() == no_seller.sum()
    zero_mass = mapped.filter(pl.col("fields").list.contains("gross_mass_kg"))
    assert zero_mass.height > 0
    assert set(zero_mass["gross_mass_kg"]) == {"0.05"}


def test_kcs_outcomes_keep_the_labels_exactly(kcs: ColumnMapping, kcs_raw: pl.DataFrame) -> None:
    outcomes = mapping_outcomes(kcs_raw, kcs)
    assert outcomes is not None
    assert outcomes.columns[: len(OUTCOMES.names)] == OUTCOMES.names
    typed, failures = cast_to_contract(outcomes.drop(DEFAULTED), OUTCOMES)
    assert failures.height == 0
    findings = typed.filter(pl.col("result") == "finding")
    assert set(findings["finding_category"]) == {"other"}
    assert typed.filter(pl.col("result") == "no_finding")["finding_category"].null_count() == (
        typed.height - findings.height
    )
    assert set(typed["selection_reason"]) == {"risk"}
    labels = kcs_labels(typed)
    expected = kcs_raw.select(
        declaration_id=pl.col("Declaration ID"),
        fraud=pl.col("Fraud").cast(pl.Int64),
        critical_fraud=pl.col("Critical Fraud").cast(pl.Int64),
    )
    assert labels.sort("declaration_id").equals(expected.sort("declaration_id"))
    counts = dict(labels.group_by("critical_fraud").len().rows())
    assert counts == {0: 2007, 1: 468, 2: 25}
    assert findings.height == 468 + 25


def test_kcs_labels_ignore_other_notes_and_refuse_conflicts() -> None:
    outcomes = pl.DataFrame(
        {
            "declaration_id": ["A", "A", "B", "C"],
            "notes": ["fraud=1;critical_fraud=2", "fraud=1;critical_fraud=2", "seal broken", None],
        }
    )
    assert kcs_labels(outcomes).rows() == [("A", 1, 2)]
    clash = pl.DataFrame(
        {
            "declaration_id": ["A", "A"],
            "notes": ["fraud=0;critical_fraud=0", "fraud=1;critical_fraud=1"],
        }
    )
    with pytest.raises(ValueError, match=r"conflicting KCS labels for declaration.* A"):
        kcs_labels(clash)


# --- the stage and the CLI ---


def test_convert_file_writes_contract_files_readable_again(
    kcs: ColumnMapping, tmp_path: Path
) -> None:
    source = KCS_DIR / "df_syn_valid_eng_head500.csv"
    result = convert_file(source, kcs, tmp_path)
    assert result.rows == 500
    assert result.declarations_path == tmp_path / "declarations" / f"{source.stem}.csv"
    assert result.outcomes_path == tmp_path / "outcomes" / f"{source.stem}.csv"
    assert result.defaulted["port_of_loading"] == result.rows
    again = read_raw(result.declarations_path)
    assert DEFAULTED_FIELDS in again.columns
    typed, failures = cast_to_contract(again, DECLARATIONS)
    assert failures.height == 0
    assert typed.height == result.rows
    outcomes, outcome_failures = cast_to_contract(read_raw(result.outcomes_path), OUTCOMES)
    assert outcome_failures.height == 0
    assert outcomes["declaration_id"].to_list() == typed["declaration_id"].to_list()


def test_convert_refuses_a_file_with_broken_rows(kcs: ColumnMapping, tmp_path: Path) -> None:
    lines = KCS_FILES[0].read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join([*lines[:3], lines[3].rsplit(",", 2)[0], *lines[4:6]]) + "\n")
    with pytest.raises(MappingError, match=r"broken\.csv: 1 row\(s\) cannot be split: line 4"):
        convert_file(broken, kcs, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.csv"))


def test_cli_convert_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "landing"
    result = runner.invoke(
        app, ["mapping", "convert", "--mapping", "kcs", *map(str, KCS_FILES), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "declarations").iterdir()) == sorted(
        f.name for f in KCS_FILES
    )
    assert len(list((out / "outcomes").iterdir())) == 2
    shown = runner.invoke(app, ["mapping", "show", "kcs"])
    assert shown.exit_code == 0, shown.output
    assert "port_of_loading" in shown.output
    assert "placeholder" in shown.output
    missing = runner.invoke(app, ["mapping", "show", "nope"])
    assert missing.exit_code == 1
    assert "no such mapping" in missing.output
