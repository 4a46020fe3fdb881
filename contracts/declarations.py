"""Declarations contract (in). Grain: one goods item of one cargo declaration.

Key `declaration_id` + `item_no`. Amendments re-send the key with a later `filed_at`; the latest
filing wins and earlier ones are kept as history. The UTC date of `filed_at` is the partition.
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.schema import Column, Contract

LOCODE_PATTERN = r"^[A-Z]{2}[A-Z2-9]{3}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
CONTAINER_PATTERN = r"^[A-Z]{3}[UJZ][0-9]{7}$"
MODES = ("sea", "air", "road", "rail", "post", "courier")

# Bounds: what every later stage can hold. Features keep counts in 32-bit integers and divide
# value by mass by packages, so these keep every ratio finite and every count in range; each is
# far beyond any real consignment, so a row outside them is a broken export, not trade.
MAX_ITEM_NO = 99_999
MAX_PACKAGES = 1_000_000_000
MIN_MASS_KG = 0.001
MAX_MASS_KG = 1e9
MAX_VALUE = 1e15
MAX_ID = 64
MAX_NAME = 256
EARLIEST_FILING = datetime(2000, 1, 1, tzinfo=UTC)
"""Filings dated before this are refused: a zero or default date of a broken export (1970-01-01),
not a declaration. History older than this cannot be loaded."""

DECLARATIONS = Contract(
    name="declarations",
    version="1.0",
    grain="one goods item of one cargo declaration (house bill / consignment line)",
    key=("declaration_id", "item_no"),
    columns=(
        Column(
            "declaration_id",
            "string",
            True,
            "1-64 of A-Z a-z 0-9 . _ / -",
            pattern=r"^[A-Za-z0-9._/-]{1,64}$",
        ),
        Column("item_no", "integer", True, "1-99,999", minimum=1, maximum=MAX_ITEM_NO),
        Column(
            "filed_at",
            "timestamp",
            True,
            "ISO 8601 with offset or Z; from 2000-01-01 to 1 day after it arrived; its UTC date "
            "is the partition",
        ),
        Column("mode", "string", True, "one of " + ", ".join(MODES), allowed=MODES),
        Column(
            "port_of_loading",
            "string",
            True,
            "UN/LOCODE, a known location",
            pattern=LOCODE_PATTERN,
            reference="locode",
        ),
        Column(
            "port_of_discharge",
            "string",
            True,
            "UN/LOCODE of the inspecting office's port, a known location",
            pattern=LOCODE_PATTERN,
            reference="locode",
        ),
        Column(
            "transshipment_ports",
            "list",
            False,
            "UN/LOCODEs in route order",
            pattern=LOCODE_PATTERN,
            reference="locode",
        ),
        Column("expected_arrival", "date", False, "not before the filed_at date minus 1 day"),
        Column(
            "country_of_origin",
            "string",
            True,
            "ISO 3166-1 alpha-2",
            pattern=COUNTRY_PATTERN,
            reference="country",
        ),
        Column(
            "country_of_dispatch",
            "string",
            True,
            "ISO 3166-1 alpha-2",
            pattern=COUNTRY_PATTERN,
            reference="country",
        ),
        Column("shipper_id", "string", True, "trader registry id", min_length=1, max_length=MAX_ID),
        Column("shipper_name", "string", True, "", min_length=1, max_length=MAX_NAME),
        Column(
            "shipper_country",
            "string",
            True,
            "ISO 3166-1 alpha-2",
            pattern=COUNTRY_PATTERN,
            reference="country",
        ),
        Column(
            "consignee_id", "string", True, "trader registry id", min_length=1, max_length=MAX_ID
        ),
        Column("consignee_name", "string", True, "", min_length=1, max_length=MAX_NAME),
        Column(
            "consignee_country",
            "string",
            True,
            "ISO 3166-1 alpha-2",
            pattern=COUNTRY_PATTERN,
            reference="country",
        ),
        Column(
            "declarant_id",
            "string",
            False,
            "broker or forwarder filing the declaration",
            max_length=MAX_ID,
        ),
        Column("carrier_code", "string", False, "", max_length=MAX_ID),
        Column(
            "container_ids",
            "list",
            False,
            "ISO 6346 with a valid check digit",
            pattern=CONTAINER_PATTERN,
        ),
        Column(
            "hs_code",
            "string",
            True,
            "6, 8 or 10 digits; the first six are an HS 2022 subheading",
            pattern=r"^(\d{6}|\d{8}|\d{10})$",
            reference="hs6",
        ),
        Column(
            "goods_description", "string", True, "3-512 characters", min_length=3, max_length=512
        ),
        Column("packages", "integer", True, "1-1,000,000,000", minimum=1, maximum=MAX_PACKAGES),
        Column(
            "gross_mass_kg",
            "decimal",
            True,
            "0.001 (one gram) to 1e9 (a million tonnes)",
            minimum=MIN_MASS_KG,
            maximum=MAX_MASS_KG,
        ),
        Column(
            "declared_value",
            "decimal",
            True,
            "0 to 1e15 in the declared currency",
            minimum=0,
            maximum=MAX_VALUE,
        ),
        Column(
            "currency",
            "string",
            True,
            "ISO 4217, convertible with the configured rates",
            pattern=r"^[A-Z]{3}$",
            reference="currency",
        ),
        Column("un_number", "string", False, "4 digits", pattern=r"^\d{4}$"),
    ),
    notes=(
        "Accepted as CSV (UTF-8, header row), JSON Lines or Parquet; lists in CSV are |-separated.",
        "Extra columns are kept and ignored.",
    ),
)
