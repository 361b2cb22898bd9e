"""What a running flow may know about the site, gathered from settings once.

The engine reads nothing global: prompts, queues, the calendar and the clock all come in here,
so a test can run a flow at 03:00 on a holiday by passing a different ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from asterisk_conf.layout import InstanceLayout
from hotline.settings import BusinessHoursSettings, Settings
from ivr_flows.ports import CaseLookup
from ivr_flows.prompts import PromptLibrary
from ivr_flows.steps import StepRegistry, default_registry

# Far above any real flow (the default walks 3-6 steps); reaching it means a loop the load-time
# checks could not see, e.g. a caller pressing "repeat" for ever.
MAX_STEPS_PER_CALL = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FlowContext:
    prompt_path: Callable[[str, str], str]  # (prompt name, language) -> path without extension
    main_queue: str
    queues: frozenset[str]  # configured queue names; a queue step outside them falls back
    business_hours: BusinessHoursSettings
    zone: tzinfo
    language: str
    voicemail_dir: Path
    features: frozenset[str] = frozenset()
    now: Callable[[], datetime] = utc_now  # must return an aware datetime
    registry: StepRegistry = default_registry
    max_steps: int = MAX_STEPS_PER_CALL
    cases: CaseLookup | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        layout: InstanceLayout | None = None,
        prompts: PromptLibrary | None = None,
        now: Callable[[], datetime] = utc_now,
        registry: StepRegistry = default_registry,
        language: str | None = None,
        cases: CaseLookup | None = None,
    ) -> FlowContext:
        """The context for calls on this site; ``language`` overrides site.language per call."""
        layout = layout or InstanceLayout.for_settings(settings)
        prompts = prompts or PromptLibrary(settings, layout)
        return cls(
            prompt_path=prompts.path,
            main_queue=settings.ivr.main_queue,
            queues=frozenset(q.name for q in settings.queues),
            business_hours=settings.business_hours,
            zone=settings.site.zone,
            language=language or settings.site.language,
            voicemail_dir=layout.voicemail,
            features=frozenset(settings.ivr.features),
            now=now,
            registry=registry,
            cases=cases,
        )
