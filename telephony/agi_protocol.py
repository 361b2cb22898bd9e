"""The AGI wire protocol, as pure functions: request headers, command lines, and replies.

Kept free of I/O so the parsing rules (and their hostile inputs) are unit-tested directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEADERS = 128
HEADER_RE = re.compile(r"^(agi_[a-z0-9_]+): ?(.*)$")
# GET DATA answers with the keys themselves (result=12*#), the other commands with a number.
REPLY_RE = re.compile(r"^(\d{3})(?: result=(-?[0-9*#A-D]*))?(?: \((.*)\))?(?: endpos=(\d+))?")


class AgiProtocolError(Exception):
    """Asterisk (or whatever connected) sent something that is not AGI."""


def parse_header_line(line: str) -> tuple[str, str]:
    match = HEADER_RE.match(line)
    if not match:
        raise AgiProtocolError(f"not an AGI header line: {line[:60]!r}")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class AgiReply:
    code: int
    result: int
    result_text: str
    data: str  # the text in parentheses, e.g. a variable's value or "timeout"
    endpos: int | None
    raw: str


def parse_reply(line: str) -> AgiReply:
    match = REPLY_RE.match(line)
    if not match:
        raise AgiProtocolError(f"unexpected AGI reply: {line[:80]!r}")
    code = int(match.group(1))
    text = match.group(2) or ""
    result = int(text) if re.fullmatch(r"-?\d+", text) else 0
    endpos = int(match.group(4)) if match.group(4) is not None else None
    return AgiReply(code, result, text, match.group(3) or "", endpos, line)


_SAFE_WORD = re.compile(r"^[A-Za-z0-9_./:+-]+$")


def quote_arg(value: str) -> str:
    """Quote one command argument. CR/LF would start a second AGI command, so they are refused."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("AGI argument contains a line break or NUL")
    if value and _SAFE_WORD.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(*words: str) -> bytes:
    """Build one command; the first word is the verb (ours), the rest are quoted arguments."""
    verb, *args = words
    return (" ".join([verb, *(quote_arg(a) for a in args)]) + "\n").encode("utf-8")


def digit_from_result(result: int) -> str:
    """STREAM FILE / WAIT FOR DIGIT report the key as its ASCII code, 0 meaning none."""
    if not 0 < result < 128:  # chr() of a huge number raises, and no key is outside ASCII
        return ""
    char = chr(result)
    return char if char in "0123456789*#ABCD" else ""
