"""Passwords, API tokens and web sessions.

Passwords are hashed with Argon2id (argon2-cffi, the winner of the Password Hashing Competition
and OWASP's first recommendation). API tokens and session cookies are 256-bit random strings;
the database keeps only their SHA-256, so a copy of the database lets no one log in. Browser
sessions carry a CSRF token that every state-changing cookie-authenticated request must echo
(header ``X-CSRF-Token`` or form field ``csrf_token``); the cookie is HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id with the library's current (RFC 9106 low-memory) defaults

#: API tokens start with this, so that a leaked one is recognisable (e.g. by secret scanners)
TOKEN_PREFIX = "casip_"
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (with its own random salt)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches; False for a wrong password or a malformed hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


#: a valid hash that matches nothing, checked when the e-mail is unknown so that a login takes
#: as long for an unknown user as for a wrong password (no user enumeration by timing)
DUMMY_HASH = hash_password(secrets.token_hex(16))


def new_token() -> str:
    """A new API token (shown once to its owner)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """SHA-256 hex digest of a token (what the database stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode(), b.encode())
