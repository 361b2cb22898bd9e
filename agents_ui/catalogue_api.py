"""The case catalogue for administrators: departments, the category tree, routing rules, which
department-staff users serve which department, and the routing tester. The page
``/admin/catalogue`` (catalogue_pages) is a frame over these routes.

The rules live in case_bridge.catalogue_admin; this module checks the role, reads the user the
service may not know about (only department staff may join a department), answers each refusal
with its documented status, and puts every change — and every refused change — on the audit log.
Refusals are returned, not raised: a raised error would roll the audit row back with the request.
Each change runs in a savepoint, so a refusal after a first step (a PATCH that moves a category and
then fails on its name) undoes that step too, while the audit row of the refusal is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts import audit
from agents_ui.accounts.models import Role, User
from agents_ui.accounts.permissions import CurrentUser, client_ip, require
from agents_ui.api_types import LOGIN_PROBLEMS, Problem, RowId
from agents_ui.catalogue_pages import router as page_router
from agents_ui.deps import DbSession
from case_bridge import catalogue_admin as admin_rules
from case_bridge.catalogue_admin import CatalogueRefusal, CategoryChange, Conflict, NotFound
from case_bridge.models import Category, Department, RoutingRule

router = APIRouter(tags=["catalogue"])
# The page travels with its API: the app includes one router for both.
router.include_router(page_router)

Administrator = Annotated[CurrentUser, Depends(require(Role.ADMINISTRATOR))]
T = TypeVar("T")

# ----- field types: the service's rules, stated where the OpenAPI document shows them --------------

CODE_PATTERN = admin_rules.CODE.pattern
# No C0 control characters or DEL; the service refuses them too (PostgreSQL refuses a NUL outright).
NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
# At least one visible character among no controls (a name of spaces is no name).
VISIBLE = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
# Several lines allowed: tab, line feed and carriage return are the only controls.
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Code = Annotated[
    str,
    Field(
        pattern=CODE_PATTERN,
        description="A lower-case letter, then lower-case letters, digits or _ (at most 40)",
        examples=["street_light"],
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=admin_rules.NAME_MAX, pattern=VISIBLE)]
EnglishName = Annotated[str, Field(max_length=admin_rules.NAME_MAX, pattern=NO_CONTROLS)]
SmsNumber = Annotated[
    str, Field(pattern=r"^(\+?[0-9]{3,20})?$", description="Where dispatch notices are texted; empty: none")
]
Email = Annotated[
    str,
    Field(
        max_length=128,
        pattern=r"^([^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,63})?$",
        description="Where dispatch notices are e-mailed; empty: none",
    ),
]
Kind = Literal["event", "component", "service"]
LimitDays = Annotated[
    int,
    Field(
        ge=admin_rules.LIMIT_DAYS[0],
        le=admin_rules.LIMIT_DAYS[1],
        description="Working days to complete a case of this category",
    ),
]
UrgentHours = Annotated[
    int,
    Field(
        ge=admin_rules.URGENT_HOURS[0],
        le=admin_rules.URGENT_HOURS[1],
        description="Clock hours to complete an urgent case of this category",
    ),
]
Position = Annotated[int, Field(ge=0, le=1_000_000, description="Order among siblings (lower first)")]


# ----- answers -----------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description='Where: e.g. ["body", "limit_days"]')
    msg: str
    type: str


class FieldProblems(BaseModel):
    """FastAPI's own validation answer, also used for values only the catalogue can judge (a
    parent that does not exist, an inactive department): clients read one format."""

    detail: list[FieldProblem]


INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": FieldProblems, "description": "A field is refused; `loc` names it"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such row"}}


def conflict(why: str) -> dict[int | str, dict[str, Any]]:
    return {409: {"model": Problem, "description": why}}


class DepartmentOut(BaseModel):
    id: int
    code: str
    name: str
    name_en: str
    sms_number: str
    email: str
    active: bool = Field(description="Inactive: no new case is sent to it; its old cases stay")
    cases: int = Field(description="Cases with the department now")
    members: int = Field(description="Department-staff users serving it")
    routing_rules: int = Field(description="Routing rules sending cases to it")
    categories: int = Field(description="Categories naming it as their default department")


class DepartmentCreate(BaseModel):
    code: Code
    name: Name
    name_en: EnglishName = ""
    sms_number: SmsNumber = ""
    email: Email = ""


class DepartmentChange(BaseModel):
    """Only the fields given change. The code is fixed once cases were sent to the department;
    deactivating is refused while routing rules or active categories send cases to it."""

    code: Code | None = None
    name: Name | None = None
    name_en: EnglishName | None = None
    sms_number: SmsNumber | None = None
    email: Email | None = None
    active: bool | None = None


class CategoryOut(BaseModel):
    id: int
    code: str = Field(description="Also the Open311 service_code")
    parent: str | None = Field(description="The parent's code; null: at the top of the tree")
    depth: int = Field(description="0 at the top")
    name: str
    name_en: str
    kind: str = Field(description="event, component (GB/T 30428) or service")
    description: str
    keywords: str
    limit_days: int
    urgent_hours: int
    default_department: str | None = Field(description="The default department's code")
    open311: bool = Field(description="Offered as an Open311 service (leaves only)")
    active: bool
    position: int
    cases: int = Field(description="Cases filed under it")
    children: int
    routing_rules: int = Field(description="Routing rules naming it")


class CategoryCreate(BaseModel):
    code: Code
    parent: Code | None = Field(None, description="The parent's code; null: at the top of the tree")
    name: Name
    name_en: EnglishName = ""
    kind: Kind = "service"
    description: str = Field("", max_length=admin_rules.DESCRIPTION_MAX, pattern=LINES)
    keywords: str = Field(
        "",
        max_length=admin_rules.KEYWORDS_MAX,
        pattern=NO_CONTROLS,
        description="Key-phrase categories and words that suggest this category on intake",
    )
    limit_days: LimitDays = 5
    urgent_hours: UrgentHours = 24
    default_department: Code | None = Field(None, description="An active department's code")
    open311: bool = True
    active: bool = True


class CategoryChangeIn(BaseModel):
    """Only the fields given change. ``parent`` (null: to the top) moves the category with its
    branch; ``default_department: null`` removes the default department."""

    code: Code | None = None
    parent: Code | None = None
    position: Position | None = None
    name: Name | None = None
    name_en: EnglishName | None = None
    kind: Kind | None = None
    description: str | None = Field(None, max_length=admin_rules.DESCRIPTION_MAX, pattern=LINES)
    keywords: str | None = Field(None, max_length=admin_rules.KEYWORDS_MAX, pattern=NO_CONTROLS)
    limit_days: LimitDays | None = None
    urgent_hours: UrgentHours | None = None
    default_department: Code | None = None
    open311: bool | None = None
    active: bool | None = None


class RuleOut(BaseModel):
    id: int
    category: str | None = Field(description="The category's code; null: any category")
    street: str = Field(description="Matches a case's street exactly; empty: any street")
    grid_prefix: str = Field(description="Matches unit-grid cells starting with it; empty: any cell")
    department: str = Field(description="The department's code")
    note: str


class RuleCreate(BaseModel):
    department: Code = Field(description="An active department's code")
    category: Code | None = Field(None, description="null: any category (then a place is needed)")
    street: str = Field("", max_length=admin_rules.STREET_MAX, description="Control characters are dropped")
    grid_prefix: str = Field(
        "", max_length=admin_rules.GRID_PREFIX_MAX, description="Spaces and control characters are dropped"
    )
    note: str = Field("", max_length=admin_rules.NOTE_MAX, pattern=NO_CONTROLS)


class MemberOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    enabled: bool = Field(description="The account may log in")
    department_staff: bool = Field(description="Holds the department_staff role")
    departments: list[str] = Field(description="Codes of the departments the user serves")


class MembersIn(BaseModel):
    departments: list[Code] = Field(
        max_length=admin_rules.MEMBERSHIPS_MAX, description="Every department the user serves; [] for none"
    )


class DepartmentRef(BaseModel):
    code: str
    name: str
    name_en: str
    active: bool = Field(description="false: filing would stop here (an inactive department takes no case)")


class RoutePreviewOut(BaseModel):
    category: str | None = Field(description="The category asked about")
    street: str = Field(description="The street as a case would hold it")
    grid_cell: str = Field(description="The grid cell as a case would hold it")
    decided_by: Literal["rule", "default", "place", "none"] = Field(
        description=(
            "rule: a routing rule naming the category or an ancestor matched the place; default: "
            "the nearest default department up the tree; place: a rule for any category matched "
            "the place; none: the case would wait for the dispatcher"
        )
    )
    department: DepartmentRef | None
    via_category: str | None = Field(description="The category whose rule or default decided")
    rule: RuleOut | None = Field(description="The rule that decided, for rule and place")
    lineage: list[str] = Field(description="The category and its ancestors, nearest first")


# ----- helpers -----------------------------------------------------------------------------------


def refusal(exc: CatalogueRefusal, where: str = "body") -> JSONResponse:
    if isinstance(exc, NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, Conflict):
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)
    problem = {"loc": [where, exc.field], "msg": exc.reason, "type": "value_error"}
    return JSONResponse({"detail": [problem]}, status_code=422)


def _audit(
    session: Session,
    request: Request,
    admin: CurrentUser,
    action: str,
    target: str,
    detail: str,
    outcome: audit.Outcome = audit.Outcome.OK,
) -> None:
    audit.record(
        session,
        actor=admin.username,
        action=action,
        target=target,
        source_ip=client_ip(request),
        outcome=outcome,
        detail=detail,
    )


def attempt(
    session: Session, request: Request, admin: CurrentUser, action: str, target: str, change: Callable[[], T]
) -> T | JSONResponse:
    """Run a change in a savepoint. A refusal undoes it, is audited (unless the row was not
    found: nothing was attempted on anything) and becomes its documented answer."""
    try:
        with session.begin_nested():
            return change()
    except CatalogueRefusal as exc:
        if not isinstance(exc, NotFound):
            _audit(session, request, admin, action, target, str(exc), audit.Outcome.INVALID)
        return refusal(exc)


def department_out(department: Department, use: admin_rules.DepartmentUse) -> DepartmentOut:
    return DepartmentOut(
        id=department.id,
        code=department.code,
        name=department.name,
        name_en=department.name_en,
        sms_number=department.sms_number,
        email=department.email,
        active=department.active,
        cases=use.cases,
        members=use.members,
        routing_rules=use.routing_rules,
        categories=use.categories,
    )


def one_department(session: Session, department: Department) -> DepartmentOut:
    return department_out(department, admin_rules.department_use(session, department.id))


def department_codes(session: Session) -> dict[int, str]:
    return {row.id: row.code for row in session.execute(select(Department.id, Department.code))}


def category_out(
    category: Category,
    depth: int,
    use: admin_rules.CategoryUse,
    codes: dict[int, str],
    departments: dict[int, str],
) -> CategoryOut:
    return CategoryOut(
        id=category.id,
        code=category.code,
        parent=codes.get(category.parent_id) if category.parent_id is not None else None,
        depth=depth,
        name=category.name,
        name_en=category.name_en,
        kind=category.kind,
        description=category.description,
        keywords=category.keywords,
        limit_days=category.limit_days,
        urgent_hours=category.urgent_hours,
        default_department=(
            departments.get(category.default_department_id)
            if category.default_department_id is not None
            else None
        ),
        open311=category.open311,
        active=category.active,
        position=category.position,
        cases=use.cases,
        children=use.children,
        routing_rules=use.routing_rules,
    )


def categories_out(session: Session) -> list[CategoryOut]:
    tree = admin_rules.category_tree(session)
    uses = admin_rules.category_uses(session)
    codes = {c.id: c.code for c, _ in tree}
    departments = department_codes(session)
    return [category_out(c, depth, uses[c.id], codes, departments) for c, depth in tree]


def one_category(session: Session, category: Category) -> CategoryOut:
    # The tree is small (hundreds of rows): the depth comes from the same walk as the list's.
    return next(c for c in categories_out(session) if c.id == category.id)


def rule_out(rule: RoutingRule, departments: dict[int, str]) -> RuleOut:
    return RuleOut(
        id=rule.id,
        category=rule.category_code or None,
        street=rule.street,
        grid_prefix=rule.grid_prefix,
        department=departments.get(rule.department_id, ""),
        note=rule.note,
    )


def member_out(user: User, departments: list[Department]) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        enabled=user.active,
        department_staff=Role.DEPARTMENT_STAFF in user.role_set,
        departments=[d.code for d in departments],
    )


# ----- departments -------------------------------------------------------------------------------


@router.get(
    "/api/admin/departments",
    response_model=list[DepartmentOut],
    summary="Every department, active or not, with what refers to it (administrators)",
    responses=LOGIN_PROBLEMS,
)
def list_departments(session: DbSession, _admin: Administrator) -> list[DepartmentOut]:
    uses = admin_rules.department_uses(session)
    departments = session.scalars(select(Department).order_by(Department.active.desc(), Department.code))
    return [department_out(d, uses[d.id]) for d in departments]


@router.post(
    "/api/admin/departments",
    response_model=DepartmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a department (administrators; audited)",
    responses={**LOGIN_PROBLEMS, **conflict("The code is taken"), **INVALID},
)
def create_department(
    body: DepartmentCreate, request: Request, session: DbSession, admin: Administrator
) -> DepartmentOut | JSONResponse:
    added = attempt(
        session,
        request,
        admin,
        "department.create",
        f"department:{body.code}",
        lambda: admin_rules.add_department(
            session,
            code=body.code,
            name=body.name,
            name_en=body.name_en,
            sms_number=body.sms_number,
            email=body.email,
        ),
    )
    if isinstance(added, JSONResponse):
        return added
    _audit(session, request, admin, "department.create", f"department:{added.code}", added.name)
    return one_department(session, added)


@router.patch(
    "/api/admin/departments/{department_id}",
    response_model=DepartmentOut,
    summary="Change a department, or (de)activate it (administrators; audited)",
    responses={
        **LOGIN_PROBLEMS,
        **NOT_FOUND,
        **conflict(
            "The code is taken or fixed (cases were sent to the department), or routing rules or "
            "active categories still send cases to a department being deactivated"
        ),
        **INVALID,
    },
)
def change_department(
    department_id: RowId, body: DepartmentChange, request: Request, session: DbSession, admin: Administrator
) -> DepartmentOut | JSONResponse:
    before = session.get(Department, department_id)
    target = f"department:{before.code if before else department_id}"
    changed = attempt(
        session,
        request,
        admin,
        "department.update",
        target,
        lambda: admin_rules.update_department(
            session,
            department_id=department_id,
            code=body.code,
            name=body.name,
            name_en=body.name_en,
            sms_number=body.sms_number,
            email=body.email,
            active=body.active,
        ),
    )
    if isinstance(changed, JSONResponse):
        return changed
    department, changes = changed
    if changes:
        _audit(session, request, admin, "department.update", target, "; ".join(changes))
    return one_department(session, department)


@router.delete(
    "/api/admin/departments/{department_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a department nothing refers to (administrators; audited)",
    responses={
        **LOGIN_PROBLEMS,
        **NOT_FOUND,
        **conflict("Cases were sent to it (deactivate it instead), or categories or routing rules name it"),
    },
)
def delete_department(
    department_id: RowId, request: Request, session: DbSession, admin: Administrator
) -> Response:
    before = session.get(Department, department_id)
    target = f"department:{before.code if before else department_id}"
    gone = attempt(
        session,
        request,
        admin,
        "department.delete",
        target,
        lambda: admin_rules.delete_department(session, department_id=department_id),
    )
    if isinstance(gone, JSONResponse):
        return gone
    _audit(session, request, admin, "department.delete", target, gone.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----- categories --------------------------------------------------------------------------------


@router.get(
    "/api/admin/categories",
    response_model=list[CategoryOut],
    summary="The whole category tree, depth first, active or not (administrators)",
    responses=LOGIN_PROBLEMS,
)
def list_categories(session: DbSession, _admin: Administrator) -> list[CategoryOut]:
    return categories_out(session)


@router.post(
    "/api/admin/categories",
    response_model=CategoryOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a category under a parent, with its time limits and default department (audited)",
    responses={
        **LOGIN_PROBLEMS,
        **conflict("The code is taken, or an active category under an inactive parent"),
        **INVALID,
    },
)
def create_category(
    body: CategoryCreate, request: Request, session: DbSession, admin: Administrator
) -> CategoryOut | JSONResponse:
    added = attempt(
        session,
        request,
        admin,
        "category.create",
        f"category:{body.code}",
        lambda: admin_rules.add_category(
            session,
            code=body.code,
            parent_code=body.parent,
            name=body.name,
            name_en=body.name_en,
            kind=body.kind,
            description=body.description,
            keywords=body.keywords,
            limit_days=body.limit_days,
            urgent_hours=body.urgent_hours,
            default_department_code=body.default_department,
            open311=body.open311,
            active=body.active,
        ),
    )
    if isinstance(added, JSONResponse):
        return added
    detail = (
        f"{added.name}; parent {body.parent or '-'}; {added.limit_days} working days, "
        f"{added.urgent_hours} h urgent; default department {body.default_department or '-'}"
    )
    _audit(session, request, admin, "category.create", f"category:{added.code}", detail)
    return one_category(session, added)


@router.patch(
    "/api/admin/categories/{category_id}",
    response_model=CategoryOut,
    summary="Change a category, move it (with its branch) or (de)activate it (administrators; audited)",
    responses={
        **LOGIN_PROBLEMS,
        **NOT_FOUND,
        **conflict(
            "The code is taken or fixed (cases are filed under it); the new parent lies in its "
            "branch or is inactive; active subcategories left under a category being deactivated"
        ),
        **INVALID,
    },
)
def change_category(
    category_id: RowId, body: CategoryChangeIn, request: Request, session: DbSession, admin: Administrator
) -> CategoryOut | JSONResponse:
    given = body.model_fields_set
    before = session.get(Category, category_id)
    target = f"category:{before.code if before else category_id}"
    current_parent = session.get(Category, before.parent_id) if before and before.parent_id else None
    moving = "parent" in given or body.position is not None
    parent_code = body.parent if "parent" in given else (current_parent.code if current_parent else None)
    action = "category.move" if moving else "category.update"

    def change() -> tuple[Category, list[str]]:
        changes: list[str] = []
        if moving:
            _, changes = admin_rules.move_category(
                session, category_id=category_id, parent_code=parent_code, position=body.position
            )
        category, more = admin_rules.update_category(
            session,
            category_id=category_id,
            change=CategoryChange(
                code=body.code,
                name=body.name,
                name_en=body.name_en,
                kind=body.kind,
                description=body.description,
                keywords=body.keywords,
                limit_days=body.limit_days,
                urgent_hours=body.urgent_hours,
                # null in the body removes the default; "" tells the service so
                default_department_code=(
                    (body.default_department or "") if "default_department" in given else None
                ),
                open311=body.open311,
                active=body.active,
            ),
        )
        return category, changes + more

    changed = attempt(session, request, admin, action, target, change)
    if isinstance(changed, JSONResponse):
        return changed
    category, changes = changed
    if changes:
        _audit(session, request, admin, action, target, "; ".join(changes))
    return one_category(session, category)


@router.delete(
    "/api/admin/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a category nothing refers to (administrators; audited)",
    responses={
        **LOGIN_PROBLEMS,
        **NOT_FOUND,
        **conflict("Cases are filed under it (deactivate it instead), or it has subcategories or rules"),
    },
)
def delete_category(
    category_id: RowId, request: Request, session: DbSession, admin: Administrator
) -> Response:
    before = session.get(Category, category_id)
    target = f"category:{before.code if before else category_id}"
    gone = attempt(
        session,
        request,
        admin,
        "category.delete",
        target,
        lambda: admin_rules.delete_category(session, category_id=category_id),
    )
    if isinstance(gone, JSONResponse):
        return gone
    _audit(session, request, admin, "category.delete", target, gone.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----- routing rules -----------------------------------------------------------------------------


@router.get(
    "/api/admin/routing-rules",
    response_model=list[RuleOut],
    summary="Every routing rule (administrators)",
    responses=LOGIN_PROBLEMS,
)
def list_rules(session: DbSession, _admin: Administrator) -> list[RuleOut]:
    departments = department_codes(session)
    rules = session.scalars(
        select(RoutingRule).order_by(RoutingRule.category_code, RoutingRule.street, RoutingRule.grid_prefix)
    )
    return [rule_out(r, departments) for r in rules]


@router.post(
    "/api/admin/routing-rules",
    response_model=RuleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a routing rule: category × street / grid prefix → department (administrators; audited)",
    responses={**LOGIN_PROBLEMS, **conflict("A rule for the same category and place exists"), **INVALID},
)
def create_rule(
    body: RuleCreate, request: Request, session: DbSession, admin: Administrator
) -> RuleOut | JSONResponse:
    added = attempt(
        session,
        request,
        admin,
        "routing_rule.create",
        f"routing_rule:{body.category or '*'}",
        lambda: admin_rules.add_routing_rule(
            session,
            department_code=body.department,
            category_code=body.category or "",
            street=body.street,
            grid_prefix=body.grid_prefix,
            note=body.note,
        ),
    )
    if isinstance(added, JSONResponse):
        return added
    detail = admin_rules.describe_rule(session, added)
    _audit(session, request, admin, "routing_rule.create", f"routing_rule:{added.id}", detail)
    return rule_out(added, department_codes(session))


@router.delete(
    "/api/admin/routing-rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a routing rule (administrators; audited)",
    responses={**LOGIN_PROBLEMS, **NOT_FOUND},
)
def delete_rule(rule_id: RowId, request: Request, session: DbSession, admin: Administrator) -> Response:
    rule = session.get(RoutingRule, rule_id)
    detail = admin_rules.describe_rule(session, rule) if rule else ""
    gone = attempt(
        session,
        request,
        admin,
        "routing_rule.delete",
        f"routing_rule:{rule_id}",
        lambda: admin_rules.delete_routing_rule(session, rule_id=rule_id),
    )
    if isinstance(gone, JSONResponse):
        return gone
    _audit(session, request, admin, "routing_rule.delete", f"routing_rule:{rule_id}", detail)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----- department members ------------------------------------------------------------------------


@router.get(
    "/api/admin/department-members",
    response_model=list[MemberOut],
    summary="Department-staff users (and anyone still in a department) with their departments",
    responses=LOGIN_PROBLEMS,
)
def list_members(session: DbSession, _admin: Administrator) -> list[MemberOut]:
    serving = admin_rules.memberships(session)
    users = session.scalars(select(User).order_by(User.username))
    return [
        member_out(u, serving.get(u.id, []))
        for u in users
        if Role.DEPARTMENT_STAFF in u.role_set or u.id in serving
    ]


@router.get(
    "/api/admin/department-members/{user_id}",
    response_model=MemberOut,
    summary="The departments one user serves (administrators)",
    responses={**LOGIN_PROBLEMS, 404: {"model": Problem, "description": "No such user"}},
)
def user_departments(user_id: RowId, session: DbSession, _admin: Administrator) -> MemberOut | JSONResponse:
    user = session.get(User, user_id)
    if user is None:
        return JSONResponse({"detail": "no such user"}, status_code=status.HTTP_404_NOT_FOUND)
    return member_out(user, admin_rules.memberships(session).get(user.id, []))


@router.put(
    "/api/admin/department-members/{user_id}",
    response_model=MemberOut,
    summary="Set the departments a department-staff user serves ([]: none) (administrators; audited)",
    responses={
        **LOGIN_PROBLEMS,
        404: {"model": Problem, "description": "No such user"},
        **conflict("The user does not hold the department_staff role (only [] is accepted then)"),
        **INVALID,
    },
)
def set_user_departments(
    user_id: RowId, body: MembersIn, request: Request, session: DbSession, admin: Administrator
) -> MemberOut | JSONResponse:
    user = session.get(User, user_id)
    if user is None:
        return JSONResponse({"detail": "no such user"}, status_code=status.HTTP_404_NOT_FOUND)
    target = f"user:{user.username}"
    if body.departments and Role.DEPARTMENT_STAFF not in user.role_set:
        # Only department staff work cases in a department's portal; anyone may be taken out.
        refused = Conflict("departments", f"{user.username} does not hold the department_staff role")
        _audit(session, request, admin, "department.members", target, str(refused), audit.Outcome.INVALID)
        return refusal(refused)
    changed = attempt(
        session,
        request,
        admin,
        "department.members",
        target,
        lambda: admin_rules.set_user_departments(session, user_id=user.id, department_codes=body.departments),
    )
    if isinstance(changed, JSONResponse):
        return changed
    departments, changes = changed
    if changes:
        _audit(session, request, admin, "department.members", target, " ".join(changes))
    return member_out(user, departments)


# ----- the routing tester ------------------------------------------------------------------------


@router.get(
    "/api/admin/route-preview",
    response_model=RoutePreviewOut,
    summary="Where a case of this category at this place would go, and which rule or default decided",
    responses={**LOGIN_PROBLEMS, **INVALID},
)
def route_preview(
    session: DbSession,
    _admin: Administrator,
    category: Annotated[
        str, Query(pattern=f"^({CODE_PATTERN[1:-1]})?$", description="A category's code; empty: none")
    ] = "",
    street: Annotated[str, Query(max_length=admin_rules.STREET_MAX)] = "",
    grid_cell: Annotated[str, Query(max_length=admin_rules.GRID_PREFIX_MAX)] = "",
) -> RoutePreviewOut | JSONResponse:
    try:
        preview = admin_rules.route_preview(session, category, street, grid_cell)
    except CatalogueRefusal as exc:
        return refusal(exc, where="query")
    departments = department_codes(session)
    found = preview.department
    return RoutePreviewOut(
        category=preview.category.code if preview.category else None,
        street=preview.street,
        grid_cell=preview.grid_cell,
        decided_by=preview.decided_by.value,
        department=(
            DepartmentRef(code=found.code, name=found.name, name_en=found.name_en, active=found.active)
            if found
            else None
        ),
        via_category=preview.via.code if preview.via else None,
        rule=rule_out(preview.rule, departments) if preview.rule else None,
        lineage=[c.code for c in preview.lineage],
    )
