"""Department staff: which departments a user works for, and the actor they act as."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from case_bridge.catalogue import department_by_code
from case_bridge.models import Department, DepartmentMember


class MembershipError(ValueError):
    pass


def add_member(session: Session, *, user_id: int, department_code: str) -> None:
    department = department_by_code(session, department_code)
    if department is None:
        raise MembershipError(f"no department {department_code}")
    if session.get(DepartmentMember, (user_id, department.id)) is None:
        session.add(DepartmentMember(user_id=user_id, department_id=department.id))
        session.flush()


def departments_of(session: Session, user_id: int) -> list[Department]:
    return list(
        session.scalars(
            select(Department)
            .join(DepartmentMember, DepartmentMember.department_id == Department.id)
            .where(DepartmentMember.user_id == user_id)
            .order_by(Department.code)
        )
    )
