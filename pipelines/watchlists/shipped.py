"""Load the list copies shipped with the project (contracts/data/watchlists): the demo's lists."""

from __future__ import annotations

from typing import Any

from pipelines.settings import Settings
from pipelines.watchlists.entries import SHIPPED
from pipelines.watchlists.national import load_national
from pipelines.watchlists.ofac import load_ofac
from pipelines.watchlists.store import store_list
from pipelines.watchlists.un import load_un

OFAC_FOLDER = SHIPPED / "ofac-2021-04"
OFAC_VERSION = "2021-04"
NATIONAL_SAMPLE = SHIPPED / "national_sample.csv"
NATIONAL_NAME = "national-sample"
NATIONAL_VERSION = "2026-11-01"


def load_shipped(settings: Settings) -> list[dict[str, Any]]:
    """Store every shipped list version (UN 2020 then 2024, OFAC 2021-04, the national sample)."""
    loaded = [
        load_un(SHIPPED / "un_sc_consolidated_2020-11-30.xml"),
        load_un(SHIPPED / "un_sc_consolidated_2024-09-26.xml"),
        load_ofac(
            OFAC_FOLDER / "sdn.csv",
            OFAC_VERSION,
            alt=OFAC_FOLDER / "alt.csv",
            add=OFAC_FOLDER / "add.csv",
        ),
        load_national(NATIONAL_SAMPLE, NATIONAL_NAME, NATIONAL_VERSION),
    ]
    return [store_list(one, settings) for one in loaded]
