"""Read a flow file's YAML into plain data while remembering the line of every key.

PyYAML's ``safe_load`` forgets where things were written; composing the node tree and building
the data ourselves keeps each key's line, so a finding deep inside a step can say ``file:14``.
Building it ourselves also lets us refuse what a flow never needs and a plain load lets through:
duplicate keys (the last would silently win), non-text keys (YAML reads ``1:`` as an int and
``on:`` as True), and alias bombs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ivr_flows.errors import FlowError, KeyPath

MAX_FILE_BYTES = 256 * 1024
# Aliases share nodes, so a small file can expand to a huge tree; flows never come near these.
MAX_NODES = 20_000
MAX_DEPTH = 16


@dataclass(frozen=True)
class MarkedDocument:
    data: Any
    lines: dict[KeyPath, int]
    source: str

    def line_of(self, path: KeyPath) -> int:
        """The line of the deepest key along ``path`` that the file actually contains."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[KeyPath, int] = {}
        self.nodes = 0
        self.scalars = SafeConstructor()

    def fail(self, node: Node, message: str) -> FlowError:
        return FlowError([f"{self.source}:{node.start_mark.line + 1}: {message}"])

    def build(self, node: Node, path: KeyPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or len(path) > MAX_DEPTH:
            raise self.fail(node, "too large or too deeply nested for a flow (check for looping aliases)")
        if isinstance(node, ScalarNode):
            return self.scalars.construct_object(node)
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        if isinstance(node, MappingNode):
            mapping: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise self.fail(key_node, "a key must be plain text")
                # The key as written: "1" stays "1" and "on" stays "on", whatever YAML 1.1 thinks.
                key = str(key_node.value)
                if key in mapping:
                    raise self.fail(key_node, f"{key!r} is given twice")
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                mapping[key] = self.build(value_node, (*path, key))
            return mapping
        raise self.fail(node, "unsupported YAML node")


def read_marked_yaml(text: str, source: str) -> MarkedDocument:
    """Parse one YAML document; raise FlowError naming the file and line of any problem."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise FlowError([f"{source}:1: larger than {MAX_FILE_BYTES // 1024} KiB; a flow is never this big"])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = exc.problem or exc.context or "unreadable"
        # PyYAML often notices a problem lines after its cause (an unclosed "[" at the end of
        # the file); the context says where the unfinished thing began.
        if exc.problem and exc.context and exc.context_mark is not None:
            message += f" ({exc.context}, from line {exc.context_mark.line + 1})"
        raise FlowError([f"{source}:{line}: not valid YAML: {message}"]) from None
    except yaml.YAMLError as exc:
        raise FlowError([f"{source}:1: not valid YAML: {exc}"]) from None
    if root is None:
        raise FlowError([f"{source}:1: the file is empty"])
    builder = _Builder(source)
    builder.lines[()] = root.start_mark.line + 1
    data = builder.build(root, ())
    return MarkedDocument(data, builder.lines, source)
