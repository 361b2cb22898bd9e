"""The only gate caller input passes through: keys are matched against the flow, never trusted.

Whatever the channel reports (letters from A-D keypads, "*#" pressed together, a thousand
digits, control characters from a broken gateway) is either exactly one of the keys the flow
declares, a number that fits the step's rules, or invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from ivr_flows.schema import PHONE_KEYS

T = TypeVar("T")
_KEYS = frozenset(PHONE_KEYS)


def pick_key(pressed: object, choices: Mapping[str, T]) -> T | None:
    """The choice for a single pressed key, or None for anything else."""
    if not isinstance(pressed, str) or len(pressed) != 1:
        return None
    return choices.get(pressed)


def accept_digits(entered: object, *, min_digits: int, max_digits: int, pattern: str | None) -> str | None:
    """The entered number if it has the right length, only phone keys, and matches the pattern."""
    if not isinstance(entered, str) or not min_digits <= len(entered) <= max_digits:
        return None
    # A set check, not str.isdigit(): that also accepts other scripts' digits such as "١٢٣".
    if not set(entered) <= _KEYS:
        return None
    # Length is checked first, so the author's pattern only ever sees a short phone-key string.
    if pattern is not None and not re.fullmatch(pattern, entered):
        return None
    return entered
