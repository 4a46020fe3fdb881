"""Accounts and passwords: argon2 hashes, roles, port assignments and the login check."""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector.db import ROLES, User
from inspector.passwords import password_problem

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
PORT = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


@cache
def password_hasher(cheap: bool = False) -> PasswordHasher:
    """argon2id with the RFC 9106 low-memory profile; `cheap` (tests only) the cheapest one."""
    return PasswordHasher.from_parameters(profiles.CHEAPEST) if cheap else PasswordHasher()


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Checked when no such account exists, so a wrong name takes as long as a wrong password.
    return hasher.hash("not-a-real-password")


class AccountError(ValueError):
    """An account that cannot be created or changed as asked; the message says why."""


def check_password_strength(password: str, username: str) -> None:
    """AccountError saying which rule a too-weak password breaks (see inspector.passwords)."""
    problem = password_problem(password, username)
    if problem is not None:
        raise AccountError(f"password is too weak: {problem}")


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of the password."""
    return (hasher or password_hasher()).hash(password)


def parse_ports(ports: str) -> list[str]:
    """Comma-separated UN/LOCODEs, upper-cased and checked."""
    parsed = [p.strip().upper() for p in ports.split(",") if p.strip()]
    bad = [p for p in parsed if not PORT.match(p)]
    if bad:
        raise AccountError(f"ports must be UN/LOCODEs like NLRTM, got {bad}")
    return sorted(set(parsed))


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    ports: list[str],
    *,
    hasher: PasswordHasher | None = None,
) -> User:
    """Create an account; inspectors need at least one port."""
    if not USERNAME.match(username):
        raise AccountError(
            "username must be 2-64 of lower-case letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; got {username!r}"
        )
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if role == "inspector" and not ports:
        raise AccountError("an inspector needs at least one port (--ports NLRTM,SGSIN)")
    check_password_strength(password, username)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password, hasher),
        role=role,
        ports=",".join(ports),
        active=True,
        session_version=1,
    )
    session.add(user)
    session.flush()
    return user


def set_password(
    session: Session, username: str, password: str, hasher: PasswordHasher | None = None
) -> User:
    """Replace a password; sessions opened with the old one end."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    check_password_strength(password, username)
    user.password_hash = hash_password(password, hasher)
    user.session_version += 1
    return user


def authenticate(
    session: Session, username: str, password: str, hasher: PasswordHasher | None = None
) -> User | None:
    """The active account with this name and password, or None; rehashes outdated hashes."""
    hasher = hasher or password_hasher()
    user = session.scalar(select(User).where(User.username == username))
    try:
        hasher.verify(user.password_hash if user else _dummy_hash(hasher), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password, hasher)
    return user
