"""The recordings pages: the search, and one call's page (waveform, transcript, player).

Both are frames: what they show comes from the recordings API in the browser, so the API's
rules (who may see which call, masking, audited refusals) are the only rules, and a person whose
role or team does not allow a call reads the API's own refusal on the page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import USER_ADMINS, CurrentUser, require_page
from agents_ui.api_types import RowId
from agents_ui.deps import get_settings, templates
from agents_ui.i18n import pick_language, translator
from agents_ui.recordings_access import HEARERS
from hotline.settings import Settings
from telephony.models import Disposition

router = APIRouter()

# Words of the main table the scripts also need (disposition names, column headings).
SHARED_WORDS = (
    "started",
    "caller",
    "agent",
    "queue",
    "duration",
    "disposition",
    *(d.value for d in Disposition),
)


def _page(
    request: Request, settings: Settings, user: CurrentUser, lang: str | None, template: str, **extra: Any
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    t = translator(language)
    return templates.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "lang": language,
            "site": settings.site.name,
            "zone": settings.site.timezone,
            "me": user,
            "is_admin": user.has_any(USER_ADMINS),
            "is_supervisor": user.has_any((Role.SUPERVISOR,)),
            "words": {k: v for k, v in t.items() if k.startswith("r_") or k in SHARED_WORDS},
            **extra,
        },
    )


@router.get("/recordings", response_class=HTMLResponse, include_in_schema=False)
def recordings_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*HEARERS))],
    lang: str | None = None,
) -> HTMLResponse:
    return _page(
        request,
        settings,
        user,
        lang,
        "recordings.html",
        queues=[(q.name, q.title or q.name) for q in settings.queues],
        dispositions=[d.value for d in Disposition if d != Disposition.IN_PROGRESS],
    )


@router.get("/recordings/{recording_id}", response_class=HTMLResponse, include_in_schema=False)
def call_recording_page(
    recording_id: RowId,
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*HEARERS))],
    lang: str | None = None,
) -> HTMLResponse:
    return _page(request, settings, user, lang, "call_recording.html", recording_id=recording_id)
