"""The Open311 mapping on its own: categories as services, cases as request records, the POSTed
form read and checked, the list filters. No database and no HTTP (the rows are built in memory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from case_bridge import open311
from case_bridge.lifecycle import CaseStatus
from case_bridge.models import Case, CaseEvent, CaseSource, Category, Department
from case_bridge.open311 import FormRefused, QueryRefused

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 9, 18, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def street_light() -> tuple[Category, Category]:
    parent = Category(id=1, code="public_facilities", name="公用设施", name_en="Public facilities")
    leaf = Category(
        id=2,
        code="street_light",
        parent_id=1,
        name="路灯损坏",
        name_en="Street light broken",
        description="A street light that is out",
        keywords="street_light 路灯 灯不亮  路灯",
    )
    return leaf, parent


def bureau() -> Department:
    return Department(id=7, code="city_management", name="城市管理局", name_en="Urban Management Bureau")


def a_case(**fields: object) -> Case:
    values: dict[str, object] = {
        "id": 11,
        "number": "2026091800001",
        "source": CaseSource.OPEN311.value,
        "status": CaseStatus.DISPATCHED.value,
        "content": "人民路12号路灯不亮",
        "caller_name": "张伟",
        "caller_number": "13812345678",
        "caller_email": "zhang.wei@example.cn",
        "address": "人民路12号",
        "lat": 39.9042,
        "lon": 116.4074,
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=1),
        "due_at": datetime(2026, 9, 22, 16, 0, tzinfo=UTC),
        "closed_at": None,
    }
    values.update(fields)
    return Case(**values)


def event(action: str, note: str = "", **data: object) -> CaseEvent:
    return CaseEvent(action=action, note=note, data=dict(data))


def form(*pairs: tuple[str, str]) -> bytes:
    return urlencode(list(pairs)).encode("ascii")


# --- services -----------------------------------------------------------------------------------


def test_given_a_leaf_category_when_listed_then_it_is_a_realtime_service_without_metadata_in_its_group() -> (
    None
):
    leaf, parent = street_light()

    entry = open311.service_entry(leaf, parent, "zh-CN")

    assert entry == {
        "service_code": "street_light",
        "service_name": "路灯损坏",
        "description": "A street light that is out",
        "metadata": False,
        "type": "realtime",
        "keywords": "street_light, 路灯, 灯不亮",
        "group": "公用设施",
    }


def test_given_an_english_site_when_listed_then_names_are_english_and_blank_text_is_null() -> None:
    leaf, parent = street_light()
    leaf.description, leaf.keywords = "", ""

    entry = open311.service_entry(leaf, parent, "en")

    assert (entry["service_name"], entry["group"]) == ("Street light broken", "Public facilities")
    assert entry["description"] is None and entry["keywords"] is None
    assert open311.service_entry(parent, None, "en")["group"] is None


def test_given_keywords_in_any_separator_when_mapped_then_they_are_one_comma_list_each_once() -> None:
    assert open311.keywords_of("噪音 扰民,吵，噪音、 noise\tnoise") == "噪音, 扰民, 吵, noise"


def test_given_a_service_when_defined_then_it_asks_for_no_attribute() -> None:
    leaf, _ = street_light()
    assert open311.service_definition(leaf) == {"service_code": "street_light", "attributes": []}


# --- request records ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(CaseStatus))
def test_given_each_case_status_when_mapped_then_only_finished_ones_are_closed(status: CaseStatus) -> None:
    expected = "open" if status.is_open else "closed"
    assert open311.status_of(a_case(status=status.value)) == expected


def test_given_a_dispatched_case_when_recorded_then_it_reads_as_the_spec_says_without_personal_data() -> None:
    leaf, _ = street_light()
    case = a_case()

    record = open311.request_record(
        case,
        category=leaf,
        department=bureau(),
        notes=None,
        details={"media_url": "https://img.example.cn/1.jpg", "address_id": "A-17", "account_id": "u1"},
        language="zh-CN",
        zone=SHANGHAI,
    )

    assert record == {
        "service_request_id": "2026091800001",
        "status": "open",
        "status_notes": None,
        "service_name": "路灯损坏",
        "service_code": "street_light",
        "description": "人民路12号路灯不亮",
        "agency_responsible": "城市管理局",
        "service_notice": "已转城市管理局办理，2026-09-23 00:00前办结。",
        "requested_datetime": "2026-09-18T10:00:00+08:00",
        "updated_datetime": "2026-09-18T10:01:00+08:00",
        "expected_datetime": "2026-09-23T00:00:00+08:00",
        "address": "人民路12号",
        "address_id": "A-17",
        "zipcode": None,
        "lat": 39.9042,
        "long": 116.4074,
        "media_url": "https://img.example.cn/1.jpg",
    }
    shown = repr(record)
    for private in ("张伟", "13812345678", "zhang.wei@example.cn", "u1"):
        assert private not in shown


def test_given_a_case_not_yet_dispatched_when_recorded_then_no_deadline_and_no_agency() -> None:
    record = open311.request_record(
        a_case(status=CaseStatus.FILED.value, due_at=None),
        category=None,
        department=None,
        notes=None,
        details={},
        language="en",
        zone=SHANGHAI,
    )
    assert record["expected_datetime"] is None and record["agency_responsible"] is None
    assert record["service_notice"] == "Received; a dispatcher will send it to the responsible agency."


def test_given_a_closed_case_when_recorded_then_updated_is_when_it_was_closed_and_no_notice() -> None:
    closed_at = T0 + timedelta(days=2)
    case = a_case(
        status=CaseStatus.EVALUATED.value, closed_at=closed_at, updated_at=closed_at + timedelta(days=1)
    )

    record = open311.request_record(
        case, category=None, department=bureau(), notes="已修复", details={}, language="zh-CN", zone=SHANGHAI
    )

    assert record["status"] == "closed"
    assert record["updated_datetime"] == "2026-09-20T10:00:00+08:00"
    assert record["service_notice"] is None
    assert record["status_notes"] == "已修复"


def test_given_another_site_zone_when_recorded_then_times_carry_that_offset() -> None:
    record = open311.request_record(
        a_case(), category=None, department=None, notes=None, details={}, language="en", zone=UTC
    )
    assert record["requested_datetime"] == "2026-09-18T02:00:00+00:00"


def test_given_the_timeline_when_status_notes_are_read_then_the_last_public_answer_shows() -> None:
    reply = event("reply", reply="路灯已修复")
    assert open311.status_notes([reply], "zh-CN") == "路灯已修复"
    assert open311.status_notes([reply, event("reject_reply", "照片不清楚")], "zh-CN") is None
    fixed_again = [reply, event("reject_reply"), event("reply", reply="已更换灯泡")]
    assert open311.status_notes(fixed_again, "zh-CN") == "已更换灯泡"
    assert (
        open311.status_notes([reply, event("reopen", "市民不满意")], "en") == "Reopened for further handling."
    )
    assert open311.status_notes([event("merge", into="2026091800007")], "en") == (
        "Duplicate of request 2026091800007."
    )
    assert open311.status_notes([event("resolve_on_call", answer="可在网上办理")], "zh-CN") == "可在网上办理"
    assert open311.status_notes([], "zh-CN") is None


def test_given_an_answer_when_posted_then_it_names_the_request_and_no_token() -> None:
    answer = open311.post_answer(a_case(), notice="已受理", account_id="")
    assert answer == {"service_request_id": "2026091800001", "service_notice": "已受理", "account_id": None}


# --- the POSTed form ----------------------------------------------------------------------------


def test_given_a_spec_form_when_read_then_fields_and_attributes_come_out_and_blanks_are_absent() -> None:
    body = form(
        ("api_key", "k"),
        ("service_code", "street_light"),
        ("lat", "39.9042"),
        ("long", "116.4074"),
        ("email", ""),
        ("description", "line one\r\nline two\rthree"),
        ("attribute[WHISPAWN]", "123456"),
        ("attribute[colour][]", "red"),
        ("attribute[colour][]", "blue"),
        ("something_new", "ignored"),
    )

    posted = open311.read_form(body)

    assert posted.get("service_code") == "street_light"
    assert "email" not in posted.fields and "something_new" not in posted.fields
    assert posted.get("description") == "line one\nline two\nthree"
    assert posted.attributes == {"WHISPAWN": ("123456",), "colour": ("red", "blue")}


def test_given_a_form_with_plus_and_percent_escapes_when_read_then_utf8_text_comes_back() -> None:
    posted = open311.read_form(b"description=%E8%B7%AF%E7%81%AF+%E4%B8%8D%E4%BA%AE&api_key=a%2Bb")
    assert posted.get("description") == "路灯 不亮"
    assert posted.get("api_key") == "a+b"


@pytest.mark.parametrize(
    "body",
    [b"description=\xff\xfe", b"description=%FF%FE", b"api_key=a&api_key=b", b"&".join([b"x=1"] * 201)],
    ids=["raw-not-utf8", "escaped-not-utf8", "twice-differently", "too-many-fields"],
)
def test_given_an_unreadable_form_when_read_then_it_is_refused(body: bytes) -> None:
    with pytest.raises(FormRefused):
        open311.read_form(body)


def submission(*pairs: tuple[str, str]) -> open311.Submission:
    return open311.submission_from(open311.read_form(form(("service_code", "street_light"), *pairs)))


@pytest.mark.parametrize(
    "location",
    [
        (("lat", "39.9"), ("long", "116.4")),
        (("address_string", "人民路12号"),),
        (("address_id", "A-17"),),
    ],
    ids=["lat-long", "address_string", "address_id"],
)
def test_given_any_one_location_when_checked_then_it_is_enough(location: tuple[tuple[str, str], ...]) -> None:
    assert submission(*location).service_code == "street_light"


@pytest.mark.parametrize(
    "location",
    [
        (),
        (("lat", ""), ("long", ""), ("address_string", " "), ("address_id", "")),
        (("lat", "39.9"),),
        (("long", "116.4"), ("address_string", "人民路")),
        (("lat", "north"), ("long", "east")),
        (("lat", "nan"), ("long", "116.4")),
        (("lat", "inf"), ("long", "116.4")),
        (("lat", "90.5"), ("long", "116.4")),
        (("lat", "39.9"), ("long", "-180.01")),
    ],
    ids=["none", "all-blank", "lat-only", "long-only", "words", "nan", "inf", "lat-range", "long-range"],
)
def test_given_no_usable_location_when_checked_then_it_is_refused(
    location: tuple[tuple[str, str], ...],
) -> None:
    with pytest.raises(FormRefused):
        submission(*location)


def test_given_descriptions_when_checked_then_4000_characters_and_line_breaks_pass_and_controls_do_not() -> (
    None
):
    place = ("address_string", "人民路12号")
    assert len(submission(place, ("description", "灯" * 4000)).description) == 4000
    assert submission(place, ("description", "a\tb\nc")).description == "a\tb\nc"
    for refused in ("灯" * 4001, "bell\x07", "nul\x00byte", "escape\x1b[31m", "delete\x7f"):
        with pytest.raises(FormRefused):
            submission(place, ("description", refused))


def test_given_single_line_fields_when_they_hold_a_line_break_then_they_are_refused() -> None:
    with pytest.raises(FormRefused):
        submission(("address_string", "人民路\n12号"))


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://files.example/x.jpg", "https://", "/relative.jpg"]
)
def test_given_a_media_url_that_is_no_web_address_when_checked_then_it_is_refused(url: str) -> None:
    with pytest.raises(FormRefused):
        submission(("address_id", "A-17"), ("media_url", url))


def test_given_a_full_form_when_made_a_case_then_it_is_an_open311_case_with_the_caller_kept_inside() -> None:
    checked = submission(
        ("lat", "39.9042"),
        ("long", "116.4074"),
        ("address_string", "人民路12号"),
        ("first_name", "伟"),
        ("last_name", "张"),
        ("phone", "13812345678"),
        ("email", "zhang.wei@example.cn"),
        ("description", "路灯不亮"),
        ("device_id", "tt222111"),
        ("account_id", "123456"),
        ("media_url", "https://img.example.cn/1.jpg"),
        ("attribute[pole]", "17"),
    )

    new = open311.new_case(checked, service_name="路灯损坏", idempotency_key="open311:1:k")

    assert new.source is CaseSource.OPEN311
    assert (new.content, new.title, new.category_code) == ("路灯不亮", "", "street_light")
    assert (new.caller_name, new.caller_number, new.caller_email) == (
        "张伟",
        "13812345678",
        "zhang.wei@example.cn",
    )
    assert (new.lat, new.lon, new.address, new.idempotency_key) == (
        39.9042,
        116.4074,
        "人民路12号",
        "open311:1:k",
    )
    assert open311.details_of(checked) == {
        "media_url": "https://img.example.cn/1.jpg",
        "account_id": "123456",
        "attributes": {"pole": ["17"]},
    }


def test_given_no_description_when_made_a_case_then_the_service_name_is_its_title() -> None:
    new = open311.new_case(submission(("address_id", "A-17")), service_name="路灯损坏", idempotency_key=None)
    assert (new.content, new.title) == ("", "路灯损坏")


def test_given_latin_and_chinese_names_when_joined_then_each_reads_in_its_own_order() -> None:
    assert open311.caller_name("John", "Smith") == "John Smith"
    assert open311.caller_name("伟", "张") == "张伟"
    assert open311.caller_name("", "Smith") == "Smith"


# --- the list's filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2010-01-01T00:00:00Z", datetime(2010, 1, 1, tzinfo=UTC)),
        ("2010-01-01T08:00:00+08:00", datetime(2010, 1, 1, tzinfo=UTC)),
        ("2009-12-31T19:00-05:00", datetime(2010, 1, 1, tzinfo=UTC)),
        ("2010-01-01T00:00:00.5Z", datetime(2010, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2010-01-02", datetime(2010, 1, 1, 16, 0, tzinfo=UTC)),  # the site's midnight
        ("2010", datetime(2009, 12, 31, 16, 0, tzinfo=UTC)),
    ],
)
def test_given_w3c_datetimes_when_parsed_then_they_name_the_same_instant(
    text: str, expected: datetime
) -> None:
    assert open311.parse_w3c(text, SHANGHAI) == expected


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2024-13-45T00:00:00Z",
        "2024-01-01T25:00:00Z",
        "2024-01-01T00:00:00+99:00",
        "2024-01-01T00:00:00",  # a time needs its zone
        "2024-01-01 00:00:00Z",
        "٢٠٢٤-01-01T00:00:00Z",  # other scripts' digits
        "'; DROP TABLE x; --",
    ],
)
def test_given_malformed_datetimes_when_parsed_then_they_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        open311.parse_w3c(text, SHANGHAI)


def query(**filters: object) -> open311.RequestQuery:
    return open311.request_query(now=T0, zone=SHANGHAI, **filters)  # type: ignore[arg-type]


def test_given_no_filter_when_listed_then_the_last_90_days_of_both_statuses() -> None:
    assert query() == open311.RequestQuery(start=T0 - timedelta(days=90), end=T0)


def test_given_one_date_when_listed_then_the_window_is_90_days_from_or_up_to_it() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert query(start_date="2026-01-01T00:00:00Z").end == start + timedelta(days=90)
    assert query(end_date="2026-01-01T00:00:00Z").start == start - timedelta(days=90)


def test_given_ids_when_listed_then_they_override_every_other_filter_even_bad_ones() -> None:
    asked = query(service_request_id=["2026091800001, 2026091800002", "2026091800001"], status=["pending"])
    assert asked == open311.RequestQuery(ids=("2026091800001", "2026091800002"))


def test_given_codes_and_statuses_comma_delimited_or_repeated_when_listed_then_all_are_taken() -> None:
    asked = query(service_code=["street_light,noise", "", "rubbish"], status=["open, closed"])
    assert asked.service_codes == ("street_light", "noise", "rubbish")
    assert asked.statuses == {"open", "closed"}


@pytest.mark.parametrize(
    "filters",
    [
        {"status": ["pending"]},
        {"status": ["open;closed"]},
        {"start_date": "yesterday"},
        {"end_date": "2024-01-01T25:00:00Z"},
        {"start_date": "2026-05-01T00:00:00Z", "end_date": "2026-04-01T00:00:00Z"},
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"},
        {"start_date": "9999-12-31T00:00:00Z"},
        {"end_date": "0001-01-02T00:00:00Z"},
        {"service_request_id": [",".join(str(n) for n in range(1001))]},
        {"service_request_id": ["2026091800001\x00"]},
        {"service_code": ["street\x1blight"]},
    ],
    ids=[
        "status",
        "status-separator",
        "start",
        "end",
        "reversed",
        "over-90-days",
        "past-9999",
        "before-year-1",
        "too-many-ids",
        "nul-in-id",
        "control-in-code",
    ],
)
def test_given_filters_that_cannot_be_used_when_listed_then_they_are_refused(
    filters: dict[str, object],
) -> None:
    with pytest.raises(QueryRefused):
        query(**filters)


def test_given_an_offset_window_when_listed_then_the_instants_are_kept() -> None:
    asked = query(start_date="2026-09-18T09:59:58+08:00", end_date="2026-09-17T21:00:02-05:00")
    assert asked.start == T0 - timedelta(seconds=2)
    assert asked.end == datetime(2026, 9, 18, 2, 0, 2, tzinfo=UTC)
