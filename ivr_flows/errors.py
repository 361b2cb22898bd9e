"""How a flow file is found wanting: issues located by key path, raised as one error by file and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A location inside a flow document, e.g. ("steps", "greet", "next"); list positions are ints.
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class FlowIssue:
    """One problem with a flow, placed by key path so the loader can name the line it came from."""

    path: KeyPath
    message: str

    @property
    def dotted(self) -> str:
        return ".".join(str(part) for part in self.path)


class FlowError(Exception):
    """A flow cannot be used. Each problem reads ``file:line: key.path: what is wrong``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
