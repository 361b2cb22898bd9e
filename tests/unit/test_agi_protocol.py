"""telephony.agi_protocol: the AGI wire format as pure functions, hostile inputs included."""

from __future__ import annotations

import pytest

from telephony.agi_protocol import (
    AgiProtocolError,
    command_line,
    digit_from_result,
    parse_header_line,
    parse_reply,
    quote_arg,
)

# ----- request headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("agi_uniqueid: 1732178400.12", ("agi_uniqueid", "1732178400.12")),
        ("agi_callerid: 13812345678", ("agi_callerid", "13812345678")),
        ("agi_network_script: hotline", ("agi_network_script", "hotline")),
        ("agi_arg_1: default_12345", ("agi_arg_1", "default_12345")),
        ("agi_calleridname: 张三 (市民)", ("agi_calleridname", "张三 (市民)")),
        ("agi_rdnis: unknown", ("agi_rdnis", "unknown")),
        ("agi_dnid:", ("agi_dnid", "")),
        ("agi_enhanced: 0.0", ("agi_enhanced", "0.0")),
    ],
)
def test_given_an_agi_header_line_when_parsed_then_name_and_value_are_returned(line, expected):
    assert parse_header_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "GET / HTTP/1.1",
        "Host: 127.0.0.1",
        "AGI_UNIQUEID: 1",
        "agi_uniqueid 1",
        "agi_: x",
        " agi_uniqueid: 1",
        "\x16\x03\x01\x02\x00",  # a TLS client hello
    ],
)
def test_given_a_line_that_is_not_an_agi_header_when_parsed_then_it_is_a_protocol_error(line):
    with pytest.raises(AgiProtocolError):
        parse_header_line(line)


# ----- replies -----------------------------------------------------------------------------------


def test_given_a_plain_success_when_parsed_then_code_and_result_are_numbers():
    reply = parse_reply("200 result=0")

    assert (reply.code, reply.result, reply.result_text, reply.data, reply.endpos) == (200, 0, "0", "", None)
    assert reply.raw == "200 result=0"


def test_given_a_variable_value_in_parentheses_when_parsed_then_it_is_the_data():
    reply = parse_reply("200 result=1 (greeting,menu,queue)")

    assert reply.result == 1
    assert reply.data == "greeting,menu,queue"


def test_given_a_value_that_itself_holds_parentheses_when_parsed_then_the_data_keeps_them():
    reply = parse_reply("200 result=1 (张三 (市民))")

    assert reply.data == "张三 (市民)"


def test_given_get_data_digits_with_star_and_hash_when_parsed_then_the_keys_are_the_text_not_a_number():
    reply = parse_reply("200 result=12*#")

    assert reply.result_text == "12*#"
    assert reply.result == 0


def test_given_get_data_timing_out_with_nothing_keyed_when_parsed_then_the_text_is_empty_and_data_timeout():
    reply = parse_reply("200 result= (timeout)")

    assert reply.code == 200
    assert reply.result_text == ""
    assert reply.data == "timeout"


def test_given_get_data_timing_out_after_some_keys_when_parsed_then_the_keys_are_kept():
    reply = parse_reply("200 result=42 (timeout)")

    assert reply.result_text == "42"
    assert reply.result == 42
    assert reply.data == "timeout"


def test_given_stream_file_with_endpos_when_parsed_then_the_position_is_a_number():
    reply = parse_reply("200 result=0 endpos=16000")

    assert reply.result == 0
    assert reply.endpos == 16000


def test_given_stream_file_interrupted_by_a_key_when_parsed_then_the_result_is_the_ascii_code():
    reply = parse_reply("200 result=49 endpos=8000")

    assert reply.result == 49
    assert digit_from_result(reply.result) == "1"
    assert reply.endpos == 8000


def test_given_a_failure_result_when_parsed_then_it_is_minus_one():
    reply = parse_reply("200 result=-1")

    assert reply.result == -1
    assert reply.result_text == "-1"


def test_given_a_negative_result_with_endpos_when_parsed_then_both_are_read():
    reply = parse_reply("200 result=-1 endpos=0")

    assert (reply.result, reply.endpos) == (-1, 0)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("510 Invalid or unknown command", 510),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511),
        ("520 End of proper usage.", 520),
    ],
)
def test_given_an_error_reply_when_parsed_then_the_code_is_kept_and_the_result_is_empty(line, code):
    reply = parse_reply(line)

    assert reply.code == code
    assert reply.result_text == ""
    assert reply.result == 0


@pytest.mark.parametrize("line", ["", "HANGUP", "ok", "20 result=1", "agi_uniqueid: 1"])
def test_given_a_line_that_is_not_a_reply_when_parsed_then_it_is_a_protocol_error(line):
    with pytest.raises(AgiProtocolError):
        parse_reply(line)


# ----- quoting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["/var/lib/hotline/prompts/zh-CN/welcome", "HOTLINE_FLOW_DONE", "1", "5000", "-1", "a+b:c"]
)
def test_given_a_plain_word_when_quoted_then_it_is_sent_as_is(word):
    assert quote_arg(word) == word


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", '""'),
        ("#", '"#"'),
        ("*#", '"*#"'),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\prompts", '"C:\\\\prompts"'),
        ('\\"', '"\\\\\\""'),
        ("greeting,menu", '"greeting,menu"'),
        ("s=3", '"s=3"'),
        ("张三", '"张三"'),
    ],
)
def test_given_a_value_with_spaces_quotes_or_backslashes_when_quoted_then_it_is_one_escaped_argument(
    value, expected
):
    assert quote_arg(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "x\nEXEC System rm",
        "x\rEXEC System rm",
        "x\r\nHANGUP",
        "before\0after",
        "\n",
    ],
)
def test_given_a_line_break_or_nul_when_quoted_then_it_is_refused(value):
    with pytest.raises(ValueError, match="line break or NUL"):
        quote_arg(value)


def test_given_a_command_with_arguments_when_built_then_it_is_one_line_of_quoted_words():
    assert command_line("STREAM", "FILE", "/x/welcome", "#") == b'STREAM FILE /x/welcome "#"\n'
    assert command_line("SET", "VARIABLE", "HOTLINE_IVR_PATH", "greeting,queue") == (
        b'SET VARIABLE HOTLINE_IVR_PATH "greeting,queue"\n'
    )
    assert command_line("ANSWER") == b"ANSWER\n"


def test_given_a_hostile_argument_when_a_command_is_built_then_nothing_is_built():
    with pytest.raises(ValueError):
        command_line("SET", "VARIABLE", "X", "1\nEXEC Dial PJSIP/premium")


def test_given_non_ascii_text_when_a_command_is_built_then_it_is_utf8():
    assert command_line("SET", "VARIABLE", "NAME", "市民") == 'SET VARIABLE NAME "市民"\n'.encode()


# ----- keys reported as ASCII codes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "digit"),
    [(48, "0"), (57, "9"), (42, "*"), (35, "#"), (65, "A"), (68, "D")],
)
def test_given_the_ascii_code_of_a_key_when_converted_then_the_key_is_returned(result, digit):
    assert digit_from_result(result) == digit


@pytest.mark.parametrize("result", [0, -1, 10, 13, 69, 97, 0x10FFFF, 0x110000, 2**40])
def test_given_no_key_or_a_code_that_is_no_key_when_converted_then_the_result_is_empty(result):
    assert digit_from_result(result) == ""
