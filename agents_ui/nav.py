"""The pages' header links: every page the user may open, and no other.

Who may open a page is read from the page route's own ``require_page`` dependency, so a link can
never lead to a 403 and no second list of roles can drift from the routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request

from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CurrentUser

# (path, the word key of its label), in the order the header shows them.
PAGES = (
    ("/agent", "cs_nav_console"),
    ("/cases", "cs_nav_cases"),
    ("/department", "cs_nav_department"),
    ("/recordings", "r_title"),
    ("/calls", "recent_calls"),
    ("/wallboard", "w_title"),
    ("/users", "users_title"),
    ("/admin/catalogue", "cat_nav"),
    ("/admin/outbox", "o_title"),
)
_CACHE = "hotline_page_roles"


def _roles_of(route: APIRoute) -> frozenset[Role]:
    found: set[Role] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        found.update(getattr(dependant.call, "allowed_roles", ()))
        stack.extend(dependant.dependencies)
    return frozenset(found)


def page_roles(app: FastAPI) -> dict[str, frozenset[Role]]:
    """Each header page's roles, read once from the app's routes."""
    cached: dict[str, frozenset[Role]] | None = getattr(app.state, _CACHE, None)
    if cached is None:
        wanted = {path for path, _ in PAGES}
        # Included routers are nested in FastAPI's route list: walk them flattened.
        cached = {}
        for context in iter_route_contexts(app.routes):
            route, path = context.original_route, str(context.path)
            if isinstance(route, APIRoute) and path in wanted and "GET" in (route.methods or ()):
                cached[path] = _roles_of(route)
        setattr(app.state, _CACHE, cached)
    return cached


# Pages that let a role in only to send it elsewhere: no link for those who hold nothing else.
PASSING_THROUGH = {"/cases": frozenset({Role.DEPARTMENT_STAFF})}


def nav_links(request: Request, user: CurrentUser, t: dict[str, str], lang: str) -> list[dict[str, Any]]:
    roles = page_roles(request.app)
    here = request.url.path
    return [
        {"href": f"{path}?lang={lang}", "label": t[key], "path": path, "current": path == here}
        for path, key in PAGES
        if path in roles and user.has_any(tuple(roles[path] - PASSING_THROUGH.get(path, frozenset())))
    ]
