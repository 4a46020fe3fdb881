"""The threat categories the product targets, defined once; everything else loops over them.

Grain: one entry per threat category, one model per category. The order is the order of the score
columns in every output, of the features and of the categories a finding may name, so a new
category goes at the end. Adding one is one entry here, a strategic-list class for its HS codes
(contracts/data/strategic_hs.csv) and the findings to train its model on; the contract columns
(`<name>_score`), the history counts (`n_findings_<name>`), the features (`hs_is_<name>`), the
rules' `threat` field and the simulator's scenario categories all follow from the entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThreatCategory:
    """One threat category: its name in data, its label for people and what marks its goods."""

    name: str
    """Value in data: model file `<name>.txt`, `finding_category`, a rule's `threat`."""
    label: str
    """Short label for column headers and reasons, e.g. "CBRN"."""
    strategic_class: str
    """The `threat` value of its HS prefixes on the strategic goods list (contracts/data)."""
    hs_meaning: str
    """What `hs_is_<name>` means, for the feature catalogue."""
    hs_phrase: str
    """How `hs_is_<name>` reads in an item's reasons."""

    @property
    def score_column(self) -> str:
        """Calibrated probability of a finding of this category (ranked list contract)."""
        return f"{self.name}_score"

    @property
    def findings_column(self) -> str:
        """Point-in-time count of this category's findings (history state tables)."""
        return f"n_findings_{self.name}"

    @property
    def hs_feature(self) -> str:
        """Feature: the item's HS code is on the strategic list in this category."""
        return f"hs_is_{self.name}"


THREATS: tuple[ThreatCategory, ...] = (
    ThreatCategory(
        name="cbrn",
        label="CBRN",
        strategic_class="cbrn",
        hs_meaning="HS code is on the strategic list as CBRN-related",
        hs_phrase="HS code of CBRN-related goods",
    ),
    ThreatCategory(
        name="salw",
        label="SALW",
        strategic_class="salw",
        hs_meaning="HS code is on the strategic list as small arms, light weapons or munitions",
        hs_phrase="HS code of arms or munitions",
    ),
)

NAMES: tuple[str, ...] = tuple(t.name for t in THREATS)
"""Category names in registry order."""
SCORE_COLUMNS: tuple[str, ...] = tuple(t.score_column for t in THREATS)
"""Per-category score columns in registry order (`risk_score` combines them)."""


def by_name(name: str) -> ThreatCategory:
    """The category called `name`; a clear error naming the known ones otherwise."""
    for threat in THREATS:
        if threat.name == name:
            return threat
    raise KeyError(f"unknown threat category {name!r}; known: {', '.join(NAMES)}")


def spoken_list(words: tuple[str, ...], conjunction: str = "or") -> str:
    """`a, b or c`: a list of names as a sentence says it (for error messages and prose)."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"
