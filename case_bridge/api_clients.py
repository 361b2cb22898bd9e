"""Outside systems' API keys (Open311 ``api_key``): made once, shown once, kept as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from case_bridge.models import ApiClient
from hotline.db import utcnow

KEY_BYTES = 24


class ApiClientError(ValueError):
    pass


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def add_api_client(session: Session, name: str) -> str:
    """Register a client; returns its key, which is not kept and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ApiClientError("name: 1 to 64 characters")
    if session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise ApiClientError(f"an API client named {name} exists already")
    key = secrets.token_urlsafe(KEY_BYTES)
    session.add(ApiClient(name=name, key_hash=_hash(key)))
    session.flush()
    return key


def client_for_key(session: Session, key: str, now: datetime | None = None) -> ApiClient | None:
    """The active client holding ``key``, or None. Looked up by hash (an index, not a scan); the
    final comparison is constant-time all the same."""
    if not key or len(key) > 200:
        return None
    digest = _hash(key)
    client = session.scalar(select(ApiClient).where(ApiClient.key_hash == digest, ApiClient.active.is_(True)))
    if client is None or not hmac.compare_digest(client.key_hash, digest):
        return None
    client.last_used_at = now or utcnow()
    return client


def revoke_api_client(session: Session, name: str) -> None:
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None:
        raise ApiClientError(f"no API client named {name}")
    client.active = False


def list_api_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.name)))
