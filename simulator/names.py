"""Spelling noise: the typos clerks make and the variants a listed party hides behind."""

from __future__ import annotations

import numpy as np

# Pairs seen when one name is transliterated by different hands (Korean, Arabic, Cyrillic...).
TRANSLITERATIONS: tuple[tuple[str, str], ...] = (
    ("KOREA", "COREA"), ("KH", "H"), ("OU", "U"), ("YO", "IO"), ("J", "DJ"), ("CH", "TCH"),
    ("SH", "SCH"), ("EI", "EY"), ("Y", "I"), ("W", "V"), ("PH", "F"), ("NG", "N"), ("EO", "O"),
    ("U", "OO"), ("K", "Q"), ("AE", "E"), ("I", "EE"),
)  # fmt: skip
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("CORPORATION", "CORP."), ("CORPORATION", "CO."), ("COMPANY", "CO."), ("LIMITED", "LTD"),
    ("INTERNATIONAL", "INTL"), ("TRADING", "TRADE"), ("JOINT VENTURE", "J/V"),
)  # fmt: skip


def typo(name: str, rng: np.random.Generator) -> str:
    """One clerk's slip: a dropped, doubled or swapped letter, or a changed legal form."""
    if len(name) < 4:
        return name
    kind = int(rng.integers(0, 4))
    # Slips happen inside words: the position and its right neighbour are letters.
    inside = [j for j in range(1, len(name) - 2) if name[j].isalpha() and name[j + 1].isalpha()]
    if not inside:
        return name
    i = inside[int(rng.integers(0, len(inside)))]
    if kind == 0:
        return name[:i] + name[i + 1 :]
    if kind == 1:
        return name[:i] + name[i] + name[i:]
    if kind == 2:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name.upper() if name != name.upper() else name.title()


def name_variant(name: str, rng: np.random.Generator) -> str:
    """A spelling variant of a listed name: transliteration, legal form, letters, token order."""
    variant = name.upper()
    applicable = [(a, b) for a, b in TRANSLITERATIONS if a in variant]
    if applicable:
        a, b = applicable[int(rng.integers(0, len(applicable)))]
        variant = variant.replace(a, b, 1)
    forms = [(a, b) for a, b in LEGAL_FORMS if a in variant]
    if forms and rng.random() < 0.6:
        a, b = forms[int(rng.integers(0, len(forms)))]
        variant = variant.replace(a, b)
    roll = rng.random()
    tokens = variant.split()
    if roll < 0.3 and len(tokens) >= 3:
        # Reorder: move the first token behind the second, as a clerk typing from memory might.
        tokens[0], tokens[1] = tokens[1], tokens[0]
        variant = " ".join(tokens)
    elif roll < 0.7:
        variant = typo(variant, rng)
    if variant == name.upper():
        variant = typo(variant, rng)
    return variant if rng.random() < 0.5 else variant.title()


# How filing clerks shorten legal forms and words when they type a name from an invoice.
FILER_ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("CORPORATION", "CORP"), ("COMPANY", "CO"), ("LIMITED", "LTD"), ("INTERNATIONAL", "INT'L"),
    ("ASSOCIATED", "ASSOC"), ("MACHINERY", "MACH"), ("TRADING", "TRDG"), ("CHEMICAL", "CHEM"),
    ("JOINT VENTURE", "JV"), ("HONG KONG", "HONGKONG"),
)  # fmt: skip


def filer_spelling(name: str, rng: np.random.Generator) -> str:
    """A listed name as a clerk types it: abbreviations, dropped punctuation and legal form,
    the case of the invoice, sometimes a slip of the finger; never a deliberate transliteration."""
    variant = name.upper()
    for long, short in FILER_ABBREVIATIONS:
        if long in variant and rng.random() < 0.5:
            variant = variant.replace(long, short)
    if rng.random() < 0.5:
        variant = variant.replace("(", "").replace(")", "").replace(".", "").replace(",", "")
    tokens = variant.split()
    legal_form_last = tokens[-1] in {"CORP", "CO", "LTD", "CORPORATION", "COMPANY"}
    if len(tokens) >= 3 and legal_form_last and rng.random() < 0.3:
        tokens = tokens[:-1]
    variant = " ".join(tokens)
    if rng.random() < 0.25:
        variant = typo(variant, rng)
    case = rng.random()
    if case < 0.4:
        return variant.title()
    if case < 0.5:
        return variant.lower()
    return variant
