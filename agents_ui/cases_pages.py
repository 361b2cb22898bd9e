"""The case pages: the hotline's case list, one case's page, and the department portal.

Like the recordings pages they are frames: what they show comes from the cases API in the
browser, so the API's rules (who may see which case, masking, which actions the user may take
now) are the only rules, and a refusal reads on the page in the API's own words. The routes here
only choose who may open which frame and hand the page its words and its zone; the header's
links are every page's own (agents_ui.nav, _nav_links.html).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CALL_READERS, EVERY_ROLE, CurrentUser, require_page
from agents_ui.deps import DbSession, get_settings, templates
from agents_ui.i18n import pick_language, translator
from case_bridge.departments import departments_of
from case_bridge.schemas import CASE_NUMBER
from hotline.settings import Settings

router = APIRouter()

# The hotline's own staff, who work the whole case list; department staff work their portal.
HOTLINE_STAFF = (Role.AGENT, Role.DUTY_LEADER, Role.SUPERVISOR, Role.ADMINISTRATOR)
DEPARTMENT = (Role.DEPARTMENT_STAFF,)
# A case number as the API takes it (local date + the day's count): another shape is no case.
CaseNumber = Annotated[str, Path(pattern=CASE_NUMBER)]


def _page(
    request: Request,
    settings: Settings,
    user: CurrentUser,
    lang: str | None,
    template: str,
    **extra: Any,
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
            # The scripts' words: only the case pages' own, so a page carries no more than it needs.
            "words": {k: v for k, v in t.items() if k.startswith("cs_")},
            "page_info": {
                "lang": language,
                "zone": settings.site.timezone,
                "me": user.username,
                "hotline": user.has_any(HOTLINE_STAFF),
                "department": user.has_any(DEPARTMENT),
                "hears_calls": user.has_any(CALL_READERS),
            },
            **extra,
        },
    )


@router.get("/cases", response_class=HTMLResponse, include_in_schema=False)
def cases_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*EVERY_ROLE))],
    lang: str | None = None,
) -> Response:
    if not user.has_any(HOTLINE_STAFF):
        # Department staff work from their portal; the list of every case is not theirs.
        return RedirectResponse(f"/department?lang={pick_language(lang, settings.site.language)}", 303)
    return _page(request, settings, user, lang, "cases.html")


@router.get("/cases/{number}", response_class=HTMLResponse, include_in_schema=False)
def case_page(
    number: CaseNumber,
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*EVERY_ROLE))],
    lang: str | None = None,
) -> HTMLResponse:
    # Everyone may open the frame; the API says whether this user may see this case.
    back = "/cases" if user.has_any(HOTLINE_STAFF) else "/department"
    return _page(request, settings, user, lang, "case.html", number=number, back=back)


@router.get("/department", response_class=HTMLResponse, include_in_schema=False)
def department_page(
    request: Request,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*DEPARTMENT))],
    lang: str | None = None,
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    mine = [
        {"code": d.code, "name": (d.name_en or d.name) if language == "en" else d.name}
        for d in departments_of(session, user.id)
    ]
    return _page(request, settings, user, lang, "department.html", departments=mine)
