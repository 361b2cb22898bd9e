"""The catalogue's administration rules (case_bridge.catalogue_admin) on a migrated SQLite copy
with the shipped catalogue: what may change, what is refused and why (naming the field), that a
refusal changes nothing, and that the routing tester explains the choice catalogue.route makes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts import service as accounts
from case_bridge import catalogue
from case_bridge.catalogue_admin import (
    CategoryChange,
    Conflict,
    Decision,
    Invalid,
    NotFound,
    RoutePreview,
    add_category,
    add_department,
    add_routing_rule,
    category_tree,
    delete_category,
    delete_department,
    delete_routing_rule,
    department_use,
    move_category,
    route_preview,
    set_user_departments,
    update_category,
    update_department,
)
from case_bridge.models import Case, Category, Department, DepartmentMember, RoutingRule
from hotline.db import Database

_numbers = itertools.count(1)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.unit_of_work() as s:
        catalogue.seed_defaults(s)
        yield s


def department(session: Session, code: str) -> Department:
    found = catalogue.department_by_code(session, code)
    assert found is not None
    return found


def category(session: Session, code: str) -> Category:
    found = catalogue.category_by_code(session, code)
    assert found is not None
    return found


def a_case(session: Session, *, category_code: str | None = None, department_code: str | None = None) -> Case:
    """A case row as filing leaves it, pointing at the category and department."""
    case = Case(
        number=f"2026112100{next(_numbers):03d}",
        source="phone",
        status="dispatched",
        category_id=category(session, category_code).id if category_code else None,
        department_id=department(session, department_code).id if department_code else None,
        content="路灯不亮",
    )
    session.add(case)
    session.flush()
    return case


def staff_user(session: Session, username: str = "bumen.li") -> int:
    user = accounts.create_user(
        session,
        username=username,
        password="correct horse battery",
        roles=["department_staff"],
        display_name="李部门",
    )
    return user.id


# ----- departments ---------------------------------------------------------------------------------


def test_given_a_new_department_when_added_then_it_is_active_and_its_code_and_fields_are_checked(session):
    added = add_department(
        session,
        code="north_district",
        name=" 北城区人民政府 ",
        name_en="North District",
        sms_number="13800000001",
    )

    assert (added.code, added.name, added.active) == ("north_district", "北城区人民政府", True)
    with pytest.raises(Conflict, match=r"^code: north_district is taken$"):
        add_department(session, code="north_district", name="另一个")
    for fields, field in (
        ({"code": "North"}, "code"),
        ({"code": "1st"}, "code"),
        ({"name": "  "}, "name"),
        ({"name": "北城\x00区"}, "name"),
        ({"sms_number": "call us"}, "sms_number"),
        ({"email": "not an address"}, "email"),
        ({"name_en": "x" * 129}, "name_en"),
    ):
        with pytest.raises(Invalid) as refused:
            add_department(session, **{"code": "south_district", "name": "南城区", **fields})
        assert refused.value.field == field, fields
        assert str(refused.value).startswith(f"{field}: ")


def test_given_a_department_cases_were_sent_to_when_its_code_changes_then_it_is_refused_but_its_name_may(
    session,
):
    unused = add_department(session, code="temp_office", name="临时办公室")
    renamed, changes = update_department(session, department_id=unused.id, code="temporary_office")
    assert renamed.code == "temporary_office" and changes == ["code temp_office -> temporary_office"]

    a_case(session, department_code="temporary_office")
    with pytest.raises(Conflict, match=r"^code: 1 case was sent to temporary_office"):
        update_department(session, department_id=unused.id, code="temp_office", name="改了名")
    assert (unused.code, unused.name) == ("temporary_office", "临时办公室")  # nothing half-done

    _, changes = update_department(
        session, department_id=unused.id, name="临时工作专班", email="zb@example.gov.cn"
    )
    assert changes == ["name 临时办公室 -> 临时工作专班", "email - -> zb@example.gov.cn"]
    with pytest.raises(NotFound, match=r"^department: "):
        update_department(session, department_id=99999, name="无")


def test_given_a_department_cases_are_routed_to_when_deactivated_then_refused_until_pointed_elsewhere(
    session,
):
    west = department(session, "west_district")
    with pytest.raises(
        Conflict, match=r"^active: 2 routing rules and 0 active categories send cases to west"
    ):
        update_department(session, department_id=west.id, active=False)
    assert west.active

    for rule in session.scalars(select(RoutingRule).where(RoutingRule.department_id == west.id)):
        delete_routing_rule(session, rule_id=rule.id)
    _, changes = update_department(session, department_id=west.id, active=False)
    assert changes == ["deactivated"] and not west.active

    # The greening bureau is the default of active categories: the same rule.
    greening = department(session, "greening")
    with pytest.raises(Conflict, match=r"active categor"):
        update_department(session, department_id=greening.id, active=False)


def test_given_a_department_when_deleted_then_only_an_unused_one_goes_and_a_used_one_must_be_deactivated(
    session,
):
    spare = add_department(session, code="spare_office", name="备用科室")
    user_id = staff_user(session)
    set_user_departments(session, user_id=user_id, department_codes=["spare_office"])

    gone = delete_department(session, department_id=spare.id)

    assert gone.code == "spare_office"
    assert catalogue.department_by_code(session, "spare_office") is None
    assert session.scalars(select(DepartmentMember).where(DepartmentMember.user_id == user_id)).all() == []

    used = add_department(session, code="used_office", name="办过案的科室")
    a_case(session, department_code="used_office")
    with pytest.raises(
        Conflict, match=r"^department: 1 case was sent to used_office: deactivate it instead$"
    ):
        delete_department(session, department_id=used.id)
    with pytest.raises(Conflict, match=r"categor"):
        delete_department(session, department_id=department(session, "water").id)
    assert department_use(session, used.id).cases == 1


# ----- categories ----------------------------------------------------------------------------------


def test_given_the_component_tree_when_a_category_is_added_under_it_then_limits_and_department_are_kept(
    session,
):
    owner = add_department(session, code="lighting_office", name="路灯管理所")

    lamp = add_category(
        session,
        code="lamp_post_tilted",
        parent_code="city_component",
        name="灯杆倾斜",
        name_en="Lamp post leaning",
        kind="component",
        limit_days=2,
        urgent_hours=6,
        default_department_code="lighting_office",
    )

    assert (lamp.limit_days, lamp.urgent_hours, lamp.default_department_id) == (2, 6, owner.id)
    assert [c.code for c in catalogue.lineage(session, lamp)] == ["lamp_post_tilted", "city_component"]
    assert lamp in catalogue.leaf_categories(session)
    depths = {c.code: depth for c, depth in category_tree(session)}
    assert (depths["city_component"], depths["lamp_post_tilted"], depths["street_light"]) == (0, 1, 2)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"limit_days": 0}, "limit_days"),
        ({"limit_days": 61}, "limit_days"),
        ({"urgent_hours": 0}, "urgent_hours"),
        ({"urgent_hours": 721}, "urgent_hours"),
        ({"parent_code": "no_such_parent"}, "parent"),
        ({"default_department_code": "no_such_department"}, "default_department"),
        ({"kind": "weather"}, "kind"),
        ({"code": "Lamp Post"}, "code"),
        ({"name": ""}, "name"),
        ({"description": "a\x07bell"}, "description"),
    ],
)
def test_given_a_bad_value_when_a_category_is_added_then_the_refusal_names_the_field(session, fields, field):
    with pytest.raises(Invalid) as refused:
        add_category(session, **{"code": "lamp_post", "name": "灯杆", **fields})

    assert refused.value.field == field
    assert catalogue.category_by_code(session, "lamp_post") is None


def test_given_the_limits_at_their_bounds_when_set_then_they_are_accepted(session):
    low = add_category(session, code="quick", name="快", limit_days=1, urgent_hours=1)
    high, changes = update_category(
        session, category_id=low.id, change=CategoryChange(limit_days=60, urgent_hours=720)
    )
    assert (high.limit_days, high.urgent_hours) == (60, 720)
    assert changes == ["limit_days 1 -> 60", "urgent_hours 1 -> 720"]


def test_given_a_category_when_moved_into_its_own_branch_then_refused_and_a_good_move_changes_lineage(
    session,
):
    component = category(session, "city_component")
    lights = category(session, "street_light")

    with pytest.raises(Conflict, match=r"^parent: street_light lies inside city_component's branch"):
        move_category(session, category_id=component.id, parent_code="street_light")
    with pytest.raises(Conflict, match=r"^parent: a category cannot be its own parent$"):
        move_category(session, category_id=lights.id, parent_code="street_light")
    with pytest.raises(Invalid, match=r"^parent: no category nowhere$"):
        move_category(session, category_id=lights.id, parent_code="nowhere")
    assert component.parent_id is None

    moved, changes = move_category(session, category_id=lights.id, parent_code="road_traffic")
    assert changes == ["parent public_facilities -> road_traffic"]
    assert [c.code for c in catalogue.lineage(session, moved)] == [
        "street_light",
        "road_traffic",
        "city_component",
    ]
    _, changes = move_category(session, category_id=lights.id, parent_code=None)
    assert changes == ["parent road_traffic -> -"] and lights.parent_id is None


def test_given_a_branch_when_deactivated_then_children_go_first_and_none_comes_back_under_an_inactive_parent(
    session,
):
    facilities = category(session, "public_facilities")
    with pytest.raises(Conflict, match=r"^active: public_facilities has 2 active subcategories"):
        update_category(session, category_id=facilities.id, change=CategoryChange(active=False))

    for code in ("street_light", "manhole_cover"):
        update_category(session, category_id=category(session, code).id, change=CategoryChange(active=False))
    update_category(session, category_id=facilities.id, change=CategoryChange(active=False))
    assert facilities not in catalogue.leaf_categories(session)

    with pytest.raises(Conflict, match=r"^active: its parent public_facilities is not active"):
        update_category(
            session, category_id=category(session, "street_light").id, change=CategoryChange(active=True)
        )
    with pytest.raises(Conflict, match=r"^parent: public_facilities is not active"):
        add_category(session, code="bench_broken", name="座椅损坏", parent_code="public_facilities")
    hidden = add_category(
        session, code="bench_broken", name="座椅损坏", parent_code="public_facilities", active=False
    )
    assert not hidden.active
    with pytest.raises(Conflict, match=r"^parent: public_facilities is not active$"):
        move_category(
            session, category_id=category(session, "road_traffic").id, parent_code="public_facilities"
        )


def test_given_a_category_in_use_when_deleted_or_renamed_then_refused_and_an_unused_one_takes_its_rules(
    session,
):
    new = add_category(session, code="kiosk", name="报刊亭", parent_code="city_component")
    rule = add_routing_rule(session, department_code="east_district", category_code="kiosk", grid_prefix="E")

    renamed, changes = update_category(session, category_id=new.id, change=CategoryChange(code="news_kiosk"))
    assert renamed.code == "news_kiosk" and rule.category_code == "news_kiosk"
    assert changes == ["code kiosk -> news_kiosk", "1 routing rule follow"]

    with pytest.raises(Conflict, match=r"^category: 1 routing rule name news_kiosk"):
        delete_category(session, category_id=new.id)
    a_case(session, category_code="news_kiosk")
    with pytest.raises(Conflict, match=r"^code: 1 case is filed under news_kiosk"):
        update_category(session, category_id=new.id, change=CategoryChange(code="kiosk", name="亭"))
    assert (new.code, new.name) == ("news_kiosk", "报刊亭")
    delete_routing_rule(session, rule_id=rule.id)
    with pytest.raises(
        Conflict, match=r"^category: 1 case is filed under news_kiosk: deactivate it instead$"
    ):
        delete_category(session, category_id=new.id)
    with pytest.raises(Conflict, match=r"^category: city_component has \d+ subcategories"):
        delete_category(session, category_id=category(session, "city_component").id)

    spare = add_category(session, code="spare", name="备用")
    assert delete_category(session, category_id=spare.id).code == "spare"
    assert catalogue.category_by_code(session, "spare") is None


def test_given_an_inactive_department_when_chosen_as_a_default_then_it_is_refused(session):
    closed = add_department(session, code="closed_office", name="撤销的科室")
    update_department(session, department_id=closed.id, active=False)
    lights = category(session, "street_light")

    with pytest.raises(Invalid, match=r"^default_department: closed_office is not active$"):
        update_category(
            session, category_id=lights.id, change=CategoryChange(default_department_code="closed_office")
        )
    _, changes = update_category(
        session, category_id=lights.id, change=CategoryChange(default_department_code="")
    )
    assert changes == ["default_department city_management -> -"]


# ----- routing rules -------------------------------------------------------------------------------


def test_given_a_routing_rule_when_added_then_department_category_and_place_are_checked_and_cleaned(session):
    rule = add_routing_rule(
        session,
        department_code="west_district",
        category_code="street_light",
        street="  西园街道\t",
        grid_prefix=" W 07\n",
        note="西城区路灯由区里管",
    )
    assert (rule.street, rule.grid_prefix) == ("西园街道", "W07")

    closed = add_department(session, code="closed_office", name="撤销的科室")
    update_department(session, department_id=closed.id, active=False)
    for fields, field, why in (
        ({"department_code": "nobody"}, "department", "no department nobody"),
        ({"department_code": "closed_office"}, "department", "closed_office is not active"),
        ({"category_code": "no_such"}, "category", "no category no_such"),
        ({"category_code": "", "street": " ", "grid_prefix": ""}, "category", "a rule names a category"),
        ({"grid_prefix": "W" * 33}, "grid_prefix", "at most 32 characters"),
        ({"street": "街" * 65}, "street", "at most 64 characters"),
    ):
        with pytest.raises(Invalid) as refused:
            add_routing_rule(session, **{"department_code": "east_district", "grid_prefix": "E9", **fields})
        assert (refused.value.field, refused.value.reason[: len(why)]) == (field, why), fields

    with pytest.raises(Conflict, match=rf"^grid_prefix: rule {rule.id} already covers"):
        add_routing_rule(
            session,
            department_code="east_district",
            category_code="street_light",
            street="西园街道",
            grid_prefix="W07",
        )
    with pytest.raises(NotFound, match=r"^routing_rule: no routing rule 99999$"):
        delete_routing_rule(session, rule_id=99999)
    any_category = add_routing_rule(session, department_code="east_district", street="东华街道")
    assert any_category.category_code == ""


# ----- members -------------------------------------------------------------------------------------


def test_given_a_department_staff_user_when_their_departments_are_set_then_the_set_is_replaced(session):
    user_id = staff_user(session)

    joined, changes = set_user_departments(
        session, user_id=user_id, department_codes=["water", "gas", "water"]
    )
    assert [d.code for d in joined] == ["gas", "water"] and changes == ["+gas", "+water"]

    moved, changes = set_user_departments(session, user_id=user_id, department_codes=["power", "gas"])
    assert [d.code for d in moved] == ["gas", "power"] and changes == ["+power", "-water"]

    with pytest.raises(Invalid, match=r"^departments: no department nowhere$"):
        set_user_departments(session, user_id=user_id, department_codes=["gas", "nowhere"])
    gas = department(session, "gas")
    for rule in session.scalars(select(RoutingRule).where(RoutingRule.department_id == gas.id)):
        delete_routing_rule(session, rule_id=rule.id)
    for owned in session.scalars(select(Category).where(Category.default_department_id == gas.id)):
        update_category(
            session, category_id=owned.id, change=CategoryChange(default_department_code="city_management")
        )
    update_department(session, department_id=gas.id, active=False)
    # Staying in a department that closed is fine (its old cases are still there); joining is not.
    kept, changes = set_user_departments(session, user_id=user_id, department_codes=["gas"])
    assert [d.code for d in kept] == ["gas"] and changes == ["-power"]
    other = staff_user(session, "bumen.wang")
    with pytest.raises(Invalid, match=r"^departments: gas is not active$"):
        set_user_departments(session, user_id=other, department_codes=["gas"])

    _, changes = set_user_departments(session, user_id=user_id, department_codes=[])
    assert changes == ["-gas"]
    assert session.scalars(select(DepartmentMember).where(DepartmentMember.user_id == user_id)).all() == []


# ----- the routing tester --------------------------------------------------------------------------


def test_given_a_grid_prefix_rule_when_previewed_then_the_rule_and_the_category_it_names_are_given(session):
    owner = add_department(session, code="lighting_office", name="路灯管理所")
    rule = add_routing_rule(
        session, department_code="lighting_office", category_code="street_light", grid_prefix="W07"
    )

    inside = route_preview(session, "street_light", "", " W07 0012\t")
    elsewhere = route_preview(session, "street_light", "", "E010012")

    assert (inside.decided_by, inside.department, inside.rule, inside.via) == (
        Decision.RULE,
        owner,
        rule,
        category(session, "street_light"),
    )
    assert inside.grid_cell == "W070012"  # cleaned as case intake cleans it
    # Elsewhere the category's own default department decides.
    assert explained(elsewhere) == (Decision.DEFAULT, "city_management", "street_light")


def explained(preview: RoutePreview) -> tuple[Decision, str | None, str | None]:
    """(which step decided, the department's code, the category whose rule or default it was)."""
    return (
        preview.decided_by,
        preview.department.code if preview.department else None,
        preview.via.code if preview.via else None,
    )


def test_given_the_shipped_rules_when_previewed_then_each_step_of_route_is_named(session):
    # noise has its own default (environment), but its parent street_order has place rules: the
    # rule of the nearest ancestor with rules wins, and the preview says which category it named.
    assert explained(route_preview(session, "noise", "", "E0101")) == (
        Decision.RULE,
        "east_district",
        "street_order",
    )
    # No rule matches the place: the nearest default up the tree.
    assert explained(route_preview(session, "noise", "", "N0101")) == (
        Decision.DEFAULT,
        "environment",
        "noise",
    )
    # A rule by street, exactly (the street cleaned first).
    street = route_preview(session, "rubbish", " 东华街道 ", "")
    assert explained(street) == (Decision.RULE, "east_district", "rubbish")
    assert street.rule is not None and street.rule.street == "东华街道"
    # No category: a rule for any category at the place, else nobody.
    add_routing_rule(session, department_code="west_district", grid_prefix="W")
    place = route_preview(session, "", "", "W33")
    assert explained(place) == (Decision.PLACE, "west_district", None)
    assert place.rule is not None and place.rule.grid_prefix == "W"
    nobody = route_preview(session, "", "", "")
    assert (explained(nobody), nobody.rule) == ((Decision.NONE, None, None), None)
    with pytest.raises(Invalid, match=r"^category: no category no_such$"):
        route_preview(session, "no_such", "", "")


def test_given_every_category_and_place_when_previewed_then_the_department_is_the_one_route_picks(session):
    add_routing_rule(session, department_code="west_district", grid_prefix="W")
    add_routing_rule(session, department_code="transport", category_code="city_component", street="东华街道")
    add_routing_rule(session, department_code="power", category_code="street_light", grid_prefix="E01")
    places = [
        ("", ""),
        ("东华街道", ""),
        ("", "W01"),
        ("", "E0123"),
        ("东华街道", "E0123"),
        ("西园街道", "X"),
    ]
    codes = ["", *(c.code for c in session.scalars(select(Category)))]

    for code, (street, grid) in itertools.product(codes, places):
        preview = route_preview(session, code, street, grid)
        chosen = catalogue.route(
            session,
            catalogue.category_by_code(session, code) if code else None,
            street=street,
            grid_cell=grid,
        )
        assert preview.department == chosen, (code, street, grid)
        assert (preview.decided_by is Decision.NONE) == (chosen is None)
