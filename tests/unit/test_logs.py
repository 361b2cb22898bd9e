"""hotline.logs: phone numbers masked before they are logged; one JSON object per log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from hotline.logs import JsonFormatter, mask_number, setup_logging

# ----- mask_number -------------------------------------------------------------------------------


@pytest.mark.parametrize("length", range(3, 21))
def test_given_a_number_of_any_usual_length_when_masked_then_the_full_number_never_shows(length):
    number = "".join(str((7 * i + 3) % 10) for i in range(length))

    masked = mask_number(number)

    assert masked != number
    assert number not in masked
    assert len(masked) == length
    assert "*" in masked
    assert sum(ch.isdigit() for ch in masked) <= length - 1


@pytest.mark.parametrize("length", range(8, 21))
def test_given_a_long_number_when_masked_then_the_last_four_digits_are_kept(length):
    number = "".join(str(i % 10) for i in range(length))

    assert mask_number(number)[-4:] == number[-4:]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13812345678", "138****5678"),
        ("075512345678", "075*****5678"),
        ("12345", "***45"),
        ("110", "***"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_given_typical_numbers_when_masked_then_they_read_as_expected(number, masked):
    assert mask_number(number) == masked


def test_given_punctuation_in_a_number_when_masked_then_only_its_digits_count():
    assert mask_number("+86 138-1234-5678") == "861******5678"


def test_given_hostile_caller_id_when_masked_then_no_markup_or_control_characters_survive():
    masked = mask_number("1381234\r\n<script>\x1b[31m'; DROP TABLE calls;--5678")

    assert all(ch.isalnum() or ch == "*" for ch in masked)
    assert len(masked) <= 32


def test_given_an_enormous_caller_id_when_masked_then_the_result_is_short():
    assert len(mask_number("9" * 10_000)) == 32


# ----- JsonFormatter -----------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.unit.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_given_a_record_with_extra_fields_when_formatted_then_it_is_one_json_object_holding_them(log_lines):
    logger, stream = log_lines

    logger.warning(
        "call %s started",
        "1732178400.1",
        extra={
            "call": "1732178400.1",
            "caller": "138****5678",
            "queue_len": 3,
            "overflow": False,
            "agent": None,
            "wait": 1.5,
            "vars": {"HOTLINE_ROUTE": "queue"},
        },
    )

    (entry,) = parsed(stream)
    assert entry["msg"] == "call 1732178400.1 started"
    assert entry["level"] == "warning"
    assert entry["logger"] == "tests.unit.logs"
    assert (
        entry["call"],
        entry["caller"],
        entry["queue_len"],
        entry["overflow"],
        entry["agent"],
        entry["wait"],
    ) == ("1732178400.1", "138****5678", 3, False, None, 1.5)
    assert entry["vars"] == repr({"HOTLINE_ROUTE": "queue"})
    assert datetime.fromisoformat(str(entry["ts"])).utcoffset() is not None
    assert "args" not in entry and "levelno" not in entry and "pathname" not in entry


def test_given_chinese_text_when_formatted_then_it_is_written_as_is(log_lines):
    logger, stream = log_lines

    logger.info("来电接通", extra={"queue": "综合受理"})

    assert "来电接通" in stream.getvalue()
    assert parsed(stream)[0]["queue"] == "综合受理"


def test_given_line_breaks_in_a_message_when_formatted_then_the_record_stays_on_one_line(log_lines):
    logger, stream = log_lines

    logger.info("caller said %s", 'x\n{"level": "critical"}\r\n', extra={"note": "a\nb"})

    assert stream.getvalue().count("\n") == 1
    (entry,) = parsed(stream)
    assert entry["msg"] == 'caller said x\n{"level": "critical"}\r\n'
    assert entry["level"] == "info"


def test_given_an_exception_when_logged_then_its_traceback_is_in_the_exc_field(log_lines):
    logger, stream = log_lines

    try:
        raise RuntimeError("flow step failed")
    except RuntimeError:
        logger.exception("call handler failed", extra={"call": "1.1"})

    (entry,) = parsed(stream)
    assert entry["level"] == "error"
    assert "Traceback" in str(entry["exc"])
    assert "RuntimeError: flow step failed" in str(entry["exc"])


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)


def test_given_setup_for_a_component_when_logging_then_each_line_names_the_component(
    restored_logging, capsys
):
    setup_logging("INFO", component="tracker")

    logging.getLogger("telephony.calls").info("call started", extra={"call": "1.1"})
    logging.getLogger("telephony.calls").debug("not shown at INFO")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["component"] == "tracker"
    assert entry["call"] == "1.1"
    assert entry["msg"] == "call started"
