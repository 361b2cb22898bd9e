"""Account use cases on a Session: create users, log in, change roles, disable, reset passwords.

Nothing here commits: the request (or the CLI command) that calls it does. Every privileged action
writes an audit row in the same transaction, so the action and its record stand or fall together.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from agents_ui.accounts import lockout, passwords, sessions
from agents_ui.accounts.audit import Outcome, record
from agents_ui.accounts.models import AgentSkill, Role, Team, User
from hotline.db import utcnow

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
SKILL_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Digits only: the seats' dialplan reaches an agent by dialling the extension.
EXTENSION = re.compile(r"^[0-9]{2,8}$")


class AccountError(ValueError):
    """A request the rules refuse. ``code`` names it for the pages' translations; the message is English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UserNotFound(AccountError):
    def __init__(self) -> None:
        super().__init__("no_user", "no such user")


class TeamNotFound(AccountError):
    def __init__(self) -> None:
        super().__init__("no_team", "no such team")


class TeamNotEmpty(AccountError):
    def __init__(self, members: int) -> None:
        super().__init__(
            "team_not_empty",
            f"the team still has {members} member(s): move them to another team (or to none) first",
        )
        self.members = members


@dataclass(frozen=True)
class Actor:
    """Who is acting, for the audit log: a logged-in user, or a command-line operator."""

    username: str
    source_ip: str = ""
    user_id: int | None = None


CLI = Actor(username="cli")


@dataclass(frozen=True)
class LoginOk:
    user: User
    token: str


@dataclass(frozen=True)
class LoginRefused:
    retry_after: int  # seconds; 0 means "wrong username or password", never which of the two


def normalize_username(username: str) -> str:
    return username.strip().lower()


def parse_roles(roles: Iterable[str]) -> frozenset[Role]:
    try:
        parsed = frozenset(Role(r) for r in roles)
    except ValueError as exc:
        raise AccountError("role_unknown", f"known roles: {', '.join(r.value for r in Role)}") from exc
    if not parsed:
        raise AccountError("role_none", "a user needs at least one role")
    return parsed


def _roles_text(roles: frozenset[Role]) -> str:
    return " ".join(sorted(r.value for r in roles))


def _check_extension(session: Session, extension: str | None, user_id: int | None = None) -> str | None:
    if extension is None or extension.strip() == "":
        return None
    if not EXTENSION.match(extension.strip()):
        raise AccountError("extension_invalid", "extension: 2 to 8 digits")
    # One seat, one person: two accounts on one extension would both answer each other's calls.
    holder = session.scalar(select(User.id).where(User.extension == extension.strip()))
    if holder is not None and holder != user_id:
        raise AccountError("extension_taken", "extension belongs to another user")
    return extension.strip()


def _check_password(password: str, username: str) -> None:
    try:
        passwords.check_rules(password, username)
    except passwords.PasswordRejected as exc:
        raise AccountError(exc.code, str(exc)) from exc


def _audit(
    session: Session,
    actor: Actor,
    *,
    action: str,
    target: str,
    outcome: Outcome = Outcome.OK,
    detail: str = "",
) -> None:
    """An administrator's act (or its refusal) on the audit log, as ``actor`` did it."""
    record(
        session,
        actor=actor.username,
        action=action,
        target=target,
        source_ip=actor.source_ip,
        outcome=outcome,
        detail=detail,
    )


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    roles: Iterable[str],
    display_name: str,
    extension: str | None = None,
    team_id: int | None = None,
    actor: Actor = CLI,
) -> User:
    """Add an active user; raises AccountError if the name is taken or malformed or the password weak."""
    name = normalize_username(username)
    if not USERNAME.match(name):
        raise AccountError(
            "username_invalid",
            "username: 2-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
        )
    role_set = parse_roles(roles)
    _check_password(password, name)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise AccountError("username_taken", "username is taken")
    user = User(
        username=name,
        display_name=display_name.strip()[:128] or name,
        password_hash=passwords.hash_password(password),
        roles=_roles_text(role_set),
        extension=_check_extension(session, extension),
        team_id=_known_team(session, team_id),
        active=True,
    )
    session.add(user)
    session.flush()
    _audit(
        session,
        actor,
        action="user.create",
        target=name,
        detail=f"roles={user.roles}"
        + (f" team={_team_label(session, user.team_id)}" if user.team_id else ""),
    )
    return user


def login(session: Session, *, username: str, password: str, source_ip: str) -> LoginOk | LoginRefused:
    """Check a login; every outcome is audited and failures feed the back-off."""
    name = normalize_username(username)[:64]
    wait = lockout.locked_for(session, username=name, source_ip=source_ip)
    if wait:
        # The password is not even tried while locked: a correct guess must not get through.
        record(
            session, actor=name, action="login", outcome=Outcome.REFUSED, source_ip=source_ip, detail="locked"
        )
        log.warning("login refused: locked", extra={"username": name, "source_ip": source_ip})
        return LoginRefused(retry_after=wait)
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        passwords.burn_time(password)
        reason = "unknown user"
    elif not passwords.verify_password(password, user.password_hash):
        reason = "bad password"
    elif not user.active:
        reason = "disabled"
    else:
        reason = ""
    if reason:
        lockout.count_failure(session, username=name, source_ip=source_ip)
        record(
            session, actor=name, action="login", outcome=Outcome.REFUSED, source_ip=source_ip, detail=reason
        )
        log.warning("login refused", extra={"username": name, "source_ip": source_ip, "reason": reason})
        return LoginRefused(retry_after=lockout.locked_for(session, username=name, source_ip=source_ip))
    assert user is not None
    if passwords.needs_rehash(user.password_hash):
        # The cost was raised since this hash was made; the plain password is only at hand now.
        user.password_hash = passwords.hash_password(password)
    lockout.clear_user(session, username=name)
    token = sessions.start(session, user=user, source_ip=source_ip)
    record(session, actor=name, action="login", outcome=Outcome.OK, source_ip=source_ip)
    log.info("login", extra={"username": name, "source_ip": source_ip})
    return LoginOk(user=user, token=token)


def logout(session: Session, live: sessions.LiveSession, *, source_ip: str) -> None:
    sessions.end(live.session, reason="logout")
    record(session, actor=live.user.username, action="logout", outcome=Outcome.OK, source_ip=source_ip)
    log.info("logout", extra={"username": live.user.username})


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(func.lower(User.username))).all()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


def _refuse(session: Session, actor: Actor, action: str, target: str, code: str, why: str) -> AccountError:
    _audit(session, actor, action=action, target=target, outcome=Outcome.INVALID, detail=why)
    return AccountError(code, why)


def update_user(
    session: Session,
    *,
    user_id: int,
    actor: Actor,
    roles: Iterable[str] | None = None,
    active: bool | None = None,
    display_name: str | None = None,
    extension: str | None = None,
    clear_extension: bool = False,
    team_id: int | None = None,
    clear_team: bool = False,
) -> User:
    """Change what an administrator may change; an administrator cannot lock themselves out.

    ``team_id`` moves the user to that team; ``clear_team`` takes them out of their team.
    """
    user = get_user(session, user_id)
    changes: list[str] = []
    if roles is not None:
        role_set = parse_roles(roles)
        if user.id == actor.user_id and Role.ADMINISTRATOR not in role_set:
            raise _refuse(
                session,
                actor,
                "user.roles",
                user.username,
                "own_admin_role",
                "cannot remove your own administrator role",
            )
        if _roles_text(role_set) != user.roles:
            changes.append(f"roles {user.roles} -> {_roles_text(role_set)}")
            user.roles = _roles_text(role_set)
    if active is not None and active != user.active:
        if user.id == actor.user_id and not active:
            raise _refuse(
                session, actor, "user.disable", user.username, "disable_self", "cannot disable yourself"
            )
        user.active = active
        changes.append("enabled" if active else "disabled")
        if not active:
            sessions.end_all_for_user(session, user.id, reason="disabled")
    if display_name is not None and display_name.strip() and display_name.strip() != user.display_name:
        user.display_name = display_name.strip()[:128]
        changes.append("display name")
    if clear_extension or extension is not None:
        new_extension = None if clear_extension else _check_extension(session, extension, user.id)
        if new_extension != user.extension:
            user.extension = new_extension
            changes.append(f"extension {new_extension or '-'}")
    if clear_team or team_id is not None:
        new_team = None if clear_team else _known_team(session, team_id)
        if new_team != user.team_id:
            changes.append(f"team {_team_label(session, user.team_id)} -> {_team_label(session, new_team)}")
            user.team_id = new_team
    if changes:
        _audit(session, actor, action="user.update", target=user.username, detail="; ".join(changes))
    return user


def assign_team(session: Session, *, user_id: int, team_id: int | None, actor: Actor) -> User:
    """Put a user in a team (``None``: in none); audited as a user change."""
    return update_user(session, user_id=user_id, actor=actor, team_id=team_id, clear_team=team_id is None)


def set_skills(session: Session, *, user_id: int, skills: Mapping[str, int], actor: Actor) -> User:
    """Replace an agent's queues (queue -> penalty). Queue names are checked by the caller against
    the settings; penalties 0..100 here, as app_queue takes them."""
    user = get_user(session, user_id)
    for queue, penalty in skills.items():
        if not SKILL_QUEUE.match(queue) or not 0 <= penalty <= 100:
            raise AccountError("skill_invalid", f"skill {queue[:40]!r}: a queue name and a penalty 0-100")
    rows = session.scalars(select(AgentSkill).where(AgentSkill.user_id == user.id))
    current = {s.queue: s.penalty for s in rows}
    if current == dict(skills):
        return user
    session.execute(delete(AgentSkill).where(AgentSkill.user_id == user.id))
    session.add_all(AgentSkill(user_id=user.id, queue=q, penalty=p) for q, p in sorted(skills.items()))
    _audit(
        session,
        actor,
        action="user.skills",
        target=user.username,
        detail=" ".join(f"{q}:{p}" for q, p in sorted(skills.items())) or "-",
    )
    return user


def skills_of(session: Session, user_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    ids = list(user_ids)
    if ids:
        for skill in session.scalars(select(AgentSkill).where(AgentSkill.user_id.in_(ids))):
            out.setdefault(skill.user_id, {})[skill.queue] = skill.penalty
    return out


def reset_password(session: Session, *, user_id: int, new_password: str, actor: Actor) -> User:
    """Set a new password and end the user's sessions: whoever knew the old one is logged out."""
    user = get_user(session, user_id)
    try:
        passwords.check_rules(new_password, user.username)
    except passwords.PasswordRejected as exc:
        raise _refuse(session, actor, "user.password", user.username, exc.code, str(exc)) from exc
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()
    sessions.end_all_for_user(session, user.id, reason="password reset")
    _audit(session, actor, action="user.password", target=user.username)
    return user


# ----- teams (班组) -------------------------------------------------------------------------------


def list_teams(session: Session) -> Sequence[Team]:
    return session.scalars(select(Team).order_by(func.lower(Team.name), Team.id)).all()


def team_sizes(session: Session) -> dict[int, int]:
    """team id -> how many users (active or not) are in it; empty teams are absent."""
    rows = session.execute(
        select(User.team_id, func.count(User.id)).where(User.team_id.is_not(None)).group_by(User.team_id)
    )
    return {team_id: count for team_id, count in rows if team_id is not None}


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise TeamNotFound()
    return team


def _known_team(session: Session, team_id: int | None) -> int | None:
    if team_id is None:
        return None
    if session.get(Team, team_id) is None:
        raise AccountError("team_unknown", f"no team with id {team_id}")
    return team_id


def _team_label(session: Session, team_id: int | None) -> str:
    team = session.get(Team, team_id) if team_id is not None else None
    return team.name if team is not None else "-"


def _check_team_name(session: Session, name: str, team_id: int | None = None) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise AccountError("team_name_invalid", "team name: 1 to 64 printable characters")
    holder = session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower()))
    if holder is not None and holder != team_id:
        raise AccountError("team_name_taken", "another team has that name")
    return name


def _check_team_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if len(display_name) > 128 or not display_name.isprintable():
        raise AccountError("team_name_invalid", "team display name: at most 128 printable characters")
    return display_name


def create_team(session: Session, *, name: str, display_name: str = "", actor: Actor = CLI) -> Team:
    team = Team(name=_check_team_name(session, name), display_name=_check_team_display_name(display_name))
    session.add(team)
    session.flush()
    _audit(
        session,
        actor,
        action="team.create",
        target=team.name,
        detail=f"display name {team.display_name}" if team.display_name else "",
    )
    return team


def rename_team(
    session: Session,
    *,
    team_id: int,
    actor: Actor,
    name: str | None = None,
    display_name: str | None = None,
) -> Team:
    """Change a team's name or display name (an empty display name shows the name instead)."""
    team = get_team(session, team_id)
    changes: list[str] = []
    old_name = team.name
    if name is not None:
        new_name = _check_team_name(session, name, team.id)
        if new_name != team.name:
            changes.append(f"name {team.name} -> {new_name}")
            team.name = new_name
    if display_name is not None:
        new_display = _check_team_display_name(display_name)
        if new_display != team.display_name:
            changes.append(f"display name {team.display_name or '-'} -> {new_display or '-'}")
            team.display_name = new_display
    if changes:
        _audit(session, actor, action="team.update", target=old_name, detail="; ".join(changes))
    return team


def delete_team(session: Session, *, team_id: int, actor: Actor) -> None:
    """Remove an empty team. A team with members is refused (and the refusal audited): moving its
    people is a decision about who supervises them, so it is never done as a side effect."""
    team = get_team(session, team_id)
    members = session.scalar(select(func.count(User.id)).where(User.team_id == team.id)) or 0
    if members:
        _audit(
            session,
            actor,
            action="team.delete",
            target=team.name,
            outcome=Outcome.INVALID,
            detail=f"{members} member(s) left",
        )
        raise TeamNotEmpty(members)
    session.delete(team)
    session.flush()
    _audit(session, actor, action="team.delete", target=team.name)


# ----- whose calls a user sees --------------------------------------------------------------------


class Someone(Protocol):
    """A logged-in user (permissions.CurrentUser) or a User row: only the id is read."""

    @property
    def id(self) -> int: ...


def seat_names(username: str, extension: str | None) -> list[str]:
    """What a call row's ``agent`` (the queue member name) holds when this person answered it: the
    username for a web seat; the extension, ``seat<ext>`` or ``PJSIP/seat<ext>`` for a fixed one."""
    if not extension:
        return [username]
    return [username, extension, f"seat{extension}", f"PJSIP/seat{extension}"]


def team_agent_names(session: Session, user: Someone) -> frozenset[str] | None:
    """The seat names whose calls (and seats) ``user`` may see; ``None``: every one, no restriction.

    - an administrator, or a supervisor in no team (a small site has no teams): ``None``;
    - a supervisor in a team: the seats of every member of that team (their own included);
    - anyone else (an agent, a duty leader): their own seat only.
    Duty leaders answer calls from the agent console and are treated as agents here.
    """
    me = session.get(User, user.id)
    if me is None:
        return frozenset()
    roles = me.role_set
    if Role.ADMINISTRATOR in roles or (Role.SUPERVISOR in roles and me.team_id is None):
        return None
    if Role.SUPERVISOR in roles:
        members = session.execute(select(User.username, User.extension).where(User.team_id == me.team_id))
        return frozenset(name for username, extension in members for name in seat_names(username, extension))
    return frozenset(seat_names(me.username, me.extension))
