"""queues.conf: one queue per settings.queues, fixed seats as static members.

Waiting policy: ``joinempty=yes`` and ``leavewhenempty=no`` (in app_queue's inverted wording both
mean "no member condition applies"), so a caller joins and keeps waiting while every agent is
paused, in wrap-up, unreachable or not yet logged in. A 7x24 hotline must not drop a citizen
because agents are between calls; ``max_wait`` (Queue()'s timeout) is the only bound, and a queue
with no members at all holds callers until it.
"""

from __future__ import annotations

from asterisk_conf.ini import ConfigError, ConfigFile
from hotline.settings import Settings

MUSIC_CLASS = "default"
WRAPUP_GUARD = 3  # seconds


def render(settings: Settings) -> ConfigFile:
    conf = ConfigFile("queues.conf")
    general = conf.section("general")
    # Dynamic members (web agents added over AMI) survive an Asterisk restart.
    general.set("persistentmembers", True)
    general.set("autofill", True)
    # An agent in several queues gets wrap-up time after a call from any of them.
    general.set("shared_lastcall", True)
    general.set("log_membername_as_agent", True)

    for index, queue in enumerate(settings.queues):
        source = f"queues[{index}]"
        if queue.name == "general":
            raise ConfigError(f"{source}.name: 'general' is queues.conf's own section; choose another name")
        # Titles are free text (often Chinese); they only ever appear as this comment.
        titles = [queue.title] if queue.title else []
        section = conf.section(queue.name, *titles, source=f"{source}.title")
        section.set("strategy", queue.strategy)
        section.set("timeout", queue.timeout, source=f"{source}.timeout")
        section.set("retry", queue.retry, source=f"{source}.retry")
        # Wrap-up proper is the seat service's own pause (telephony.agent_state); app_queue's timer
        # only covers the moment between a call's end and that pause reaching Asterisk, so an
        # agent who finishes early is not kept out of the queue by a timer nobody can see.
        guard = 0 if queue.wrapup_time == 0 and not queue.wrapup_until_done else WRAPUP_GUARD
        section.set("wrapuptime", guard, source=f"{source}.wrapup_time")
        section.set("servicelevel", queue.service_level, source=f"{source}.service_level")
        section.set("maxlen", queue.max_callers, source=f"{source}.max_callers")
        section.set("joinempty", True)
        section.set("leavewhenempty", False)
        # A seat already on a call is never rung for a second one.
        section.set("ringinuse", False)
        section.set("autopause", False)
        section.set("musicclass", MUSIC_CLASS)
        # Debian ships English sounds only; position/hold-time announcements would greet Chinese
        # callers in English, so they stay off until prompts exist.
        section.set("announce-frequency", 0)
        section.set("announce-holdtime", False)
        section.set("announce-position", False)
        section.set("periodic-announce-frequency", 0)
        section.set("reportholdtime", False)
        section.set("setinterfacevar", True)
        for seat in settings.seats:
            if queue.name in seat.queues:
                section.set(
                    "member",
                    f"PJSIP/{seat.endpoint},{seat.penalty},{seat.extension}",
                    arrow=True,
                )
    return conf


def render_rules() -> ConfigFile:
    conf = ConfigFile("queuerules.conf")
    conf.header = ["No penalty rules: members are reached by their fixed penalty only."]
    return conf
