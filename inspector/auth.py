"""Accounts and passwords: argon2 hashes, roles, port assignments and the login check."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector.db import ROLES, User

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
PORT = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# Checked when no such account exists, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class AccountError(ValueError):
    """An account that cannot be created or changed as asked; the message says why."""


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def parse_ports(ports: str) -> list[str]:
    """Comma-separated UN/LOCODEs, upper-cased and checked."""
    parsed = [p.strip().upper() for p in ports.split(",") if p.strip()]
    bad = [p for p in parsed if not PORT.match(p)]
    if bad:
        raise AccountError(f"ports must be UN/LOCODEs like NLRTM, got {bad}")
    return sorted(set(parsed))


def add_user(session: Session, username: str, password: str, role: str, ports: list[str]) -> User:
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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        ports=",".join(ports),
        active=True,
        session_version=1,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> User:
    """Replace a password; sessions opened with the old one end."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)
    user.session_version += 1
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active account with this name and password, or None; rehashes outdated hashes."""
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
