"""``hotline``: the operator's command line.

hotline run                      install what is missing, start everything, Ctrl-C stops it
hotline install                  Asterisk runtime and generated prompts only
hotline start | stop | status    the whole platform in the background
hotline stop redis|agi|tracker|seats|web  restart one component (the supervisor starts it again)
hotline config render [--reload] write Asterisk's files from the settings
hotline config check             validate the settings and every flow
hotline db migrate               apply database migrations
hotline asterisk "core show channels"   Asterisk CLI passthrough
hotline call [--digits 1] [--seconds 8] place a real test call into the running platform
hotline user add NAME --role administrator   add a user (the password is asked for)
hotline cases seed | api-key add NAME | member USER DEPT | check-deadlines | deliver
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hotline import cases_cli
from hotline.settings import Settings, SettingsError, load_settings

COMPONENTS = ("redis", "agi", "tracker", "seats", "recorder", "asr", "cases", "beat", "web")
# Celery's: they report progress in their logs, and the supervisor restarts them when they exit.
RECORDING_COMPONENTS = frozenset({"recorder", "asr", "beat"})
# Components that write a heartbeat file (the supervisor kills them when it goes stale).
WITH_HEARTBEAT = frozenset({"agi", "tracker", "seats"})


def say(message: str) -> None:
    print(message, flush=True)


# ----- pieces used by several commands --------------------------------------------------------------
def _runtime(settings: Settings, install: bool) -> Any:
    from telephony.asterisk_runtime import find_runtime, install_runtime

    runtime = find_runtime(settings)
    if runtime is None:
        if not install:
            raise SystemExit("No Asterisk runtime found; run `hotline install` (or `make run`) first.")
        say("[asterisk] no Asterisk >= 20 found: building the runtime (one time, a few minutes)")
        runtime = install_runtime(settings, progress=say)
    return runtime


def _instance(settings: Settings, runtime: Any) -> Any:
    from asterisk_conf.layout import InstanceLayout
    from telephony.asterisk_runtime import AsteriskInstance

    return AsteriskInstance(runtime, InstanceLayout.for_settings(settings))


def _project_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def cmd_install(settings: Settings) -> Any:
    from asterisk_conf.layout import InstanceLayout
    from ivr_flows.prompts import PromptLibrary

    runtime = _runtime(settings, install=True)
    say(f"[asterisk] using {runtime.kind} Asterisk {runtime.version} at {runtime.root}")
    layout = InstanceLayout.for_settings(settings)
    layout.create()
    PromptLibrary(settings, layout).generate(progress=say)
    return runtime


def cmd_prompts(settings: Settings) -> None:
    """Generate the default prompts only (images and hosts that bring their own Asterisk)."""
    from asterisk_conf.layout import InstanceLayout
    from ivr_flows.prompts import PromptLibrary

    layout = InstanceLayout.for_settings(settings)
    layout.create()
    PromptLibrary(settings, layout).generate(progress=say)


def cmd_migrate(settings: Settings) -> None:
    from hotline.migrate import upgrade

    say(f"[db] migrating {_safe_url(settings.database_url)}")
    upgrade(settings.database_url)
    cases_cli.seed(settings, say)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_render(settings: Settings, reload: bool = False) -> list[str]:
    from agents_ui.accounts.seats import web_seats_for_config
    from asterisk_conf.layout import InstanceLayout
    from asterisk_conf.render import write_config
    from hotline.db import Database
    from ivr_flows.loader import load_all

    load_all(settings)  # a broken flow must stop us before Asterisk is told to use it
    layout = InstanceLayout.for_settings(settings)
    layout.create()
    db = Database(settings.database_url)
    try:
        web_seats = web_seats_for_config(db, settings)
    finally:
        db.dispose()
    changed = write_config(settings, layout, web_seats)
    say(f"[config] {len(changed)} Asterisk file(s) changed: {', '.join(changed) or 'none'}")
    if reload and changed:
        from telephony.reload import reload_asterisk

        asyncio.run(reload_asterisk(settings, changed))
        say("[config] Asterisk reloaded through AMI")
    return changed


def _write_agi_script(settings: Settings, runtime: Any) -> None:
    """The classic (process-per-call) AGI entry point, for sites that run scripts from the dialplan."""
    from asterisk_conf.layout import InstanceLayout

    layout = InstanceLayout.for_settings(settings)
    script = layout.agi_bin / "hotline-flow.agi"
    script.write_text(
        f"#!{runtime.agi_python}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(_project_dir())!r})\n"
        "from telephony.classic_agi import main\n"
        "sys.exit(main())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    # The script may run inside the chroot, where the settings file is not visible: hand it a
    # snapshot inside the (bind-mounted) state directory instead.
    from telephony.classic_agi import SETTINGS_SNAPSHOT

    snapshot = settings.state_dir / SETTINGS_SNAPSHOT
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.touch(mode=0o600)  # it may hold the database URL with its password
    snapshot.chmod(0o600)
    snapshot.write_text(settings.model_dump_json(), encoding="utf-8")


def start_asterisk(settings: Settings, runtime: Any) -> Any:
    instance = _instance(settings, runtime)
    runtime.ensure_mounts(settings.state_dir, _project_dir())
    _write_agi_script(settings, runtime)
    if instance.is_running():
        say(f"[asterisk] instance {settings.asterisk.instance} already running (pid {instance.pid})")
    else:
        say(f"[asterisk] starting instance {settings.asterisk.instance} ...")
        instance.start()
        say(f"[asterisk] fully booted (pid {instance.pid})")
    return instance


def _print_where(settings: Settings) -> None:
    a = settings.asterisk
    say("")
    say("The 12345 hotline platform is running.")
    say(f"  Web:          http://{settings.web.host}:{settings.web.port}/  (health: /healthz)")
    say(f"  SIP (UDP/TCP): {a.bind_address}:{a.sip_port}")
    for trunk in settings.trunks:
        say(f"  Trunk {trunk.name}: accepted only from {trunk.host}:{trunk.port} ({trunk.transport})")
    for seat in settings.seats:
        say(f"  Seat {seat.extension}: Asterisk rings sip:{seat.contact}")
    say("  Test call:    .venv/bin/hotline call --digits 1   (a real SIP call with audio and DTMF)")
    if _no_administrator_yet(settings):
        say("  First login:  .venv/bin/hotline user add admin --role administrator   (no user exists yet)")
    say("  Stop:         Ctrl-C")
    say("")


def cmd_run(settings: Settings, install: bool = True) -> int:
    from hotline.supervisor import Component, Supervisor, component_argv

    runtime = cmd_install(settings) if install else _runtime(settings, install=False)
    cmd_migrate(settings)
    cmd_render(settings)
    instance = start_asterisk(settings, runtime)
    log_dir = settings.state_dir / "log"
    from hotline.status import status_dir

    components = [
        Component(
            name,
            component_argv(name),
            log_dir / f"{name}.log",
            heartbeat=status_dir(settings.state_dir) / f"{name}.json" if name in WITH_HEARTBEAT else None,
        )
        for name in COMPONENTS
        if (name != "redis" or settings.redis.managed) and (name != "asr" or settings.asr.workers > 0)
    ]
    say(f"[platform] starting {', '.join(c.name for c in components)} (logs in {log_dir})")
    _print_where(settings)
    last_check = [time.monotonic()]

    def keep_asterisk_up() -> None:
        if time.monotonic() - last_check[0] < 2:
            return
        last_check[0] = time.monotonic()
        if not instance.is_running():
            say("[asterisk] Asterisk is not running; starting it again")
            with contextlib.suppress(Exception):
                instance.start()

    supervisor = Supervisor(components, say)
    try:
        supervisor.run(on_tick=keep_asterisk_up)
    finally:
        # The tracker stops first (reverse order) and has closed its rows; Asterisk goes next.
        say("[asterisk] stopping ...")
        instance.stop()
        runtime.release_mounts()
        say("stopped.")
    return 0


def cmd_component(settings: Settings, name: str) -> int:
    """Run one component in the foreground (the supervisor's children)."""
    from hotline.logs import setup_logging

    setup_logging(os.environ.get("HOTLINE_LOG_LEVEL", "INFO"), component=name)
    if name == "redis":
        from hotline.redis_server import exec_redis

        exec_redis(settings)  # replaces this process
    if name in RECORDING_COMPONENTS:
        from recording.worker import run_component

        run_component(settings, name)
        return 0
    if name == "cases":
        from case_bridge import worker

        worker.run_component(settings)
        return 0
    if name == "web":
        from agents_ui import serve

        serve.run(settings)
        return 0

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if name == "agi":
            from telephony.agi_service import run_agi

            await run_agi(settings, stop)
        elif name == "tracker":
            from telephony.tracker_service import run_tracker

            await run_tracker(settings, stop)
        elif name == "seats":
            from agents_ui.accounts.seats import all_seats, web_seats_for_config
            from hotline.db import Database
            from telephony.seat_service import run_seats

            db = Database(settings.database_url)
            try:
                await run_seats(
                    settings,
                    stop,
                    load_seats=lambda: all_seats(db, settings),
                    load_web_seats=lambda: web_seats_for_config(db, settings),
                )
            finally:
                db.dispose()
        else:
            raise SystemExit(f"unknown component {name!r}; one of {COMPONENTS}")

    asyncio.run(main())
    return 0


def cmd_status(settings: Settings) -> int:
    import httpx

    url = f"http://{settings.web.host}:{settings.web.port}/healthz"
    try:
        reply = httpx.get(url, timeout=3)
    except httpx.HTTPError:
        say(f"The web server does not answer at {url}: the platform is not running.")
        return 3
    say(json.dumps(reply.json(), indent=2, ensure_ascii=False))
    return 0 if reply.status_code == 200 else 1


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.state_dir / "run" / f"{name}.pid"


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def cmd_start(settings: Settings, config: str | None) -> int:
    """Run the platform in the background and wait until it is healthy."""
    import subprocess

    pid_file = _pid_file(settings, "platform")
    if (pid := _alive(pid_file)) is not None:
        say(f"already running (pid {pid})")
        return 0
    log_file = settings.state_dir / "log" / "platform.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "hotline.cli", *(["--config", config] if config else []), "run"]
    with log_file.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(proc.pid))
    say(f"starting in the background (pid {proc.pid}, log {log_file}) ...")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            say(f"the platform exited with {proc.returncode}; see {log_file}")
            return 1
        with contextlib.redirect_stdout(None), contextlib.suppress(Exception):
            if _healthy(settings):
                say("the platform is up")
                return 0
        time.sleep(1)
    say("the platform did not become healthy in time; see the log")
    return 1


def _healthy(settings: Settings) -> bool:
    import httpx

    reply = httpx.get(f"http://{settings.web.host}:{settings.web.port}/healthz", timeout=2)
    return reply.status_code == 200


def cmd_stop(settings: Settings, component: str | None) -> int:
    """Stop the background platform, or one component (which the supervisor then restarts)."""
    name = component or "platform"
    pid = _alive(_pid_file(settings, name))
    if pid is None:
        say(f"{name} is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _alive(_pid_file(settings, name)) == pid:
        time.sleep(0.2)
    say(f"{name} stopped" + (" (the supervisor starts it again)" if component else ""))
    return 0


def cmd_asterisk(settings: Settings, command: str) -> int:
    instance = _instance(settings, _runtime(settings, install=False))
    if not instance.is_running():
        say("Asterisk is not running.")
        return 3
    print(instance.rx(command), end="")
    return 0


def cmd_call(settings: Settings, args: argparse.Namespace) -> int:
    from telephony.test_call import place_test_call

    return place_test_call(
        settings,
        digits=args.digits,
        seconds=args.seconds,
        caller_id=args.caller_id,
        say=say,
        answer=args.answer,
    )


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    """Add a user (the first administrator, typically). The password is asked for, or read from
    standard input with --password-stdin, never taken from the command line (it would be in ps)."""
    import getpass

    from agents_ui.accounts.service import AccountError, create_user
    from hotline.db import Database

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            say("the two passwords differ; nothing was changed")
            return 2
    db = Database(settings.database_url)
    try:
        with db.unit_of_work() as session:
            create_user(
                session,
                username=args.username,
                password=password,
                roles=args.role,
                display_name=args.name or args.username,
                extension=args.extension,
            )
    except AccountError as exc:
        say(f"not added: {exc}")
        return 2
    finally:
        db.dispose()
    say(f"user {args.username.lower()} added with roles {', '.join(sorted(set(args.role)))}")
    return 0


def _no_administrator_yet(settings: Settings) -> bool:
    from sqlalchemy import select

    from agents_ui.accounts.models import User
    from hotline.db import Database

    db = Database(settings.database_url)
    try:
        with db.unit_of_work() as session:
            # roles is a space-separated list; no other role name contains "administrator".
            first = session.scalar(select(User.id).where(User.roles.contains("administrator")).limit(1))
            return first is None
    finally:
        db.dispose()


def cmd_check(settings: Settings) -> int:
    from ivr_flows.loader import load_all
    from recording.asr import AsrConfigError, make_engine

    flows = load_all(settings)
    try:
        # Loading the engine is the check: a Vosk model folder that is missing or broken says so.
        engine = make_engine(settings.asr)
    except AsrConfigError as exc:
        say(f"settings OK; flows OK: {', '.join(sorted(flows))}")
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    say(
        f"settings OK; flows OK: {', '.join(sorted(flows))}; "
        f"speech recognition: {engine.name} ({engine.model})"
    )
    return 0


def cmd_recordings_verify(settings: Settings, days: int) -> int:
    from datetime import timedelta

    from hotline.db import Database, utcnow
    from recording.housekeeping import verify_all

    db = Database(settings.database_url)
    since = utcnow() - timedelta(days=days) if days else None
    try:
        with db.unit_of_work() as session:
            problems = verify_all(session, since=since)
    finally:
        db.dispose()
    for problem in problems:
        say(
            f"recording {problem.recording_id} (call {problem.call_uniqueid}): "
            f"{problem.problem}: {problem.path}"
        )
    say(
        f"{len(problems)} recording(s) failed the integrity check" if problems else "every recording verified"
    )
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", help="settings file (default: $HOTLINE_CONFIG or ./hotline.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="install what is missing and run the platform in the foreground")
    run.add_argument("--no-install", action="store_true", help="fail instead of installing")
    sub.add_parser("install", help="build the Asterisk runtime and generate prompts")
    sub.add_parser("prompts", help="generate the default prompts only")
    sub.add_parser("status", help="health of every component")
    sub.add_parser("start", help="run the platform in the background (after `hotline install`)")
    stop = sub.add_parser("stop", help="stop the background platform, or restart one component")
    stop.add_argument("component", nargs="?", choices=COMPONENTS)
    config = sub.add_parser("config", help="Asterisk configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    render = config_sub.add_parser("render", help="write every Asterisk file from the settings")
    render.add_argument("--reload", action="store_true", help="reload Asterisk through AMI if changed")
    config_sub.add_parser("check", help="validate settings and flows")
    db = sub.add_parser("db", help="database")
    db.add_subparsers(dest="db_command", required=True).add_parser("migrate", help="apply migrations")
    ast = sub.add_parser("asterisk", help="run one Asterisk CLI command")
    ast.add_argument("cli_command", nargs="+")
    call = sub.add_parser("call", help="place a real test call (sipp) into the running platform")
    call.add_argument("--digits", default="", help="DTMF keys to press after the greeting starts")
    call.add_argument("--seconds", type=float, default=10.0, help="how long to stay on the line")
    call.add_argument("--caller-id", default="13800138000")
    call.add_argument(
        "--answer",
        action="store_true",
        help="also bring up a sipp agent on each configured seat to answer the call",
    )
    user = sub.add_parser("user", help="platform users")
    user_add = user.add_subparsers(dest="user_command", required=True).add_parser("add", help="add a user")
    user_add.add_argument("username")
    user_add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["agent", "duty_leader", "department_staff", "supervisor", "administrator"],
        help="repeat for several roles",
    )
    user_add.add_argument("--name", help="display name (default: the username)")
    user_add.add_argument("--extension", help="the agent's seat extension, e.g. 1001")
    user_add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    recordings = sub.add_parser("recordings", help="call recordings")
    verify = recordings.add_subparsers(dest="recordings_command", required=True).add_parser(
        "verify", help="check every archived recording against its SHA-256; exit 1 if any differ"
    )
    verify.add_argument("--days", type=int, default=0, help="only recordings of the last N days (0: all)")
    cases_cli.add_parser(sub)
    comp = sub.add_parser("component", help=argparse.SUPPRESS)
    comp.add_argument("name", choices=COMPONENTS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from asterisk_conf.ini import ConfigError
    from ivr_flows.errors import FlowError

    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args, load_settings(args.config))
    except (SettingsError, ConfigError, FlowError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        return cmd_run(settings, install=not args.no_install)
    if args.command == "install":
        cmd_install(settings)
        return 0
    if args.command == "prompts":
        cmd_prompts(settings)
        return 0
    if args.command == "status":
        return cmd_status(settings)
    if args.command == "start":
        return cmd_start(settings, args.config)
    if args.command == "stop":
        return cmd_stop(settings, args.component)
    if args.command == "config":
        if args.config_command == "check":
            return cmd_check(settings)
        cmd_migrate(settings)  # the web seats are read from the database
        cmd_render(settings, reload=args.reload)
        return 0
    if args.command == "db":
        cmd_migrate(settings)
        return 0
    if args.command == "asterisk":
        return cmd_asterisk(settings, " ".join(args.cli_command))
    if args.command == "call":
        return cmd_call(settings, args)
    if args.command == "user":
        return cmd_user_add(settings, args)
    if args.command == "recordings":
        return cmd_recordings_verify(settings, args.days)
    if args.command == "cases":
        return cases_cli.run(settings, args, say)
    if args.command == "component":
        return cmd_component(settings, args.name)
    return 2


if __name__ == "__main__":
    sys.exit(main())
