"""YAML loaded with the place of every value, so validation errors can point at a line and column.

:func:`load_marked` returns plain dicts, lists and scalars (subclasses that carry marks); use
:func:`place` to get the (line, column) of a value or of a mapping key's value.
"""

from __future__ import annotations

import numbers
from typing import Any

import yaml

__all__ = ["MarkedDict", "MarkedList", "copy_marked", "load_marked", "marked_as", "place"]


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


MAX_DEPTH = 64  # nesting deeper than any song needs; stops runaway documents early


def _fail(message: str, node: yaml.Node) -> yaml.MarkedYAMLError:
    return yaml.constructor.ConstructorError(None, None, message, node.start_mark)


def _convert(node: yaml.Node, loader: yaml.SafeLoader, memo: dict[int, Any], depth: int = 0) -> Any:
    """Build marked values; an alias reuses the value already built (no exponential blow-up) and an
    alias that contains itself is refused."""
    key_id = id(node)
    if key_id in memo:
        value = memo[key_id]
        if value is _IN_PROGRESS:
            raise _fail("an alias refers to the node that contains it", node)
        return value
    if depth > MAX_DEPTH:
        raise _fail(f"nested more than {MAX_DEPTH} levels deep", node)
    if isinstance(node, yaml.MappingNode):
        memo[key_id] = _IN_PROGRESS
        out = MarkedDict()
        out.mark = _mark(node)
        out.key_marks = {}
        out.name_marks = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, loader, memo, depth + 1)
            if isinstance(key, (dict, list)):
                raise _fail("a mapping key must be a plain value", key_node)
            if key in out:
                raise _fail(f"duplicate key {key!r}", key_node)
            out[key] = _convert(value_node, loader, memo, depth + 1)
            out.key_marks[key] = _mark(value_node)
            out.name_marks[key] = _mark(key_node)
        memo[key_id] = out
        return out
    if isinstance(node, yaml.SequenceNode):
        memo[key_id] = _IN_PROGRESS
        lst = MarkedList(_convert(v, loader, memo, depth + 1) for v in node.value)
        lst.mark = _mark(node)
        lst.item_marks = [_mark(v) for v in node.value]
        memo[key_id] = lst
        return lst
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except Exception as exc:  # a tagged scalar that does not parse (!!float x, !!timestamp x...)
        raise _fail(f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: {exc}", node) from None
    memo[key_id] = value
    return value


_IN_PROGRESS = object()
# libyaml's parser when PyYAML was built with it (several times faster on long note lists); same nodes
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_marked(text: str) -> Any:
    """Parse one YAML document (safe tags only). Raises ``yaml.YAMLError`` with its own place on bad YAML."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise yaml.YAMLError("the document is nested too deeply") from None
        if node is None:
            return None
        return _convert(node, loader, {})
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


def copy_marked(d: MarkedDict) -> MarkedDict:
    """A shallow copy of ``d`` that keeps its marks (edit the copy; the loaded document stays as read)."""
    out = MarkedDict(d)
    out.mark = d.mark
    out.key_marks = dict(getattr(d, "key_marks", {}))
    out.name_marks = dict(getattr(d, "name_marks", {}))
    return out


def marked_data(value: Any) -> Any:
    """A document built in code as YAML would load it: mappings and lists (tuples too) as marked values
    (every mark (0, 0)), integers as int, other real numbers as float; strings, bools and None as they
    are. Anything else is refused (TypeError)."""
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, dict):
        m = MarkedDict({k: marked_data(v) for k, v in value.items()})
        m.mark = (0, 0)
        m.key_marks = dict.fromkeys(value, (0, 0))
        m.name_marks = dict.fromkeys(value, (0, 0))
        return m
    if isinstance(value, (list, tuple)):
        lst = MarkedList(marked_data(v) for v in value)
        lst.mark = (0, 0)
        lst.item_marks = [(0, 0)] * len(value)
        return lst
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not YAML data")


def marked_as(value: Any, mark: tuple[int, int]) -> Any:
    """Plain YAML data as marked values, every mark set to ``mark``."""
    if isinstance(value, dict):
        m = MarkedDict({k: marked_as(v, mark) for k, v in value.items()})
        m.mark = mark
        m.key_marks = dict.fromkeys(value, mark)
        m.name_marks = dict.fromkeys(value, mark)
        return m
    if isinstance(value, list):
        lst = MarkedList(marked_as(v, mark) for v in value)
        lst.mark = mark
        lst.item_marks = [mark] * len(value)
        return lst
    return value
