"""Users, their login sessions, login throttles and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline.db import Base, UtcDateTime, utcnow


class Role(StrEnum):
    AGENT = "agent"
    DUTY_LEADER = "duty_leader"
    DEPARTMENT_STAFF = "department_staff"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"


_ROLE_NAMES = frozenset(r.value for r in Role)


class User(Base):
    """A person who logs in to the web apps. Roles are a small fixed set, kept in one column."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-case: "Alice" and "alice" must not become two accounts.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    # "scrypt$n$r$p$salt$hash": the parameters travel with the hash so they can be raised later.
    password_hash: Mapped[str] = mapped_column(String(255))
    # Space-separated Role values, sorted; a join table would buy nothing for five fixed roles.
    roles: Mapped[str] = mapped_column(String(200), default="")
    # The agent's seat (SIP extension); calls are matched to agents by it.
    extension: Mapped[str | None] = mapped_column(String(32), default=None)
    __table_args__ = (Index("ix_users_extension", "extension", unique=True),)
    # The 班组 (team) a person works in: a supervisor sees the calls of their own team's members.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), default=None, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(Role(r) for r in self.roles.split() if r in _ROLE_NAMES)


class Team(Base):
    """A 班组: agents working under one supervisor. No teams at all is fine (a small site)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What administrators type and see; unique whatever the case ("A班" and "a班" are one team).
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="", server_default="")

    @property
    def label(self) -> str:
        return self.display_name or self.name


class AgentSkill(Base):
    """An agent answers a queue at a penalty (0 is rung first). No rows: the main queue at 0."""

    __tablename__ = "agent_skills"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    queue: Mapped[str] = mapped_column(String(40), primary_key=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)


class LoginSession(Base):
    """One browser's login. Only a hash of the cookie's token is kept: a copied database logs no one in."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    end_reason: Mapped[str] = mapped_column(String(20), default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")


class LoginThrottle(Base):
    """Failed logins counted per key ("user:<name>" or "ip:<address>") for the back-off."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(140), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class AuditEntry(Base):
    """Who did what to whom, from where, and whether it worked. Rows are only ever added."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(140), default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class AuditLogIsAppendOnly(Exception):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: object, _instances: object) -> None:
    # The code can add audit rows but never rewrite or delete them, whoever calls flush.
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry):
            raise AuditLogIsAppendOnly("audit entries cannot be changed or deleted")
