"""YAML loaded with the place of every value, so validation errors can point at a line and column.

:func:`load_marked` returns plain dicts, lists and scalars (subclasses that carry marks); use
:func:`place` to get the (line, column) of a value or of a mapping key's value.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MarkedDict", "MarkedList", "load_marked", "place"]


class MarkedDict(dict):
    """A mapping with ``mark`` (its own place), ``key_marks`` (the place of each key's value) and
    ``name_marks`` (the place of each key itself)."""

    mark: tuple[int, int] = (0, 0)
    key_marks: dict[Any, tuple[int, int]]
    name_marks: dict[Any, tuple[int, int]]


class MarkedList(list):
    mark: tuple[int, int] = (0, 0)
    item_marks: list[tuple[int, int]]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = MarkedDict()
        out.mark = _mark(node)
        out.key_marks = {}
        out.name_marks = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, loader)
            if isinstance(key, (dict, list)):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            out[key] = _convert(value_node, loader)
            out.key_marks[key] = _mark(value_node)
            out.name_marks[key] = _mark(key_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        lst = MarkedList(_convert(v, loader) for v in node.value)
        lst.mark = _mark(node)
        lst.item_marks = [_mark(v) for v in node.value]
        return lst
    return loader.construct_object(node, deep=True)


def load_marked(text: str) -> Any:
    """Parse one YAML document (safe tags only). Raises ``yaml.YAMLError`` with its own place on bad YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _convert(node, loader)
    finally:
        loader.dispose()


def place(container: Any, key: Any = None) -> tuple[int, int]:
    """(line, column) of ``container[key]`` (or of the container itself when ``key`` is None)."""
    if key is None:
        return getattr(container, "mark", (0, 0))
    if isinstance(container, MarkedDict):
        return container.key_marks.get(key, container.mark)
    if isinstance(container, MarkedList) and isinstance(key, int) and 0 <= key < len(container.item_marks):
        return container.item_marks[key]
    return getattr(container, "mark", (0, 0))
