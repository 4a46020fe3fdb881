from __future__ import annotations

import polars as pl
import pytest

from features.screening import (
    COUNTRY_BONUS,
    DEFAULT_THRESHOLD,
    HIT_SCHEMA,
    build_hits,
    build_index,
    score_party_names,
    screen,
    token_similarity,
    weak_by_shape,
)


def _entries() -> pl.DataFrame:
    rows = [
        ("ofac", "2680", "HABASH, George", "primary", ["JO"]),
        ("un", "QDe.004", "AL-QAIDA", "primary", []),
        ("un", "TAi.005", "MUHAMMAD TAHER ANWARI", "primary", ["AF"]),
        ("un", "TAi.005", "Haji Mudir", "low", ["AF"]),
        ("ofac", "15831", "MOHAMMED, Wali", "primary", ["PK"]),
        ("ofac", "36", "AEROCARIBBEAN AIRLINES", "primary", ["CU"]),
        ("un", "QDe.069", "ASC", "good", []),
        ("ofac", "7295", "VISCAYA LTDA.", "primary", []),
        ("un", "KPe.017", "LEADER (HONG KONG) INTERNATIONAL", "primary", ["HK"]),
        ("ofac", "25319", "YARD NO.2655 HYUNDAI M.D.", "primary", []),
    ]
    return pl.DataFrame(
        {
            "list_name": [r[0] for r in rows],
            "list_version": ["v1"] * len(rows),
            "entry_id": [r[1] for r in rows],
            "name": [r[2] for r in rows],
            "name_quality": [r[3] for r in rows],
            "countries": [r[4] for r in rows],
        }
    )


def _screen(names: list[str], countries: list[str | None] | None = None) -> pl.DataFrame:
    parties = pl.DataFrame(
        {
            "party_key": [str(i) for i in range(len(names))],
            "name": names,
            "country": countries or [None] * len(names),
        },
        schema={"party_key": pl.String, "name": pl.String, "country": pl.String},
    )
    return screen(parties, build_index(_entries()), DEFAULT_THRESHOLD)


def test_george_bush_is_not_george_habash_but_habbash_is() -> None:
    assert _screen(["George Bush"]).is_empty()
    hits = _screen(["George Habbash"])
    assert hits.select("entry_id", "matched_name").rows() == [("2680", "HABASH, George")]


def test_transliteration_reordering_and_legal_form_still_match() -> None:
    hits = _screen(["Anwari, Mohammad Tahir", "Al Qaeda Ltd", "Aero Caribbean Airlines S.A."])
    assert sorted(hits.get_column("entry_id").to_list()) == ["36", "QDe.004", "TAi.005"]
    assert hits.get_column("score").min() >= DEFAULT_THRESHOLD


def test_short_tokens_need_exact_spelling_unless_the_names_are_long() -> None:
    assert token_similarity("ali", "ali", "wali", "vali") == 0.0
    assert _screen(["Mohammed Ali"]).is_empty()
    assert _screen(["George Bash"]).is_empty()
    hits = _screen(["Leader (Hon Kong) Intl Ltd"])
    assert hits.get_column("entry_id").to_list() == ["KPe.017"]


def test_glued_names_compare_by_spelling_and_numbers_exactly() -> None:
    assert _screen(["Wei Kaya"]).is_empty()
    assert _screen(["Yard No. 2657 Hyundai M.D."]).is_empty()
    assert _screen(["Yard No. 2655 Hyundai M.D."]).get_column("entry_id").to_list() == ["25319"]


def test_unrelated_company_does_not_hit() -> None:
    assert _screen(["Hamburg Maschinenbau GmbH", "Shenzhen Huaxin Trading Co Ltd"]).is_empty()


def test_country_is_supporting_evidence() -> None:
    without = _screen(["Mohamad Taher Anwary"]).row(0, named=True)
    within = _screen(["Mohamad Taher Anwary"], ["AF"]).row(0, named=True)
    elsewhere = _screen(["Mohamad Taher Anwary"], ["FR"]).row(0, named=True)
    assert within["score"] == pytest.approx(min(1.0, without["score"] + COUNTRY_BONUS))
    assert "country match AF" in within["evidence"]
    assert "country differs (list: AF)" in elsewhere["evidence"]
    assert elsewhere["score"] == without["score"]


def test_low_quality_alias_is_discounted() -> None:
    hit = _screen(["Haji Mudir"]).row(0, named=True)
    assert hit["name_score"] == 1.0
    assert hit["score"] == pytest.approx(0.9)
    assert "low-quality alias" in hit["evidence"]


def test_bare_acronyms_are_not_indexed() -> None:
    index = build_index(_entries())
    assert index.skipped_short == 1
    assert len(index) == _entries().height - 1


def test_duplicate_parties_are_screened_once_and_reported_per_party() -> None:
    names = ["AL QAIDA"] * 500 + ["Al-Qaida"] * 500
    hits = _screen(names)
    assert hits.height == 1000
    assert hits.get_column("party_key").n_unique() == 1000
    assert hits.schema == pl.Schema(HIT_SCHEMA)


def test_screen_is_the_names_scored_then_the_hit_rows_built() -> None:
    """`screen` = `score_party_names` on the distinct names, then `build_hits` from those
    scores; with no name near a listed one the scores are empty and so are the hits."""
    index = build_index(_entries())
    names = ["George Bush", "al-qaida", "Anwari, Mohammad Tahir", None, "Hamburg Maschinenbau"]
    parties = pl.DataFrame(
        {
            "party_key": [str(i) for i in range(len(names))],
            "name": names,
            "country": ["US", None, "AF", None, "DE"],
        },
        schema={"party_key": pl.String, "name": pl.String, "country": pl.String},
    )
    scores = score_party_names([n or "" for n in names], index, DEFAULT_THRESHOLD)
    assert set(scores.near) == {"al-qaida", "Anwari, Mohammad Tahir"}
    hits = build_hits(parties, scores, index)
    assert hits.get_column("party_key").to_list() == ["1", "2"]
    assert hits.equals(screen(parties, index, DEFAULT_THRESHOLD))
    plain = parties.filter(pl.col("party_key").is_in(["0", "4"]))
    nothing = score_party_names(["George Bush", "Hamburg Maschinenbau"], index)
    assert not nothing.near
    assert build_hits(plain, nothing, index).equals(pl.DataFrame(schema=HIT_SCHEMA))


def test_one_row_per_party_and_entry() -> None:
    hits = _screen(["Muhammad Taher Anwari"])
    assert hits.select("party_key", "entry_id").rows() == [("0", "TAi.005")]


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="name_quality"):
        build_index(_entries().drop("name_quality"))
    with pytest.raises(ValueError, match="country"):
        screen(pl.DataFrame({"party_key": ["1"], "name": ["x"]}), build_index(_entries()))


def test_an_entry_whose_names_tie_reports_the_same_name_whatever_their_order() -> None:
    names = ["NAMCHONGANG TRADING CORPORATION", "NAMCHONGANG TRADING"]
    reported = []
    for ordered in (names, names[::-1]):
        entries = pl.DataFrame(
            {
                "list_name": ["un", "un"],
                "list_version": ["v1", "v1"],
                "entry_id": ["KPe.004", "KPe.004"],
                "name": ordered,
                "name_quality": ["good", "good"],
            }
        )
        parties = pl.DataFrame({"party_key": ["p"], "name": ["Namchongang Trading Co"]})
        hits = screen(parties.with_columns(country=pl.lit(None, pl.String)), build_index(entries))
        reported.append(hits.select("matched_name", "score").rows())
    assert reported[0] == reported[1] == [("NAMCHONGANG TRADING", 1.0)]


def test_the_pruning_bound_never_drops_a_name_the_exact_score_would_keep() -> None:
    from features.screening import _Bound, name_score

    index = build_index(_entries())
    parties = [
        "George Habbash",
        "Anwari, Mohammad Tahir",
        "Al Qaeda Ltd",
        "Aero Caribbean Airlines S.A.",
        "AEROCARIBBEAN",
        "Leader (Hon Kong) Intl Ltd",
        "Yard No. 2655 Hyundai M.D.",
        "Yard No. 2657 Hyundai M.D.",
        "Wali Mohammed Trading",
        "Haji Mudir Tahir",
        "Viscaya",
        "Mohammed Ali",
    ]
    positions = list(range(len(index)))
    checked = 0
    for name in parties:
        party = index.prepare(name)
        bound = _Bound(party, index, positions)
        for position in positions:
            listed = index.names[position]
            score = name_score(party, listed)
            for floor in (0.5, 0.85, 0.9):
                if score >= floor:
                    checked += 1
                    assert bound.may_reach(listed, floor), (name, position, floor, score)
    assert checked > 10
    far = index.prepare("Hamburg Maschinenbau")
    assert not any(_Bound(far, index, positions).may_reach(n, 0.85) for n in index.names)


def test_of_names_capped_at_one_by_the_country_bonus_the_closer_one_is_reported() -> None:
    entries = pl.DataFrame(
        {
            "list_name": ["un", "un"],
            "list_version": ["v1", "v1"],
            "entry_id": ["KPe.017", "KPe.017"],
            "name": [
                "Leader (Hong Kong) Internationel",
                "leader (hong kong) international",
            ],
            "name_quality": ["good", "good"],
            "countries": [["HK"], ["HK"]],
        }
    )
    parties = pl.DataFrame(
        {"party_key": ["p"], "name": ["Leader (Hong Kong) International"], "country": ["HK"]}
    )
    hits = screen(parties, build_index(entries))
    assert hits.select("matched_name", "name_score", "score").rows() == [
        ("leader (hong kong) international", 1.0, 1.0)
    ]


def _typed_index() -> pl.DataFrame:
    rows = [
        ("ofac", "9001", "PIONEER", "vessel", []),
        ("ofac", "9001", "SUNRISE", "vessel", []),
        ("ofac", "9002", "PIONEER", "entity", ["IR"]),
        ("ofac", "9003", "GLOBAL TRADING GROUP", "entity", ["SY"]),
        ("un", "KPe.030", "KOREA MINING DEVELOPMENT TRADING CORPORATION", "entity", ["KP"]),
    ]
    return pl.DataFrame(
        {
            "list_name": [r[0] for r in rows],
            "list_version": ["v1"] * len(rows),
            "entry_id": [r[1] for r in rows],
            "name": [r[2] for r in rows],
            "name_quality": ["primary"] * len(rows),
            "entity_type": [r[3] for r in rows],
            "countries": [r[4] for r in rows],
        }
    )


def _screen_typed(names: list[str], countries: list[str | None]) -> pl.DataFrame:
    parties = pl.DataFrame(
        {"party_key": [str(i) for i in range(len(names))], "name": names, "country": countries},
        schema={"party_key": pl.String, "name": pl.String, "country": pl.String},
    )
    return screen(parties, build_index(_typed_index()), DEFAULT_THRESHOLD)


def test_vessel_entries_never_hit_a_party() -> None:
    index = build_index(_typed_index())
    assert index.skipped_non_party == 2
    hits = _screen_typed(["Sunrise JSC", "Pioneer"], [None, None])
    assert "9001" not in hits.get_column("entry_id").to_list()
    assert hits.filter(pl.col("party_key") == "0").is_empty()


def test_ordinary_names_sharing_a_word_with_a_weak_list_name_do_not_hold() -> None:
    hits = _screen_typed(
        ["Pioneer Industrial Limited", "Pioneer Company Limited", "Global Industrial Group"],
        ["CN", "CN", "CN"],
    )
    # A one-token list name inside a longer party name is no hit at all.
    assert hits.filter(pl.col("party_key") == "0").is_empty()
    # The bare name with legal forms still hits the entity (it lifts the rank) but, without a
    # country match, does not hold.
    bare = hits.filter(pl.col("party_key") == "1")
    assert bare.get_column("entry_id").to_list() == ["9002"]
    assert bare.get_column("entry_type").to_list() == ["entity"]
    assert bare.get_column("hold").to_list() == [False]
    assert not hits.get_column("hold").any()


def test_weak_list_name_holds_on_exact_name_and_country() -> None:
    hits = _screen_typed(["Pioneer Co., Ltd.", "Global Trading Group LLC"], ["IR", "SY"])
    assert sorted(hits.get_column("entry_id").to_list()) == ["9002", "9003"]
    assert hits.get_column("hold").all()


def test_typo_of_a_listed_entity_still_holds_with_its_country() -> None:
    hits = _screen_typed(
        ["Korea Minning Developmnet Trading Corp", "Korea Minning Developmnet Trading Corp"],
        ["KP", "CN"],
    )
    assert hits.get_column("entry_id").to_list() == ["KPe.030", "KPe.030"]
    assert hits.get_column("hold").to_list() == [True, True]


def test_list_names_made_of_trade_words_are_weak_by_shape() -> None:
    index = build_index(_typed_index())
    weak = {
        name: weak_by_shape(index.prepare(name))
        for name in ("GLOBAL TRADING GROUP", "GREEN INDUSTRIES LTD", "PIONEER", "MUHAMMAD TAHER")
    }
    assert weak == {
        "GLOBAL TRADING GROUP": True,
        "GREEN INDUSTRIES LTD": True,
        "PIONEER": True,
        "MUHAMMAD TAHER": False,
    }
    # The exact name still hits (it lifts the rank), but holds only with the entry's country.
    hits = _screen_typed(["Global Trading Group", "Global Trading Group"], ["CN", "SY"])
    assert hits.get_column("entry_id").to_list() == ["9003", "9003"]
    assert hits.sort("party_key").get_column("hold").to_list() == [False, True]
