"""Administrators' changes to the case catalogue: departments, the category tree, routing rules and
which department-staff users serve which department, plus the routing tester ("where would this
case go, and why?").

The functions are keyword-only and never commit: the caller's unit of work does, together with
its audit row. Each one checks everything before it changes anything, so a refusal leaves the
session as it found it and the caller may still commit (to keep the audit row of the refusal).

Refusals name the field they are about (``str(exc)`` is "field: why") and come in three kinds the
API answers differently: ``Invalid`` (the value cannot be used: 422), ``NotFound`` (the row named
by the address does not exist: 404) and ``Conflict`` (the value is fine, but the catalogue as it
stands forbids the change: a code taken, a row still in use, a cycle: 409).

Rows that cases refer to are never deleted: a deleted department or category would leave cases
pointing at nothing, and their timelines and deadlines unexplained. Such rows are deactivated: no
new case can be filed under them or sent to them, and the old cases keep their history.

Nothing here imports the accounts: whether a user may serve a department (the department_staff
role) is for the caller to check; these functions only take the user's id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

# route()'s own rule matcher: the tester must choose exactly as filing a case does.
from case_bridge.catalogue import _best, category_by_code, department_by_code, lineage
from case_bridge.models import Case, Category, Department, DepartmentMember, RoutingRule

# Codes are what outside systems and the command line use (Open311's service_code is the
# category's code): plain lower-case ASCII, as in defaults.toml.
CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KINDS = ("event", "component", "service")  # GB/T 30428 classes, and the hotline's other requests
LIMIT_DAYS = (1, 60)  # working days; 60 is already two months of a department's time
URGENT_HOURS = (1, 720)  # clock hours when urgent; 720 is thirty days
NAME_MAX = 128
NOTE_MAX = 500
DESCRIPTION_MAX = 2000
KEYWORDS_MAX = 1000
STREET_MAX = 64  # as cases.street
GRID_PREFIX_MAX = 32  # as cases.grid_cell
SMS_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,63}$")
MEMBERSHIPS_MAX = 100  # more departments than a site has is a mistake, not a wish
# C0 controls and DEL: they never belong in a name, and PostgreSQL refuses a NUL outright.
CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


class CatalogueRefusal(ValueError):
    """A change the catalogue's rules refuse; ``field`` names the field it is about."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Invalid(CatalogueRefusal):
    """The value itself cannot be used (out of range, badly formed, names nothing usable)."""


class NotFound(CatalogueRefusal):
    """The row the change is addressed to does not exist."""


class Conflict(CatalogueRefusal):
    """The catalogue as it stands forbids the change (a code taken, a row in use, a cycle)."""


def _n(count: int, one: str, many: str = "") -> str:
    """A count and its noun ("1 routing rule", "3 routing rules"): refusals are read by people."""
    if count == 1:
        return f"1 {one}"
    plural = many or (one[:-1] + "ies" if one.endswith("y") else one + "s")
    return f"{count} {plural}"


# ----- cleaning what administrators type ---------------------------------------------------------


def _text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    """One line of text: surrounding spaces dropped; control characters refused (not silently
    dropped: a name that is not what was typed would surprise whoever looks for it)."""
    text = value.strip()
    if CONTROLS.search(text):
        raise Invalid(field, "control characters are not allowed")
    if required and not text:
        raise Invalid(field, "required")
    if len(text) > limit:
        raise Invalid(field, f"at most {limit} characters")
    return text


def _long_text(value: str, *, field: str, limit: int) -> str:
    """Text that may span lines (a description): tabs and line breaks kept, other controls refused."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if CONTROLS.search(text.replace("\n", "").replace("\t", "")):
        raise Invalid(field, "control characters are not allowed")
    if len(text) > limit:
        raise Invalid(field, f"at most {limit} characters")
    return text


def _code(value: str, *, field: str = "code") -> str:
    code = value.strip()
    if not CODE.match(code):
        raise Invalid(field, "a lower-case letter, then lower-case letters, digits or _ (at most 40)")
    return code


def clean_street(value: str) -> str:
    """A street as cases hold it: no control characters, no surrounding spaces (case intake cleans
    the case's street the same way, so a rule matches what was typed on the case form)."""
    return CONTROLS.sub("", value).strip()


def clean_grid(value: str) -> str:
    """A unit-grid code or prefix: no spaces or control characters anywhere ("W 01" is "W01")."""
    return "".join(ch for ch in CONTROLS.sub("", value) if not ch.isspace())


def _limits(limit_days: int, urgent_hours: int) -> None:
    low, high = LIMIT_DAYS
    if not low <= limit_days <= high:
        raise Invalid("limit_days", f"{low} to {high} working days")
    low, high = URGENT_HOURS
    if not low <= urgent_hours <= high:
        raise Invalid("urgent_hours", f"{low} to {high} hours")


# ----- what refers to a row ------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentUse:
    """What refers to a department: why it can (or cannot) be deleted, deactivated or renamed."""

    cases: int = 0
    categories: int = 0  # categories that name it as their default department
    active_categories: int = 0
    routing_rules: int = 0
    members: int = 0


@dataclass(frozen=True)
class CategoryUse:
    cases: int = 0
    children: int = 0
    active_children: int = 0
    routing_rules: int = 0


def department_uses(
    session: Session, department_ids: Iterable[int] | None = None
) -> dict[int, DepartmentUse]:
    """What refers to each department (every department when ``department_ids`` is None), in a
    handful of grouped queries rather than five per department."""
    ids = list(session.scalars(select(Department.id))) if department_ids is None else list(department_ids)

    def counts(column: InstrumentedAttribute[int | None], *conditions: ColumnElement[bool]) -> dict[int, int]:
        query = select(column, func.count()).where(column.in_(ids), *conditions).group_by(column)
        return {key: int(number) for key, number in session.execute(query) if key is not None}

    cases = counts(Case.department_id)
    categories = counts(Category.default_department_id)
    active_categories = counts(Category.default_department_id, Category.active.is_(True))
    rules = counts(RoutingRule.department_id)
    members = counts(DepartmentMember.department_id)
    return {
        d: DepartmentUse(
            cases=cases.get(d, 0),
            categories=categories.get(d, 0),
            active_categories=active_categories.get(d, 0),
            routing_rules=rules.get(d, 0),
            members=members.get(d, 0),
        )
        for d in ids
    }


def department_use(session: Session, department_id: int) -> DepartmentUse:
    return department_uses(session, [department_id])[department_id]


def category_uses(session: Session) -> dict[int, CategoryUse]:
    """What refers to every category: cases filed under it, its children, rules naming its code."""
    cases = {
        key: int(number)
        for key, number in session.execute(
            select(Case.category_id, func.count())
            .where(Case.category_id.is_not(None))
            .group_by(Case.category_id)
        )
    }
    rules = {
        key: int(number)
        for key, number in session.execute(
            select(RoutingRule.category_code, func.count()).group_by(RoutingRule.category_code)
        )
    }
    every = list(session.scalars(select(Category)))
    children: dict[int, int] = {}
    active_children: dict[int, int] = {}
    for category in every:
        if category.parent_id is not None:
            children[category.parent_id] = children.get(category.parent_id, 0) + 1
            if category.active:
                active_children[category.parent_id] = active_children.get(category.parent_id, 0) + 1
    return {
        c.id: CategoryUse(
            cases=cases.get(c.id, 0),
            children=children.get(c.id, 0),
            active_children=active_children.get(c.id, 0),
            routing_rules=rules.get(c.code, 0),
        )
        for c in every
    }


def category_use(session: Session, category: Category) -> CategoryUse:
    def count(query: Select[int]) -> int:
        return int(session.scalar(query) or 0)

    return CategoryUse(
        cases=count(select(func.count()).select_from(Case).where(Case.category_id == category.id)),
        children=count(select(func.count()).select_from(Category).where(Category.parent_id == category.id)),
        active_children=count(
            select(func.count())
            .select_from(Category)
            .where(Category.parent_id == category.id, Category.active.is_(True))
        ),
        routing_rules=count(
            select(func.count()).select_from(RoutingRule).where(RoutingRule.category_code == category.code)
        ),
    )


# ----- departments ---------------------------------------------------------------------------------


def _department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound("department", f"no department {department_id}")
    return department


def _contact(sms_number: str, email: str) -> tuple[str, str]:
    number = _text(sms_number, field="sms_number", limit=32).replace(" ", "")
    if number and not SMS_NUMBER.match(number):
        raise Invalid("sms_number", "a mobile number: digits, optionally after +")
    address = _text(email, field="email", limit=128)
    if address and not EMAIL.match(address):
        raise Invalid("email", "an e-mail address such as dept@example.gov.cn")
    return number, address


def _code_free(
    session: Session, model: type[Department] | type[Category], code: str, own_id: int | None
) -> None:
    holder = session.scalar(select(model.id).where(model.code == code))
    if holder is not None and holder != own_id:
        raise Conflict("code", f"{code} is taken")


def add_department(
    session: Session, *, code: str, name: str, name_en: str = "", sms_number: str = "", email: str = ""
) -> Department:
    """A new, active department. Its SMS number and e-mail are where dispatch notices go."""
    code = _code(code)
    name = _text(name, field="name", limit=NAME_MAX, required=True)
    name_en = _text(name_en, field="name_en", limit=NAME_MAX)
    sms_number, email = _contact(sms_number, email)
    _code_free(session, Department, code, None)
    department = Department(
        code=code, name=name, name_en=name_en, sms_number=sms_number, email=email, active=True
    )
    session.add(department)
    session.flush()
    return department


def update_department(
    session: Session,
    *,
    department_id: int,
    code: str | None = None,
    name: str | None = None,
    name_en: str | None = None,
    sms_number: str | None = None,
    email: str | None = None,
    active: bool | None = None,
) -> tuple[Department, list[str]]:
    """Change what is given (None: unchanged); returns the department and what changed, in words
    for the audit log.

    The code is fixed once a case has been sent to the department (timelines, webhooks and outside
    systems know it by that code). A department cannot be deactivated while routing rules or active
    categories send cases to it: filing would pick it and then refuse to dispatch there."""
    department = _department(session, department_id)
    # The code is only checked when it changes: rows seeded long ago keep whatever code they have.
    new_code = _code(code) if code is not None and code.strip() != department.code else department.code
    new_name = (
        _text(name, field="name", limit=NAME_MAX, required=True) if name is not None else department.name
    )
    new_name_en = (
        _text(name_en, field="name_en", limit=NAME_MAX) if name_en is not None else department.name_en
    )
    number, address = _contact(
        sms_number if sms_number is not None else department.sms_number,
        email if email is not None else department.email,
    )
    use = department_use(session, department.id)
    if new_code != department.code:
        _code_free(session, Department, new_code, department.id)
        if use.cases:
            raise Conflict(
                "code",
                f"{_n(use.cases, 'case was', 'cases were')} sent to {department.code}: "
                "its code can no longer change",
            )
    if active is False and department.active and (use.routing_rules or use.active_categories):
        raise Conflict(
            "active",
            f"{_n(use.routing_rules, 'routing rule')} and {_n(use.active_categories, 'active category')} "
            f"send cases to {department.code}: point them elsewhere first",
        )
    changes = []
    for label, old, new in (
        ("code", department.code, new_code),
        ("name", department.name, new_name),
        ("name_en", department.name_en, new_name_en),
        ("sms_number", department.sms_number, number),
        ("email", department.email, address),
    ):
        if old != new:
            changes.append(f"{label} {old or '-'} -> {new or '-'}")
    department.code, department.name, department.name_en = new_code, new_name, new_name_en
    department.sms_number, department.email = number, address
    if active is not None and active != department.active:
        department.active = active
        changes.append("activated" if active else "deactivated")
    session.flush()
    return department, changes


def delete_department(session: Session, *, department_id: int) -> Department:
    """Remove a department nothing refers to (its memberships go with it). One that cases were
    sent to is refused: deactivate it instead. One that rules or categories name is refused too:
    those are decisions about where cases go, never made as a side effect."""
    department = _department(session, department_id)
    use = department_use(session, department.id)
    if use.cases:
        raise Conflict(
            "department",
            f"{_n(use.cases, 'case was', 'cases were')} sent to {department.code}: deactivate it instead",
        )
    if use.categories or use.routing_rules:
        raise Conflict(
            "department",
            f"{_n(use.categories, 'category')} and {_n(use.routing_rules, 'routing rule')} "
            f"name {department.code}: point them elsewhere first",
        )
    session.execute(delete(DepartmentMember).where(DepartmentMember.department_id == department.id))
    session.delete(department)
    session.flush()
    return department


# ----- categories ----------------------------------------------------------------------------------


def _category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound("category", f"no category {category_id}")
    return category


def _parent(session: Session, parent_code: str | None) -> Category | None:
    if parent_code is None or not parent_code.strip():
        return None
    parent = category_by_code(session, parent_code.strip())
    if parent is None:
        raise Invalid("parent", f"no category {parent_code.strip()[:40]}")
    return parent


def _default_department(session: Session, code: str | None) -> Department | None:
    """The default department named by code ("" or None: none). It must be active: filing a case
    would route to it and then refuse to dispatch to an inactive department."""
    if code is None or not code.strip():
        return None
    department = department_by_code(session, code.strip())
    if department is None:
        raise Invalid("default_department", f"no department {code.strip()[:40]}")
    if not department.active:
        raise Invalid("default_department", f"{department.code} is not active")
    return department


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise Invalid("kind", f"one of {', '.join(KINDS)}")
    return kind


def add_category(
    session: Session,
    *,
    code: str,
    name: str,
    parent_code: str | None = None,
    name_en: str = "",
    kind: str = "service",
    description: str = "",
    keywords: str = "",
    limit_days: int = 5,
    urgent_hours: int = 24,
    default_department_code: str | None = None,
    open311: bool = True,
    active: bool = True,
) -> Category:
    """A new category under ``parent_code`` (None or "": at the top), placed after every other one.

    An active category's parent must be active (an inactive branch with live leaves would offer
    cases a category its own tree has closed)."""
    code = _code(code)
    name = _text(name, field="name", limit=NAME_MAX, required=True)
    name_en = _text(name_en, field="name_en", limit=NAME_MAX)
    kind = _kind(kind)
    description = _long_text(description, field="description", limit=DESCRIPTION_MAX)
    keywords = _text(keywords, field="keywords", limit=KEYWORDS_MAX)
    _limits(limit_days, urgent_hours)
    parent = _parent(session, parent_code)
    owner = _default_department(session, default_department_code)
    _code_free(session, Category, code, None)
    if active and parent is not None and not parent.active:
        raise Conflict("parent", f"{parent.code} is not active: activate it first, or add this one inactive")
    last = session.scalar(select(func.max(Category.position)))
    category = Category(
        code=code,
        parent_id=parent.id if parent else None,
        name=name,
        name_en=name_en,
        kind=kind,
        description=description,
        keywords=keywords,
        limit_days=limit_days,
        urgent_hours=urgent_hours,
        default_department_id=owner.id if owner else None,
        open311=open311,
        active=active,
        position=(last or 0) + 1,
    )
    session.add(category)
    session.flush()
    return category


@dataclass
class CategoryChange:
    """What to change on a category; None leaves a field as it is. ``default_department_code``
    "" removes the default department (the category then routes by rules and its ancestors)."""

    code: str | None = None
    name: str | None = None
    name_en: str | None = None
    kind: str | None = None
    description: str | None = None
    keywords: str | None = None
    limit_days: int | None = None
    urgent_hours: int | None = None
    default_department_code: str | None = None
    open311: bool | None = None
    active: bool | None = None


def update_category(
    session: Session, *, category_id: int, change: CategoryChange
) -> tuple[Category, list[str]]:
    """Change a category's fields (not its place in the tree: ``move_category``).

    Its code is fixed once cases are filed under it (Open311 clients know it as the service code);
    before that, routing rules naming the old code are carried over to the new one. A category
    with active children cannot be deactivated (deactivate them first), nor can one be activated
    under an inactive parent."""
    category = _category(session, category_id)
    same_code = change.code is None or change.code.strip() == category.code
    new_code = category.code if same_code or change.code is None else _code(change.code)
    name = (
        _text(change.name, field="name", limit=NAME_MAX, required=True)
        if change.name is not None
        else category.name
    )
    name_en = (
        _text(change.name_en, field="name_en", limit=NAME_MAX)
        if change.name_en is not None
        else category.name_en
    )
    kind = _kind(change.kind) if change.kind is not None else category.kind
    description = (
        _long_text(change.description, field="description", limit=DESCRIPTION_MAX)
        if change.description is not None
        else category.description
    )
    keywords = (
        _text(change.keywords, field="keywords", limit=KEYWORDS_MAX)
        if change.keywords is not None
        else category.keywords
    )
    limit_days = change.limit_days if change.limit_days is not None else category.limit_days
    urgent_hours = change.urgent_hours if change.urgent_hours is not None else category.urgent_hours
    _limits(limit_days, urgent_hours)
    owner_id = category.default_department_id
    wanted_owner = change.default_department_code
    # Only a different department is checked: an edit that keeps the current one must not fail on it.
    if wanted_owner is not None and wanted_owner.strip() != _department_code(session, owner_id):
        owner = _default_department(session, wanted_owner)
        owner_id = owner.id if owner else None
    use = category_use(session, category)
    if new_code != category.code:
        _code_free(session, Category, new_code, category.id)
        if use.cases:
            raise Conflict(
                "code",
                f"{_n(use.cases, 'case is', 'cases are')} filed under {category.code}: "
                "its code can no longer change",
            )
    if change.active is False and category.active and use.active_children:
        raise Conflict(
            "active",
            f"{category.code} has {_n(use.active_children, 'active subcategory')}: deactivate them first",
        )
    if change.active is True and not category.active and category.parent_id is not None:
        parent = session.get(Category, category.parent_id)
        if parent is not None and not parent.active:
            raise Conflict("active", f"its parent {parent.code} is not active: activate the parent first")
    # An active category routes to its default department: that one must be able to take cases.
    will_be_active = category.active if change.active is None else change.active
    owner_now = session.get(Department, owner_id) if owner_id is not None else None
    if will_be_active and owner_now is not None and not owner_now.active:
        raise Conflict("default_department", f"{owner_now.code} is not active: choose an active department")
    changes = []
    if new_code != category.code:
        changes.append(f"code {category.code} -> {new_code}")
        if use.routing_rules:
            # The rules were written for this category: they follow it to its corrected code.
            for rule in session.scalars(
                select(RoutingRule).where(RoutingRule.category_code == category.code)
            ):
                rule.category_code = new_code
            changes.append(f"{_n(use.routing_rules, 'routing rule')} follow")
    for label, old, new in (
        ("name", category.name, name),
        ("name_en", category.name_en, name_en),
        ("kind", category.kind, kind),
        ("limit_days", category.limit_days, limit_days),
        ("urgent_hours", category.urgent_hours, urgent_hours),
        (
            "default_department",
            _department_code(session, category.default_department_id),
            _department_code(session, owner_id),
        ),
    ):
        if old != new:
            changes.append(f"{label} {old or '-'} -> {new or '-'}")
    if description != category.description:
        changes.append("description")
    if keywords != category.keywords:
        changes.append("keywords")
    category.code, category.name, category.name_en, category.kind = new_code, name, name_en, kind
    category.description, category.keywords = description, keywords
    category.limit_days, category.urgent_hours = limit_days, urgent_hours
    category.default_department_id = owner_id
    if change.open311 is not None and change.open311 != category.open311:
        category.open311 = change.open311
        changes.append("open311 on" if change.open311 else "open311 off")
    if change.active is not None and change.active != category.active:
        category.active = change.active
        changes.append("activated" if change.active else "deactivated")
    session.flush()
    return category, changes


def _department_code(session: Session, department_id: int | None) -> str:
    if department_id is None:
        return ""
    department = session.get(Department, department_id)
    return department.code if department else ""


def move_category(
    session: Session, *, category_id: int, parent_code: str | None, position: int | None = None
) -> tuple[Category, list[str]]:
    """Put a category (with its whole branch) under another parent (None or "": at the top).

    The new parent must exist, must not be the category or lie inside its branch (the tree would
    become a loop that ``lineage`` walks forever), and must be active if the category is."""
    category = _category(session, category_id)
    parent = _parent(session, parent_code)
    if position is not None and not 0 <= position <= 1_000_000:
        raise Invalid("position", "0 to 1000000")
    if parent is not None:
        if parent.id == category.id:
            raise Conflict("parent", "a category cannot be its own parent")
        if category.id in {c.id for c in lineage(session, parent)}:
            raise Conflict(
                "parent", f"{parent.code} lies inside {category.code}'s branch: that would make a loop"
            )
        if category.active and not parent.active:
            raise Conflict("parent", f"{parent.code} is not active")
    changes = []
    if (parent.id if parent else None) != category.parent_id:
        old = session.get(Category, category.parent_id) if category.parent_id is not None else None
        changes.append(f"parent {old.code if old else '-'} -> {parent.code if parent else '-'}")
        category.parent_id = parent.id if parent else None
    if position is not None and position != category.position:
        changes.append(f"position {category.position} -> {position}")
        category.position = position
    session.flush()
    return category, changes


def delete_category(session: Session, *, category_id: int) -> Category:
    """Remove a category nothing refers to. One with cases is refused (deactivate it instead),
    one with subcategories or routing rules too (move or remove those first)."""
    category = _category(session, category_id)
    use = category_use(session, category)
    if use.cases:
        raise Conflict(
            "category",
            f"{_n(use.cases, 'case is', 'cases are')} filed under {category.code}: deactivate it instead",
        )
    if use.children:
        raise Conflict(
            "category", f"{category.code} has {_n(use.children, 'subcategory')}: move or remove them first"
        )
    if use.routing_rules:
        raise Conflict(
            "category", f"{_n(use.routing_rules, 'routing rule')} name {category.code}: remove them first"
        )
    session.delete(category)
    session.flush()
    return category


def category_tree(session: Session) -> list[tuple[Category, int]]:
    """Every category with its depth, depth first, siblings by position: the order the page shows.
    A row whose parent is missing (only possible if the database was edited by hand) is shown at
    the top rather than lost."""
    every = list(session.scalars(select(Category).order_by(Category.position, Category.id)))
    known = {c.id for c in every}
    children: dict[int | None, list[Category]] = {}
    for category in every:
        parent = category.parent_id if category.parent_id in known else None
        children.setdefault(parent, []).append(category)
    ordered: list[tuple[Category, int]] = []
    seen: set[int] = set()
    stack = [(c, 0) for c in reversed(children.get(None, []))]
    while stack:
        category, depth = stack.pop()
        if category.id in seen:
            continue
        seen.add(category.id)
        ordered.append((category, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(category.id, [])))
    # A loop made by hand has no root to be reached from: list its rows anyway.
    ordered.extend((c, 0) for c in every if c.id not in seen)
    return ordered


# ----- routing rules -------------------------------------------------------------------------------


def add_routing_rule(
    session: Session,
    *,
    department_code: str,
    category_code: str = "",
    street: str = "",
    grid_prefix: str = "",
    note: str = "",
) -> RoutingRule:
    """A rule sending cases of a category (or of any category: "") at a place (a street, exactly;
    or unit-grid cells starting with a prefix) to a department.

    The department must exist and be active; the category, when given, must exist. A rule with no
    category needs a place (it would match nothing), and two rules for the same category and place
    are refused (only the older one would ever win)."""
    category_code = category_code.strip()
    if category_code and category_by_code(session, category_code) is None:
        raise Invalid("category", f"no category {category_code[:40]}")
    street = clean_street(street)
    if len(street) > STREET_MAX:
        raise Invalid("street", f"at most {STREET_MAX} characters")
    grid_prefix = clean_grid(grid_prefix)
    if len(grid_prefix) > GRID_PREFIX_MAX:
        raise Invalid("grid_prefix", f"at most {GRID_PREFIX_MAX} characters")
    if not (category_code or street or grid_prefix):
        raise Invalid("category", "a rule names a category, a street or a grid prefix (or more)")
    department = department_by_code(session, department_code.strip())
    if department is None:
        raise Invalid("department", f"no department {department_code.strip()[:40]}")
    if not department.active:
        raise Invalid("department", f"{department.code} is not active")
    note = _text(note, field="note", limit=NOTE_MAX)
    same = session.scalar(
        select(RoutingRule.id).where(
            RoutingRule.category_code == category_code,
            RoutingRule.street == street,
            RoutingRule.grid_prefix == grid_prefix,
        )
    )
    if same is not None:
        raise Conflict("grid_prefix", f"rule {same} already covers this category and place: delete it first")
    rule = RoutingRule(
        category_code=category_code,
        street=street,
        grid_prefix=grid_prefix,
        department_id=department.id,
        note=note,
    )
    session.add(rule)
    session.flush()
    return rule


def delete_routing_rule(session: Session, *, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound("routing_rule", f"no routing rule {rule_id}")
    session.delete(rule)
    session.flush()
    return rule


def describe_rule(session: Session, rule: RoutingRule) -> str:
    """A rule in words, for the audit log: "street_light @ grid W01 -> west_district"."""
    place = " ".join(
        part
        for part in (
            f"street {rule.street}" if rule.street else "",
            f"grid {rule.grid_prefix}*" if rule.grid_prefix else "",
        )
        if part
    )
    target = _department_code(session, rule.department_id)
    return f"{rule.category_code or '(any category)'} @ {place or 'anywhere'} -> {target}"


# ----- department members --------------------------------------------------------------------------


def set_user_departments(
    session: Session, *, user_id: int, department_codes: Sequence[str]
) -> tuple[list[Department], list[str]]:
    """Make the user's departments exactly these (an empty list: none); returns them and what
    changed ("+code", "-code").

    The caller has checked that the user exists and holds the department_staff role. A user may
    stay in a department that has since been deactivated (their old cases are still there), but
    cannot join one."""
    if len(department_codes) > MEMBERSHIPS_MAX:
        raise Invalid("departments", f"at most {MEMBERSHIPS_MAX}")
    wanted: dict[int, Department] = {}
    for raw in department_codes:
        department = department_by_code(session, raw.strip())
        if department is None:
            raise Invalid("departments", f"no department {raw.strip()[:40]}")
        wanted[department.id] = department
    current = set(
        session.scalars(select(DepartmentMember.department_id).where(DepartmentMember.user_id == user_id))
    )
    for department in wanted.values():
        if department.id not in current and not department.active:
            raise Invalid("departments", f"{department.code} is not active")
    added = [wanted[d] for d in wanted.keys() - current]
    removed = current - wanted.keys()
    if removed:
        session.execute(
            delete(DepartmentMember).where(
                DepartmentMember.user_id == user_id, DepartmentMember.department_id.in_(removed)
            )
        )
    session.add_all(DepartmentMember(user_id=user_id, department_id=d.id) for d in added)
    session.flush()
    removed_codes = [_department_code(session, d) for d in removed]
    changes = sorted(f"+{d.code}" for d in added) + sorted(f"-{code}" for code in removed_codes)
    return sorted(wanted.values(), key=lambda d: d.code), changes


def memberships(session: Session) -> dict[int, list[Department]]:
    """user id -> their departments (by code), for every user in at least one."""
    found: dict[int, list[Department]] = {}
    rows = session.execute(
        select(DepartmentMember.user_id, Department)
        .join(Department, Department.id == DepartmentMember.department_id)
        .order_by(Department.code)
    )
    for user_id, department in rows:
        found.setdefault(user_id, []).append(department)
    return found


# ----- the routing tester --------------------------------------------------------------------------


class Decision(StrEnum):
    """Which of route()'s steps chose the department."""

    RULE = "rule"  # a rule naming the category (or an ancestor) and matching the place
    DEFAULT = "default"  # the nearest default department up the category's ancestry
    PLACE = "place"  # a rule for any category matching the place
    NONE = "none"  # nothing matched: the case waits for the dispatcher


@dataclass(frozen=True)
class RoutePreview:
    decided_by: Decision
    department: Department | None
    category: Category | None  # the category asked about
    via: Category | None = None  # the category (itself or an ancestor) whose rule or default decided
    rule: RoutingRule | None = None
    street: str = ""  # as a case would hold them
    grid_cell: str = ""
    lineage: list[Category] = field(default_factory=list)  # the category and its ancestors, nearest first


def route_preview(session: Session, category_code: str, street: str, grid_cell: str) -> RoutePreview:
    """Where a case of ``category_code`` ("": no category) at this street and grid cell would go,
    and which rule or default decided: catalogue.route() step by step, with the same matcher.

    Place fields are cleaned as case intake cleans them, so the answer is the one a real case
    would get. An unknown category is refused (Invalid, field "category")."""
    category = None
    if category_code.strip():
        category = category_by_code(session, category_code.strip())
        if category is None:
            raise Invalid("category", f"no category {category_code.strip()[:40]}")
    street = clean_street(street)[:STREET_MAX]
    grid_cell = clean_grid(grid_cell)[:GRID_PREFIX_MAX]
    rules = list(session.scalars(select(RoutingRule)))
    chain = lineage(session, category) if category else []

    def decided(
        how: Decision, department_id: int | None, via: Category | None = None, rule: RoutingRule | None = None
    ) -> RoutePreview:
        department = session.get(Department, department_id) if department_id is not None else None
        return RoutePreview(how, department, category, via, rule, street, grid_cell, chain)

    for node in chain:
        best = _best(rules, node.code, street, grid_cell)
        if best is not None:
            return decided(Decision.RULE, best.department_id, via=node, rule=best)
    for node in chain:
        if node.default_department_id is not None:
            return decided(Decision.DEFAULT, node.default_department_id, via=node)
    best = _best(rules, "", street, grid_cell, need_place=True)
    if best is not None:
        return decided(Decision.PLACE, best.department_id, rule=best)
    return decided(Decision.NONE, None)
