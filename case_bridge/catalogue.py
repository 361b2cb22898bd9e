"""Departments, the category tree and routing rules: seeding the defaults, reading the tree, and
choosing the responsible department for a case."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from case_bridge.models import Category, Department, RoutingRule

DEFAULTS_FILE = Path(__file__).parent / "defaults.toml"


class CatalogueError(ValueError):
    """The catalogue data is inconsistent (a parent or department that does not exist)."""


@dataclass(frozen=True)
class SeedReport:
    departments: int
    categories: int
    routing_rules: int


def seed_defaults(session: Session, source: Path = DEFAULTS_FILE) -> SeedReport:
    """Add the shipped departments, categories and routing rules that are not there yet.

    Idempotent and additive: rows an administrator changed or added are left as they are, so it
    can run on every install."""
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    departments = {d.code: d for d in session.scalars(select(Department))}
    added_departments = 0
    for item in data.get("departments", []):
        if item["code"] not in departments:
            department = Department(
                code=item["code"],
                name=item["name"],
                name_en=item.get("name_en", ""),
                sms_number=item.get("sms_number", ""),
                email=item.get("email", ""),
            )
            session.add(department)
            departments[department.code] = department
            added_departments += 1
    session.flush()
    categories = {c.code: c for c in session.scalars(select(Category))}
    added_categories = 0
    for position, item in enumerate(data.get("categories", [])):
        if item["code"] in categories:
            continue
        parent = categories.get(item["parent"]) if "parent" in item else None
        if "parent" in item and parent is None:
            raise CatalogueError(
                f"category {item['code']}: parent {item['parent']} comes later or not at all"
            )
        owner = _department(departments, item.get("department"), item["code"])
        category = Category(
            code=item["code"],
            parent_id=parent.id if parent else None,
            name=item["name"],
            name_en=item.get("name_en", ""),
            kind=item.get("kind", "service"),
            description=item.get("description", ""),
            keywords=item.get("keywords", ""),
            limit_days=item.get("limit_days", 5),
            urgent_hours=item.get("urgent_hours", 24),
            default_department_id=owner.id if owner else None,
            open311=item.get("open311", True),
            position=position,
        )
        session.add(category)
        session.flush()
        categories[category.code] = category
        added_categories += 1
    added_rules = 0
    if session.scalar(select(RoutingRule.id).limit(1)) is None:
        for item in data.get("routing", []):
            target = _department(departments, item["department"], "routing")
            assert target is not None
            session.add(
                RoutingRule(
                    category_code=item.get("category", ""),
                    street=item.get("street", ""),
                    grid_prefix=item.get("grid_prefix", ""),
                    department_id=target.id,
                    note=item.get("note", ""),
                )
            )
            added_rules += 1
    session.flush()
    return SeedReport(added_departments, added_categories, added_rules)


def _department(departments: dict[str, Department], code: Any, where: str) -> Department | None:
    if code is None:
        return None
    if code not in departments:
        raise CatalogueError(f"{where}: unknown department {code}")
    return departments[code]


def category_by_code(session: Session, code: str) -> Category | None:
    return session.scalar(select(Category).where(Category.code == code))


def department_by_code(session: Session, code: str) -> Department | None:
    return session.scalar(select(Department).where(Department.code == code))


def lineage(session: Session, category: Category) -> list[Category]:
    """The category and its ancestors, nearest first."""
    chain = [category]
    seen = {category.id}
    while chain[-1].parent_id is not None and chain[-1].parent_id not in seen:
        parent = session.get(Category, chain[-1].parent_id)
        if parent is None:
            break
        seen.add(parent.id)
        chain.append(parent)
    return chain


def leaf_categories(session: Session, *, open311_only: bool = False) -> list[Category]:
    """Categories a case can be filed under: active ones with no active children."""
    every = list(
        session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.position))
    )
    parents = {c.parent_id for c in every if c.parent_id is not None}
    return [c for c in every if c.id not in parents and (c.open311 or not open311_only)]


def _place_score(rule: RoutingRule, street: str, grid_cell: str) -> int | None:
    """How precisely the rule names the place (higher is more precise); None: it does not match."""
    if rule.street and rule.street != street:
        return None
    if rule.grid_prefix and not grid_cell.startswith(rule.grid_prefix):
        return None
    return (1000 if rule.street else 0) + len(rule.grid_prefix)


def route(
    session: Session, category: Category | None, *, street: str = "", grid_cell: str = ""
) -> Department | None:
    """The responsible department (按责转办), most specific first:

    1. a rule naming the category (or its nearest ancestor that has rules) and matching the place;
    2. the nearest default department along the category's ancestry;
    3. a rule for any category matching the place (a district taking whatever lies in it);
    4. none: the dispatcher chooses.
    """
    rules = list(session.scalars(select(RoutingRule)))
    chain: Sequence[Category] = lineage(session, category) if category else ()
    for node in chain:
        best = _best(rules, node.code, street, grid_cell)
        if best is not None:
            return session.get(Department, best.department_id)
    for node in chain:
        if node.default_department_id is not None:
            return session.get(Department, node.default_department_id)
    best = _best(rules, "", street, grid_cell, need_place=True)
    return session.get(Department, best.department_id) if best else None


def _best(
    rules: Sequence[RoutingRule], category_code: str, street: str, grid_cell: str, *, need_place: bool = False
) -> RoutingRule | None:
    scored = []
    for rule in rules:
        if rule.category_code != category_code:
            continue
        score = _place_score(rule, street, grid_cell)
        if score is None or (need_place and score == 0):
            continue
        scored.append((score, -rule.id, rule))
    return max(scored, key=lambda item: (item[0], item[1]))[2] if scored else None
