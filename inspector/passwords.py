"""Password strength: refuse the trivially weak before a password is hashed and stored.

Length alone let `aaaaaaaaaa` through. A password is refused when it is too short or too long,
has too few different characters, repeats a short pattern, follows the alphabet, the digits or a
keyboard row, is a common password or a common stem with digits and symbols around it (the
shipped list `data/common_passwords.txt`, look-alikes such as `p@ssw0rd` included), or contains
the user name. `password_problem` says which rule a password breaks.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
# Hashing cost does not grow with length (argon2 pre-hashes), but a form should not carry a book.
MAX_LENGTH = 256
MIN_DISTINCT = 5
COMMON_FILE = Path(__file__).parent / "data" / "common_passwords.txt"
# Rows and runs people walk along; a password inside one of them (either way) is a sequence.
_RUNS = (
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "01234567890123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "`1234567890-=",
    "!@#$%^&*()_+",
)
_LOOK_ALIKES = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_AROUND = re.compile(r"^[^a-z]+|[^a-z]+$")
_NAME_PARTS = re.compile(r"[._-]+")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords and stems, lower case."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(s for line in lines if (s := line.strip()) and not s.startswith("#"))


def _repeats_a_pattern(text: str) -> bool:
    """True when the text is one short unit repeated ('abcabcabca', 'xyxyxyxyxy')."""
    size = len(text)
    return any(
        text == (text[:unit] * (size // unit + 1))[:size] for unit in range(1, size // 2 + 1)
    )


def _is_sequence(text: str) -> bool:
    return any(text in run or text in run[::-1] for run in _RUNS)


def _is_common(lowered: str) -> bool:
    common = common_passwords()
    # Letters only, look-alikes as letters, digits and symbols around the stem dropped.
    forms = {lowered, lowered.translate(_LOOK_ALIKES)}
    forms |= {_AROUND.sub("", form) for form in forms}
    forms |= {_AROUND.sub("", lowered).translate(_LOOK_ALIKES)}
    return any(form in common for form in forms if form)


def _contains_name(lowered: str, username: str) -> bool:
    name = username.lower()
    parts = [p for p in _NAME_PARTS.split(name) if len(p) >= 4]
    whole = [name, name[::-1], _NAME_PARTS.sub("", name)] if len(name) >= 3 else []
    return any(piece in lowered for piece in (*whole, *parts))


def password_problem(password: str, username: str = "") -> str | None:
    """Why the password is too weak for this user, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"it must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"it must be at most {MAX_LENGTH} characters long"
    lowered = password.lower()
    distinct = len(set(lowered))
    if distinct < MIN_DISTINCT:
        return f"it uses only {distinct} different characters (at least {MIN_DISTINCT} needed)"
    if _repeats_a_pattern(lowered):
        return "it repeats a short pattern"
    if _is_sequence(lowered):
        return "it follows the alphabet, the digits or a keyboard row"
    if _is_common(lowered):
        return "it is a common password, or one with digits or symbols added"
    if username and _contains_name(lowered, username):
        return "it contains the user name"
    return None
