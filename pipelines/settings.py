"""The one settings object: paths, capacities and thresholds.

Built once at a face (the CLI, a DAG task) with `load_settings()` and passed down. Nothing else in
the project reads the environment. Every field can be set by an environment variable
(`CARGO_RISK_<FIELD>`, e.g. `CARGO_RISK_HOME`) or by a YAML file named in `CARGO_RISK_CONFIG`;
environment variables win over the file, the file over the defaults. Both are read by
pydantic-settings' own sources (decision 0034).
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

Zone = Literal[
    "landing",
    "raw",
    "quarantine",
    "staging",
    "history",
    "features",
    "scores",
    "lists",
    "models",
    "reports",
    "watchlists",
    "outcomes",
    "exercises",
    "truth",
    "alerts",
    "outbox",
    "assessments",
]

RETENTION_DAYS: dict[str, int] = {
    "raw/declarations": 90,
    "quarantine/declarations": 90,
    "staging/declarations": 730,
    "staging/outcomes": 1825,
    "history/snapshots": 400,
    "features": 730,
    "scores": 730,
    "lists": 1825,
    "reports/runs": 1825,
}
"""Days a date partition is kept, per table (zone/table); docs/handbook/legal.md explains each."""


class Settings(BaseSettings):
    """Where the data lives and how the night behaves."""

    model_config = SettingsConfigDict(env_prefix="CARGO_RISK_", extra="forbid")

    home: Path = Field(
        default_factory=lambda: Path.home() / "cargo-risk",
        description="Folder holding every data zone (landing, raw, staging, ... lists, models).",
    )
    currency_rates: Path | None = Field(
        default=None,
        description="CSV (currency,units_per_usd,as_of) replacing the shipped indicative rate "
        "table; see docs/reference-data.md.",
    )
    lock_wait_seconds: float = Field(
        default=0.0,
        ge=0,
        description="How long a stage waits for its date's run lock before failing (0: fails at "
        "once). Airflow processes get 1800: tasks of one date run on parallel workers.",
    )
    future_tolerance_days: int = Field(
        default=1, description="How far in the future a filed_at may lie before it is rejected."
    )
    data_docs_max_rows: int = Field(
        default=1_000_000,
        ge=0,
        description="Most rows of a night the Data Docs step validates (0: all): a larger night "
        "is validated on 1 row in k, k the smallest step that fits. Validation itself judges "
        "every row; this bounds only the browsable copy's cost (decision 0047).",
    )
    max_rejected_share: float = Field(
        default=0.2,
        description="A batch with a larger share of rejected rows fails the run loudly.",
    )
    volume_window_days: int = Field(
        default=14, ge=1, description="Days of staged volume a night's volume is compared with."
    )
    volume_min_history_days: int = Field(
        default=7, ge=1, description="Fewest recent days needed before volume is checked."
    )
    volume_low_ratio: float = Field(
        default=0.2, ge=0, description="A day below this share of the recent median stops the run."
    )
    volume_high_ratio: float = Field(
        default=5.0, ge=1, description="A day above this multiple of the recent median stops it."
    )
    seed: int = Field(default=20261129, description="Seed for the synthetic world and sampling.")
    capacity_red_share: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Red capacity (physical inspections) as a share of a port's items that day, "
        "half rounding up, between capacity_red_floor and capacity_red_default.",
    )
    capacity_yellow_share: float = Field(
        default=0.04,
        ge=0,
        le=1,
        description="Yellow capacity (document checks) as a share of a port's items that day, "
        "between capacity_yellow_floor and capacity_yellow_default.",
    )
    capacity_red_floor: int = Field(
        default=1, ge=0, description="Fewest red-lane items a port gets from the share."
    )
    capacity_yellow_floor: int = Field(
        default=1, ge=0, description="Fewest yellow-lane items a port gets from the share."
    )
    capacity_red_default: int = Field(
        default=20, ge=0, description="Most red-lane items a port gets from the share (ceiling)."
    )
    capacity_yellow_default: int = Field(
        default=40, ge=0, description="Most yellow-lane items a port gets from the share."
    )
    capacity_overrides: dict[str, tuple[int, int]] = Field(
        default_factory=dict,
        description="Port UN/LOCODE -> [red, yellow] capacity, replacing the share there.",
    )
    random_quota_share: float = Field(
        default=0.015,
        ge=0,
        le=1,
        description="Share of the red capacity drawn at random (on top of it): the unbiased "
        "sample for training.",
    )
    precision_prior_strength: float = Field(
        default=10.0,
        gt=0,
        description="Inspections a rule's weight (its prior precision) or the watch-list prior "
        "counts for against measured outcomes.",
    )
    watchlist_prior_precision: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Prior chance of a finding for a non-hold watch-list hit of match score 1.0.",
    )
    rule_prior_scale: float = Field(
        default=0.03,
        ge=0,
        le=1,
        description="A rule's prior precision is its weight times this, until outcomes measure "
        "it; chosen on the tuning worlds (docs/decisions/0020-ranking-measured-precision.md).",
    )
    precision_window_days: int = Field(
        default=365,
        ge=1,
        description="Days of past inspections the rule and watch-list precisions are measured on.",
    )
    watchlist_threshold: float = Field(
        default=0.90,
        ge=0,
        le=1,
        description="Watch-list hit score threshold (0-1); see docs/watchlists.md for the curve.",
    )
    model_gate_budget: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Inspection rate at which a challenger's precision must not be worse "
        "than the champion's to be promoted.",
    )
    drift_psi_threshold: float = Field(
        default=0.25, gt=0, description="PSI above which the run report warns of drift."
    )
    pseudonym_key_file: Path | None = Field(
        default=None,
        description="Secret key of the trader-id pseudonyms (HMAC-SHA256), created 0600 on first "
        "use; empty means <home>/keys/pseudonym.key. Keep it apart from copies of the data.",
    )
    rules_dirs: list[Path] = Field(
        default_factory=list,
        description="Folders or files of expert-rule YAML; empty means the shipped starter set.",
    )
    landing_uri: str | None = Field(
        default=None,
        description="Remote landing source (s3://..., sftp://..., file://...) read through "
        "Airflow's ObjectStoragePath; empty means the landing zone folder itself.",
    )
    landing_conn_id: str | None = Field(
        default=None, description="Airflow Connection id for `landing_uri`."
    )
    alerts_valid_days: int = Field(
        default=90, ge=1, description="Days an exported alert bundle stays valid for partners."
    )
    alerts_window_days: int = Field(
        default=7,
        ge=1,
        description="The nightly export shares the findings inspected in this many days up to "
        "the run's date (a late outcome is still shared; partners merge repeats by alert id).",
    )
    failure_email: str | None = Field(
        default=None,
        description="Address told when a DAG task fails for good, through Airflow's SMTP "
        "notifier and the `smtp_default` connection; failures always go to "
        "reports/notifications/failures.jsonl too.",
    )
    assess_information_score: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Pre-loading assessment: a risk score at or above this asks the filer for "
        "information (request_for_information); see docs/assess.md.",
    )
    assess_screening_score: float = Field(
        default=0.30,
        ge=0,
        le=1,
        description="Pre-loading assessment: a risk score at or above this asks for high-risk "
        "cargo screening before loading (request_for_screening).",
    )
    assess_do_not_load_score: float = Field(
        default=0.80,
        ge=0,
        le=1,
        description="Pre-loading assessment: a risk score at or above this answers do_not_load "
        "(a watch-list hold always does).",
    )
    assess_rate_per_second: float = Field(
        default=100.0,
        gt=0,
        description="Pre-loading assessment: requests a second each caller token may make.",
    )
    assess_burst: int = Field(
        default=200,
        ge=1,
        description="Pre-loading assessment: requests a caller may make at once above its rate "
        "before it gets 429.",
    )
    assess_max_declarations: int = Field(
        default=1000,
        ge=1,
        description="Pre-loading assessment: most declaration rows in one request.",
    )

    retention_days: dict[str, int] = Field(
        default_factory=lambda: dict(RETENTION_DAYS),
        description="Days each table's date partitions are kept (`cargo-risk retention apply`); "
        "keys as in RETENTION_DAYS, missing keys keep their default.",
    )
    retention_model_versions: int = Field(
        default=3,
        ge=1,
        description="The newest model versions (besides the champion) whose training windows "
        "retention keeps.",
    )

    def zone(self, name: Zone) -> Path:
        """The folder of one data zone (not created here)."""
        return self.home / name

    @property
    def airflow_home(self) -> Path:
        """AIRFLOW_HOME used when cargo-risk itself starts Airflow (demo, tests)."""
        return self.home / "airflow"


def airflow_environment(settings: Settings, dags_folder: Path) -> dict[str, str]:
    """The environment for an Airflow process that runs this project's DAGs on `settings`.

    It inherits the caller's environment (PATH and friends) and pins what the DAGs need: the
    data home, a private SQLite AIRFLOW_HOME, the DAG folder, and a small worker pool for a
    2-core machine.
    """
    env = dict(os.environ)
    env.update(
        CARGO_RISK_HOME=str(settings.home.resolve()),
        AIRFLOW_HOME=str(settings.airflow_home.resolve()),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder.resolve()),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PARALLELISM=env.get("AIRFLOW__CORE__PARALLELISM", "2"),
        PYTHONPATH=str(dags_folder.resolve().parent),
    )
    env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "cargo-risk-local-" + "0" * 64)
    # Parallel tasks of one date (import_outcomes beside featurize) queue for the date's lock
    # instead of failing into a five-minute retry.
    env.setdefault("CARGO_RISK_LOCK_WAIT_SECONDS", "1800")
    return env


class _Environment(EnvSettingsSource):
    """pydantic-settings' own environment source (prefix, case, JSON for list and dict fields),
    reading a given mapping: `os.environ`, or the one a test passes."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _yaml_values(config_file: Path) -> dict[str, Any]:
    """The settings file through pydantic-settings' YAML source; a missing file is an error
    here (the source alone would skip it), so is a file that is not a mapping."""
    if not config_file.is_file():
        raise FileNotFoundError(errno.ENOENT, "settings file not found", str(config_file))
    try:
        return YamlConfigSettingsSource(Settings, yaml_file=config_file)()
    except (TypeError, ValueError, AttributeError) as error:
        raise ValueError(
            f"{config_file}: settings file must be a mapping of name: value"
        ) from error


_ENV_PREFIX = "CARGO_RISK_"


class SettingsError(ValueError):
    """Settings an operator must correct (a misspelt variable, a value of the wrong kind)."""


def _refuse_misspelt_variables(env: Mapping[str, str]) -> None:
    """ValueError for a `CARGO_RISK_*` variable that is not a setting but nearly spells one.

    The environment source reads the settings' own names only, so other variables with the
    prefix (scripts/services.sh's `CARGO_RISK_REDIS_URL`) pass; a near miss such as
    `CARGO_RISK_CAPACITY_RED_DEFUALT` would otherwise be ignored without a word.
    """
    fields = [name.upper() for name in Settings.model_fields]
    for variable in env:
        name = variable.upper()
        if not name.startswith(_ENV_PREFIX) or name[len(_ENV_PREFIX) :] in fields:
            continue
        near = difflib.get_close_matches(name[len(_ENV_PREFIX) :], fields, n=1, cutoff=0.85)
        if near:
            raise SettingsError(
                f"{variable} is not a setting; did you mean {_ENV_PREFIX}{near[0]}? "
                "(pipelines/settings.py lists every setting)"
            )


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build settings from defaults, a YAML file, the environment and explicit overrides.

    `config_file` defaults to `$CARGO_RISK_CONFIG` when set. `overrides` win over everything.
    Environment variables are read for the settings' own fields only (`CARGO_RISK_<FIELD>`);
    others with the prefix (`CARGO_RISK_REDIS_URL` of scripts/services.sh) are not settings.
    """
    env = os.environ if environ is None else environ
    if config_file is None and env.get("CARGO_RISK_CONFIG"):
        config_file = Path(env["CARGO_RISK_CONFIG"])
    file_values = _yaml_values(config_file) if config_file is not None else {}
    _refuse_misspelt_variables(env)
    values = {**file_values, **_Environment(Settings, env)(), **overrides}
    # Validated once from the merged values: the sources were read above, in this order.
    return Settings.model_validate(values)
