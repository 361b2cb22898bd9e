"""The administrators' case-catalogue page, ``/admin/catalogue``.

A frame like the outbox page: what it shows and every change it makes go through the
``/api/admin/...`` routes of catalogue_api in the browser, so the page and any other API client
meet the same rules, the same refusals and the same audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CurrentUser, require_page
from agents_ui.deps import get_settings, templates
from agents_ui.i18n import pick_language, translator
from hotline.settings import Settings

router = APIRouter()


@router.get("/admin/catalogue", response_class=HTMLResponse, include_in_schema=False)
def catalogue_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(Role.ADMINISTRATOR))],
    lang: str | None = None,
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    t = translator(language)
    return templates.TemplateResponse(
        request,
        "catalogue.html",
        {
            "t": t,
            "lang": language,
            "site": settings.site.name,
            "me": user,
            # The script's words: the page's own only.
            "words": {key: value for key, value in t.items() if key.startswith("cat_")},
        },
    )
