"""Keyset paging's cursor, shared by the searches that list rows newest first (calls with their
recordings, cases): the last row shown, as its time and id, handed to the client as text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEXT = re.compile(r"([0-9]{1,17})-([0-9]{1,10})")


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row shown (its time, and its id to break ties)."""

    at: datetime
    row_id: int

    def encode(self) -> str:
        # Whole microseconds since the epoch: exactly what the database holds, no float rounding.
        micros = (self.at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.row_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor a page handed out; ValueError for anything else."""
        match = _TEXT.fullmatch(text)
        if match is None:
            raise ValueError("a cursor is <microseconds>-<id>, as a page's next_cursor gives it")
        row_id = int(match.group(2))
        if not 0 < row_id < 2**31:
            raise ValueError("cursor: id out of range")
        at = _EPOCH + timedelta(microseconds=int(match.group(1)))
        if at.year > 9000:
            raise ValueError("cursor: time out of range")
        return cls(at, row_id)
