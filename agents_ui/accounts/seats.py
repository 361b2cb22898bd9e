"""The web seats in the database: agents (and others who take calls) with an extension."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts.models import Role, User
from agents_ui.accounts.service import skills_of
from asterisk_conf.layout import InstanceLayout
from asterisk_conf.pjsip import WebSeat
from hotline.db import Database
from hotline.settings import Settings
from telephony.seat_directory import SeatEntry, fixed_seats

log = logging.getLogger(__name__)

# Roles that get a softphone: agents and duty leaders answer calls, supervisors listen in.
SEAT_ROLES = frozenset({Role.AGENT, Role.DUTY_LEADER, Role.SUPERVISOR})
# Roles whose seat joins queues (a supervisor's softphone is for listening, not for the ACD).
QUEUE_ROLES = frozenset({Role.AGENT, Role.DUTY_LEADER})


def web_seat_entries(session: Session, settings: Settings) -> list[SeatEntry]:
    """Active users with a seat role and an extension; their skills, or the main queue at 0."""
    users = [
        u
        for u in session.scalars(select(User).where(User.active.is_(True), User.extension.is_not(None)))
        if u.role_set & SEAT_ROLES
    ]
    skills = skills_of(session, [u.id for u in users])
    known = {q.name for q in settings.queues}
    taken = {s.extension for s in settings.seats}
    entries: list[SeatEntry] = []
    for user in sorted(users, key=lambda u: u.username):
        assert user.extension is not None
        if user.extension in taken or user.extension.startswith(settings.agents.external_prefix):
            log.error(
                "agent's extension clashes with a fixed seat or the outside-line prefix; no seat for them",
                extra={"agent": user.username, "extension": user.extension},
            )
            continue
        queues: dict[str, int] = {}
        if user.role_set & QUEUE_ROLES:
            queues = {q: p for q, p in skills.get(user.id, {}).items() if q in known}
            if not skills.get(user.id):
                queues = {settings.ivr.main_queue: 0}
        entries.append(
            SeatEntry(
                agent=user.username,
                display_name=user.display_name,
                extension=user.extension,
                queues=queues,
                web=True,
            )
        )
    return entries


def all_seats(db: Database, settings: Settings) -> list[SeatEntry]:
    with db.unit_of_work() as session:
        return [*fixed_seats(settings), *web_seat_entries(session, settings)]


def web_seats_for_config(db: Database, settings: Settings) -> list[WebSeat]:
    """The web seats as pjsip.conf needs them, each with its derived SIP password."""
    layout = InstanceLayout.for_settings(settings)
    with db.unit_of_work() as session:
        entries = web_seat_entries(session, settings)
    return [WebSeat(e.extension, e.agent, layout.seat_password(e.endpoint)) for e in entries]
