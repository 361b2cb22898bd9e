"""JSON API: log in and out, who am I, and user administration (administrators only).

Refusals that must leave a trace (a failed login, a refused change) are returned, not raised: a
raised error rolls the request's transaction back, and the audit row and back-off count with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from agents_ui.accounts import audit, service, sessions
from agents_ui.accounts.models import Role, Team, User
from agents_ui.accounts.permissions import (
    COOKIE,
    EVERY_ROLE,
    USER_ADMINS,
    CurrentUser,
    client_ip,
    require,
)
from agents_ui.api_types import (
    Extension,
    NewPassword,
    Offset,
    Penalty,
    QueueName,
    RowId,
    RowRef,
    TeamName,
    Username,
)
from agents_ui.deps import DbSession
from hotline.settings import Settings

router = APIRouter(tags=["accounts"])

Admin = Annotated[CurrentUser, Depends(require(*USER_ADMINS))]
AnyUser = Annotated[CurrentUser, Depends(require(*EVERY_ROLE))]


class Problem(BaseModel):
    detail: str


class LoginIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    roles: list[Role]
    extension: str | None
    team_id: int | None = Field(description="The user's team (班组); null: in no team")
    active: bool
    created_at: datetime
    password_changed_at: datetime


class UserCreate(BaseModel):
    username: Username
    display_name: str = Field("", max_length=128)
    password: NewPassword
    roles: list[Role] = Field(min_length=1)
    extension: Extension | None = Field(None, description="The agent's seat extension")
    team_id: RowRef | None = Field(None, description="The user's team (班组); an unknown id is refused (400)")


class UserChange(BaseModel):
    """Only the fields given are changed; ``extension: null`` removes the extension, ``team_id:
    null`` takes the user out of their team."""

    display_name: str | None = Field(None, max_length=128)
    roles: list[Role] | None = Field(None, min_length=1)
    extension: Extension | None = None
    team_id: RowRef | None = Field(None, description="Move the user to this team; null: out of any team")
    active: bool | None = None


class PasswordReset(BaseModel):
    password: NewPassword


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    target: str
    source_ip: str
    outcome: str
    detail: str


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=sorted(user.role_set),
        extension=user.extension,
        team_id=user.team_id,
        active=user.active,
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
    )


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(sessions.ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        httponly=True,  # page scripts never need the token, so an injected script cannot read it
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def refused_login(result: service.LoginRefused) -> JSONResponse:
    if result.retry_after:
        return JSONResponse(
            {"detail": "too many failed logins; try again later"},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(result.retry_after)},
        )
    return JSONResponse({"detail": "wrong username or password"}, status_code=status.HTTP_401_UNAUTHORIZED)


def actor_of(user: CurrentUser, request: Request) -> service.Actor:
    return service.Actor(username=user.username, source_ip=client_ip(request), user_id=user.id)


def account_error(exc: service.AccountError) -> JSONResponse:
    code = status.HTTP_400_BAD_REQUEST
    if isinstance(exc, service.UserNotFound | service.TeamNotFound):
        code = status.HTTP_404_NOT_FOUND
    elif isinstance(exc, service.TeamNotEmpty):
        code = status.HTTP_409_CONFLICT
    return JSONResponse({"detail": str(exc)}, status_code=code)


@router.post(
    "/api/session",
    response_model=UserOut,
    summary="Log in: sets the HttpOnly session cookie",
    responses={
        401: {"model": Problem, "description": "Wrong username or password (never says which)"},
        429: {"model": Problem, "description": "Locked after repeated failures; see Retry-After"},
    },
)
def log_in(body: LoginIn, request: Request, response: Response, session: DbSession) -> UserOut | JSONResponse:
    result = service.login(
        session, username=body.username, password=body.password, source_ip=client_ip(request)
    )
    if isinstance(result, service.LoginRefused):
        return refused_login(result)
    set_session_cookie(response, request, result.token)
    return user_out(result.user)


@router.delete(
    "/api/session",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: ends the session on the server and clears the cookie",
    responses={401: {"model": Problem}},
)
def log_out(request: Request, user: AnyUser, session: DbSession) -> Response:
    service.logout(
        session,
        sessions.LiveSession(user.login, service.get_user(session, user.id)),
        source_ip=client_ip(request),
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, request)
    return response


@router.get(
    "/api/me", response_model=UserOut, summary="The logged-in user", responses={401: {"model": Problem}}
)
def me(user: AnyUser, session: DbSession) -> UserOut:
    return user_out(service.get_user(session, user.id))


ADMIN_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "Refused by the account rules"},
    401: {"model": Problem, "description": "Not logged in"},
    403: {"model": Problem, "description": "Not an administrator"},
}


@router.get("/api/users", response_model=list[UserOut], summary="Every user", responses=ADMIN_ERRORS)
def users(admin: Admin, session: DbSession) -> list[UserOut]:
    return [user_out(u) for u in service.list_users(session)]


@router.post(
    "/api/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    responses=ADMIN_ERRORS,
)
def create(
    body: UserCreate, request: Request, admin: Admin, session: DbSession, background: BackgroundTasks
) -> UserOut | JSONResponse:
    try:
        user = service.create_user(
            session,
            username=body.username,
            password=body.password,
            roles=body.roles,
            display_name=body.display_name,
            extension=body.extension,
            team_id=body.team_id,
            actor=actor_of(admin, request),
        )
    except service.AccountError as exc:
        return account_error(exc)
    seats_changed(request, background)
    return user_out(user)


@router.patch(
    "/api/users/{user_id}",
    response_model=UserOut,
    summary=(
        "Change a user's roles, name, extension or team, or enable/disable them "
        "(disabling ends their sessions)"
    ),
    responses={**ADMIN_ERRORS, 404: {"model": Problem}},
)
def change(
    user_id: RowId,
    body: UserChange,
    request: Request,
    admin: Admin,
    session: DbSession,
    background: BackgroundTasks,
) -> UserOut | JSONResponse:
    given = body.model_fields_set
    try:
        user = service.update_user(
            session,
            user_id=user_id,
            actor=actor_of(admin, request),
            roles=body.roles,
            active=body.active,
            display_name=body.display_name,
            extension=body.extension,
            clear_extension="extension" in given and body.extension is None,
            team_id=body.team_id,
            clear_team="team_id" in given and body.team_id is None,
        )
    except service.AccountError as exc:
        return account_error(exc)
    seats_changed(request, background)
    return user_out(user)


class Skills(BaseModel):
    skills: dict[QueueName, Penalty] = Field(
        description="queue -> penalty (0 is rung first); {} means the main queue"
    )


@router.post(
    "/api/users/{user_id}/skills",
    response_model=Skills,
    summary="Set the queues an agent answers and their penalties (applies at the agent's next login)",
    responses={**ADMIN_ERRORS, 404: {"model": Problem}},
)
def set_skills(
    user_id: RowId,
    body: Skills,
    request: Request,
    admin: Admin,
    session: DbSession,
    background: BackgroundTasks,
) -> Skills | JSONResponse:
    settings: Settings = request.app.state.settings
    unknown = sorted(set(body.skills) - {q.name for q in settings.queues})
    if unknown:
        return JSONResponse({"detail": f"unknown queues {unknown}"}, status_code=status.HTTP_400_BAD_REQUEST)
    try:
        service.set_skills(session, user_id=user_id, skills=body.skills, actor=actor_of(admin, request))
    except service.AccountError as exc:
        return account_error(exc)
    seats_changed(request, background)
    return Skills(skills=service.skills_of(session, [user_id]).get(user_id, {}))


# ----- teams (班组) -------------------------------------------------------------------------------


class TeamOut(BaseModel):
    id: int
    name: str
    display_name: str = Field(description="Shown instead of the name when not empty")
    members: int = Field(description="Users in the team, enabled or not")


class TeamCreate(BaseModel):
    name: TeamName
    display_name: str = Field("", max_length=128)


class TeamChange(BaseModel):
    """Only the fields given are changed."""

    name: TeamName | None = None
    display_name: str | None = Field(None, max_length=128)


def team_out(session: Session, team: Team) -> TeamOut:
    return TeamOut(
        id=team.id,
        name=team.name,
        display_name=team.display_name,
        members=service.team_sizes(session).get(team.id, 0),
    )


@router.get("/api/teams", response_model=list[TeamOut], summary="Every team (班组)", responses=ADMIN_ERRORS)
def teams(admin: Admin, session: DbSession) -> list[TeamOut]:
    sizes = service.team_sizes(session)
    return [
        TeamOut(id=t.id, name=t.name, display_name=t.display_name, members=sizes.get(t.id, 0))
        for t in service.list_teams(session)
    ]


@router.post(
    "/api/teams",
    response_model=TeamOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a team",
    responses=ADMIN_ERRORS,
)
def create_team(
    body: TeamCreate, request: Request, admin: Admin, session: DbSession
) -> TeamOut | JSONResponse:
    try:
        team = service.create_team(
            session, name=body.name, display_name=body.display_name, actor=actor_of(admin, request)
        )
    except service.AccountError as exc:
        return account_error(exc)
    return team_out(session, team)


@router.patch(
    "/api/teams/{team_id}",
    response_model=TeamOut,
    summary="Rename a team, or change its display name",
    responses={**ADMIN_ERRORS, 404: {"model": Problem, "description": "No such team"}},
)
def change_team(
    team_id: RowId, body: TeamChange, request: Request, admin: Admin, session: DbSession
) -> TeamOut | JSONResponse:
    try:
        team = service.rename_team(
            session,
            team_id=team_id,
            actor=actor_of(admin, request),
            name=body.name,
            display_name=body.display_name,
        )
    except service.AccountError as exc:
        return account_error(exc)
    return team_out(session, team)


@router.delete(
    "/api/teams/{team_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an empty team",
    responses={
        401: ADMIN_ERRORS[401],
        403: ADMIN_ERRORS[403],
        404: {"model": Problem, "description": "No such team"},
        409: {"model": Problem, "description": "The team still has members: move them first"},
    },
)
def delete_team(team_id: RowId, request: Request, admin: Admin, session: DbSession) -> Response:
    try:
        service.delete_team(session, team_id=team_id, actor=actor_of(admin, request))
    except service.AccountError as exc:
        return account_error(exc)  # returned, not raised: the refusal's audit row is kept
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def seats_changed(request: Request, background: BackgroundTasks) -> None:
    """After the response (so after the commit), tell the seat service to regenerate the web seats."""
    background.add_task(request.app.state.seat_link.notify_agents_changed)


@router.post(
    "/api/users/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password (ends the user's sessions)",
    responses={**ADMIN_ERRORS, 404: {"model": Problem}},
)
def reset_password(
    user_id: RowId, body: PasswordReset, request: Request, admin: Admin, session: DbSession
) -> Response:
    try:
        service.reset_password(
            session, user_id=user_id, new_password=body.password, actor=actor_of(admin, request)
        )
    except service.AccountError as exc:
        return account_error(exc)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/audit", response_model=list[AuditOut], summary="The audit log, newest first", responses=ADMIN_ERRORS
)
def audit_log(
    admin: Admin,
    session: DbSession,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditOut]:
    return [
        AuditOut.model_validate(e, from_attributes=True)
        for e in audit.recent(session, limit=limit, offset=offset)
    ]
