"""Password hashing with scrypt (standard library): a memory-hard KDF, no extra dependency.

A stored hash reads ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (base64 without padding), so the cost can
be raised later: a hash made with weaker parameters still verifies and is replaced at the next login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cache

MIN_LENGTH = 10
MAX_LENGTH = 1024  # long enough for any passphrase, short enough that hashing cannot be abused


@dataclass(frozen=True)
class ScryptCost:
    n: int
    r: int
    p: int

    @property
    def maxmem(self) -> int:
        # scrypt needs 128 * n * r bytes; OpenSSL refuses anything above its 32 MiB default.
        return 128 * self.n * self.r * (self.p + 1) + 1024 * 1024


# n=2**15, r=8: 32 MiB and about 0.1 s per hash on one core (OWASP's scrypt minimum is n=2**17 at
# r=8,p=1 or an equivalent trade; this keeps a burst of logins at shift change cheap enough).
CURRENT = ScryptCost(n=2**15, r=8, p=1)
_SALT_BYTES = 16
_KEY_BYTES = 32


class PasswordRejected(ValueError):
    """The password does not meet the rules; the message is safe to show (it never echoes it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_rules(password: str, username: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected("password_short", f"password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected("password_long", f"password must have at most {MAX_LENGTH} characters")
    if password.strip().casefold() == username.strip().casefold():
        raise PasswordRejected("password_is_username", "password must not be the username")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=_KEY_BYTES
    )


def hash_password(password: str, cost: ScryptCost = CURRENT) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, cost)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
        return cost, _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None or len(password) > MAX_LENGTH:
        return False
    cost, salt, key = parsed
    # compare_digest: the time taken does not tell how many leading bytes matched.
    return hmac.compare_digest(_derive(password, salt, cost), key)


def needs_rehash(stored: str, cost: ScryptCost = CURRENT) -> bool:
    parsed = _parse(stored)
    return parsed is None or parsed[0] != cost


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def burn_time(password: str) -> None:
    """Verify against a throw-away hash: an unknown username costs as long as a known one."""
    verify_password(password, _dummy_hash())
