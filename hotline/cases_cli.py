"""``hotline cases …``: the catalogue, API keys, department members, timers and the outbox by hand."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sqlalchemy.orm import Session

from hotline.db import Database
from hotline.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cases = sub.add_parser("cases", help="cases: catalogue, API keys, timers, outbox")
    commands = cases.add_subparsers(dest="cases_command", required=True)
    commands.add_parser(
        "seed", help="add the shipped departments, categories and routing rules that are missing"
    )
    key = commands.add_parser("api-key", help="API keys of outside systems (Open311)")
    key_commands = key.add_subparsers(dest="api_key_command", required=True)
    key_commands.add_parser("add", help="make a key (shown once)").add_argument("name")
    key_commands.add_parser("revoke", help="stop a key working").add_argument("name")
    key_commands.add_parser("list", help="the clients and when each last used its key")
    member = commands.add_parser("member", help="put a department-staff user in a department")
    member.add_argument("username")
    member.add_argument("department", help="department code, e.g. city_management")
    commands.add_parser("check-deadlines", help="warn, mark overdue and escalate now (what the timer does)")
    commands.add_parser("deliver", help="send the outbox's due messages now")


def seed(settings: Settings, say: Callable[[str], None]) -> None:
    """Add the shipped catalogue rows that are missing (every migrate does; idempotent)."""
    from case_bridge.catalogue import seed_defaults

    db = Database(settings.database_url)
    try:
        with db.unit_of_work() as session:
            report = seed_defaults(session)
    finally:
        db.dispose()
    if report.departments or report.categories or report.routing_rules:
        say(
            f"[cases] added {report.departments} departments, {report.categories} categories, "
            f"{report.routing_rules} routing rules"
        )


def run(settings: Settings, args: argparse.Namespace, say: Callable[[str], None]) -> int:
    db = Database(settings.database_url)
    try:
        if args.cases_command == "seed":
            seed(settings, say)
            return 0
        if args.cases_command == "deliver":
            from case_bridge.outbox import deliver_due

            sent = deliver_due(db, settings)
            say(f"[cases] outbox: {sent.sent} sent, {sent.failed} failed (will retry), {sent.dead} given up")
            return 0
        with db.unit_of_work() as session:
            return _run(session, settings, args, say)
    finally:
        db.dispose()


def _run(session: Session, settings: Settings, args: argparse.Namespace, say: Callable[[str], None]) -> int:
    command = args.cases_command
    if command == "api-key":
        return _api_key(session, args, say)
    if command == "member":
        from sqlalchemy import select

        from agents_ui.accounts.models import User
        from case_bridge.departments import add_member

        user_id = session.scalar(select(User.id).where(User.username == args.username.lower()))
        if user_id is None:
            say(f"no user named {args.username}")
            return 2
        add_member(session, user_id=user_id, department_code=args.department)
        say(f"[cases] {args.username} now works in {args.department}")
        return 0
    if command == "check-deadlines":
        from case_bridge.timers import check_deadlines

        timed = check_deadlines(session, settings)
        say(
            f"[cases] warned {timed.warned}, overdue {timed.overdue}, not signed for {timed.sign_overdue}, "
            f"escalated {timed.escalated}"
        )
        return 0
    return 2


def _api_key(session: Session, args: argparse.Namespace, say: Callable[[str], None]) -> int:
    from case_bridge.api_clients import add_api_client, list_api_clients, revoke_api_client

    if args.api_key_command == "add":
        key = add_api_client(session, args.name)
        say(f"API key for {args.name} (shown once, keep it safe): {key}")
    elif args.api_key_command == "revoke":
        revoke_api_client(session, args.name)
        say(f"[cases] the key of {args.name} no longer works")
    else:
        for client in list_api_clients(session):
            used = client.last_used_at.isoformat() if client.last_used_at else "never"
            say(f"{client.name}\t{'active' if client.active else 'revoked'}\tlast used {used}")
    return 0
