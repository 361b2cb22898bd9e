"""HTML pages: the login page and the administrators' user page (plain forms, no script needed).

Forms are posted URL-encoded and read with the standard library (python-multipart is not a
dependency). Every change answers with a redirect (post/redirect/get), so reloading never repeats it.
The one exception is each user's skills editor: a small script saves it through
``POST /api/users/{id}/skills``, so the seats are regenerated exactly as for any API client.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agents_ui.accounts import service, sessions
from agents_ui.accounts.api import clear_session_cookie, set_session_cookie
from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import (
    CALL_READERS,
    USER_ADMINS,
    CurrentUser,
    client_ip,
    optional_user,
    require_page,
    safe_next,
)
from agents_ui.accounts.seats import QUEUE_ROLES
from agents_ui.api_types import RowId
from agents_ui.deps import DbSession, get_settings, templates
from agents_ui.i18n import pick_language, translator
from hotline.settings import Settings

router = APIRouter(include_in_schema=False)

AdminPage = Annotated[CurrentUser, Depends(require_page(*USER_ADMINS))]
MAX_FORM_BYTES = 16 * 1024


async def form_fields(request: Request) -> dict[str, list[str]]:
    """The posted form; read in an async dependency so the route itself can run in the thread pool."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


Form = Annotated[dict[str, list[str]], Depends(form_fields)]


def one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


def language_of(request: Request, settings: Settings, form: dict[str, list[str]] | None = None) -> str:
    asked = request.query_params.get("lang") or (one(form, "lang") if form else None)
    return pick_language(asked, settings.site.language)


def render_login(
    request: Request, settings: Settings, *, lang: str, next_url: str, error: str = "", code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "login.html",
        {"t": translator(lang), "lang": lang, "site": settings.site.name, "next": next_url, "error": error},
        status_code=code,
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser | None, Depends(optional_user)],
    next: str = "/",
    lang: str | None = None,
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    return render_login(
        request, settings, lang=pick_language(lang, settings.site.language), next_url=safe_next(next)
    )


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request, form: Form, session: DbSession, settings: Annotated[Settings, Depends(get_settings)]
) -> Response:
    lang = language_of(request, settings, form)
    next_url = safe_next(one(form, "next"))
    result = service.login(
        session, username=one(form, "username"), password=one(form, "password"), source_ip=client_ip(request)
    )
    if isinstance(result, service.LoginRefused):
        t = translator(lang)
        if result.retry_after:
            error = t["login_locked"].format(seconds=result.retry_after)
            return render_login(request, settings, lang=lang, next_url=next_url, error=error, code=429)
        return render_login(
            request, settings, lang=lang, next_url=next_url, error=t["login_failed"], code=401
        )
    if next_url == "/":
        next_url = home_of(result.user.role_set)
    response = RedirectResponse(next_url, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, request, result.token)
    return response


def home_of(roles: frozenset[Role]) -> str:
    """Where a login with nowhere asked for lands: the call list (``/``) is for those who read
    calls; a duty leader's place is the console, department staff's their portal."""
    if roles & set(CALL_READERS):
        return "/"
    if Role.DUTY_LEADER in roles:
        return "/agent"
    if Role.DEPARTMENT_STAFF in roles:
        return "/department"
    return "/"


@router.post("/logout")
def logout_submit(
    request: Request, session: DbSession, user: Annotated[CurrentUser | None, Depends(optional_user)]
) -> Response:
    if user is not None:
        live = sessions.LiveSession(user.login, service.get_user(session, user.id))
        service.logout(session, live, source_ip=client_ip(request))
    lang = request.query_params.get("lang")
    response = RedirectResponse("/login" + (f"?lang={lang}" if lang else ""), status_code=303)
    clear_session_cookie(response, request)
    return response


def back_to_users(lang: str, **query: str) -> RedirectResponse:
    return RedirectResponse(
        "/users?" + urlencode({"lang": lang, **query}), status_code=status.HTTP_303_SEE_OTHER
    )


def team_choice(form: dict[str, list[str]]) -> tuple[bool, int | None]:
    """(given, team id) from a form's team selector: "" is no team; the field absent, no change."""
    if "team_id" not in form:
        return False, None
    value = one(form, "team_id").strip()
    if not value:
        return True, None
    if not value.isdigit():
        raise service.AccountError("team_unknown", "no such team")
    return True, int(value)


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
    lang: str | None = None,
    done: str = "",
    error: str = "",
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    t = translator(language)
    users = service.list_users(session)
    return templates.TemplateResponse(
        request,
        "users.html",
        {
            "t": t,
            "lang": language,
            "site": settings.site.name,
            "me": admin,
            "users": users,
            "roles": [r.value for r in Role],
            "teams": service.list_teams(session),
            "team_sizes": service.team_sizes(session),
            "skills": service.skills_of(session, [u.id for u in users]),
            "queues": settings.queues,
            "main_queue": settings.ivr.main_queue,
            "answers_queues": lambda u: bool(u.role_set & QUEUE_ROLES),
            "done": t.get(f"done_{done}", ""),
            "error": t.get(f"err_{error}", ""),
            "local": lambda dt: dt.astimezone(settings.site.zone).strftime("%Y-%m-%d %H:%M"),
        },
    )


def _actor(admin: CurrentUser, request: Request) -> service.Actor:
    return service.Actor(username=admin.username, source_ip=client_ip(request), user_id=admin.id)


@router.post("/users")
def create_user_submit(
    request: Request,
    form: Form,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    lang = language_of(request, settings, form)
    try:
        service.create_user(
            session,
            username=one(form, "username"),
            password=one(form, "password"),
            roles=form.get("roles", []),
            display_name=one(form, "display_name"),
            extension=one(form, "extension") or None,
            team_id=team_choice(form)[1],
            actor=_actor(admin, request),
        )
    except service.AccountError as exc:
        return back_to_users(lang, error=exc.code)
    return back_to_users(lang, done="created")


@router.post("/users/{user_id}")
def edit_user_submit(
    user_id: RowId,
    request: Request,
    form: Form,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    lang = language_of(request, settings, form)
    try:
        team_given, team_id = team_choice(form)
        service.update_user(
            session,
            user_id=user_id,
            actor=_actor(admin, request),
            roles=form.get("roles", []),
            display_name=one(form, "display_name"),
            extension=one(form, "extension") or None,
            clear_extension=not one(form, "extension"),
            team_id=team_id,
            clear_team=team_given and team_id is None,
        )
    except service.AccountError as exc:
        return back_to_users(lang, error=exc.code)
    return back_to_users(lang, done="saved")


@router.post("/users/{user_id}/active")
def set_active_submit(
    user_id: RowId,
    request: Request,
    form: Form,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    lang = language_of(request, settings, form)
    active = one(form, "active") == "1"
    try:
        service.update_user(session, user_id=user_id, actor=_actor(admin, request), active=active)
    except service.AccountError as exc:
        return back_to_users(lang, error=exc.code)
    return back_to_users(lang, done="enabled" if active else "disabled")


@router.post("/users/{user_id}/password")
def reset_password_submit(
    user_id: RowId,
    request: Request,
    form: Form,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    lang = language_of(request, settings, form)
    try:
        service.reset_password(
            session, user_id=user_id, new_password=one(form, "password"), actor=_actor(admin, request)
        )
    except service.AccountError as exc:
        return back_to_users(lang, error=exc.code)
    return back_to_users(lang, done="password")


@router.post("/teams")
def create_team_submit(
    request: Request,
    form: Form,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    lang = language_of(request, settings, form)
    try:
        service.create_team(
            session,
            name=one(form, "name"),
            display_name=one(form, "display_name"),
            actor=_actor(admin, request),
        )
    except service.AccountError as exc:
        return back_to_users(lang, error=exc.code)
    return back_to_users(lang, done="team_created")


@router.post("/teams/{team_id}")
def rename_team_submit(
    team_id: RowId,
    request: Request,
    form: Form,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    lang = language_of(request, settings, form)
    try:
        service.rename_team(
            session,
            team_id=team_id,
            actor=_actor(admin, request),
            name=one(form, "name") if "name" in form else None,
            display_name=one(form, "display_name") if "display_name" in form else None,
        )
    except service.AccountError as exc:
        return back_to_users(lang, error=exc.code)
    return back_to_users(lang, done="team_saved")


@router.post("/teams/{team_id}/delete")
def delete_team_submit(
    team_id: RowId,
    request: Request,
    form: Form,
    admin: AdminPage,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    lang = language_of(request, settings, form)
    try:
        service.delete_team(session, team_id=team_id, actor=_actor(admin, request))
    except service.AccountError as exc:
        return back_to_users(lang, error=exc.code)
    return back_to_users(lang, done="team_deleted")
