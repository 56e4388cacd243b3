"""Read a YAML or JSON document into plain data and remember the line and column of every value,
so that validation errors can name where in the file the problem is."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_SOURCE_CHARS = 1_000_000

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column in the source text."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where (when known) and what."""

    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        if self.column is None:
            return f"line {self.line}: {self.message}"
        return f"line {self.line}, column {self.column}: {self.message}"


class ProblemsError(Exception):
    """A document was refused; `problems` lists every problem found, in source order."""

    def __init__(self, problems: list[Problem], source_name: str = "<document>"):
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        self.source_name = source_name
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{self.source_name}: {count} problem{'s' if count != 1 else ''}"
        return head + "".join(f"\n  {p}" for p in self.problems)


class SourceError(Exception):
    """The text is not well-formed YAML or JSON (or uses a feature we refuse)."""

    def __init__(self, message: str, position: Position | None):
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of the loaded document starts."""

    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    # scalar style per path: None for plain, "'" or '"' for quoted, "|" or ">" for block scalars;
    # single-line plain and quoted scalars let a problem inside the text point at its column
    styles: dict[Path, str | None] = field(default_factory=dict)
    multiline: set[Path] = field(default_factory=set)

    def value_at(self, path: Path) -> Position | None:
        """The position of the value at `path`, or of the nearest enclosing value that has one."""
        path = tuple(path)
        while True:
            if path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]

    def key_at(self, path: Path) -> Position | None:
        """The position of the key of the mapping entry at `path` (falls back to the value)."""
        path = tuple(path)
        if path in self.keys:
            return self.keys[path]
        return self.value_at(path)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans, so `on:`, `yes`, `no`,
    `off` stay strings (YAML 1.1 would turn the key `on` of a wait step into True)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _pos(mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _compose(text: str, source_name: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.problem:
            problem = f"{problem} ({exc.context})"
        raise SourceError(f"not valid YAML: {problem}", _pos(mark) if mark else None) from None
    except yaml.YAMLError as exc:  # e.g. a document that is not one stream
        raise SourceError(f"not valid YAML: {exc}", None) from None


class _Builder:
    def __init__(self) -> None:
        self.map = SourceMap()
        self.seen: set[int] = set()
        self.constructor = _Loader("")

    def build(self, node: yaml.Node, path: Path, json_value: Any = None, use_json: bool = False) -> Any:
        if id(node) in self.seen:
            raise SourceError("anchors and aliases (&name, *name) are not allowed", _pos(node.start_mark))
        self.seen.add(id(node))
        self.map.values[path] = _pos(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            if node.tag == "tag:yaml.org,2002:map" and any(
                    k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
                raise SourceError("merge keys (<<) are not allowed", _pos(node.start_mark))
            pairs = json_value if use_json else None
            result: dict[str, Any] = {}
            for index, (key_node, value_node) in enumerate(node.value):
                if not isinstance(key_node, yaml.ScalarNode):
                    raise SourceError("a key must be a plain name", _pos(key_node.start_mark))
                key = key_node.value
                if key in result:
                    first = self.map.keys.get(path + (key,))
                    where = f" (first given on line {first.line})" if first else ""
                    raise SourceError(f"key '{key}' is given twice{where}", _pos(key_node.start_mark))
                self.map.keys[path + (key,)] = _pos(key_node.start_mark)
                sub_json = pairs[index][1] if pairs is not None else None
                result[key] = self.build(value_node, path + (key,), sub_json, use_json)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), json_value[i] if use_json else None, use_json)
                    for i, item in enumerate(node.value)]
        self.map.styles[path] = node.style
        if node.start_mark.line != node.end_mark.line:
            self.map.multiline.add(path)
        if use_json:
            return json_value
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise SourceError(f"cannot read this value: {exc}", _pos(node.start_mark)) from None


def _json_pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs


def _looks_like_json(text: str, source_name: str) -> bool:
    if source_name.lower().endswith(".json"):
        return True
    stripped = text.lstrip()
    return stripped.startswith(("{", "["))


def load_source(text: str, *, source_name: str = "<definition>") -> tuple[Any, SourceMap]:
    """Parse YAML or JSON text. Returns the data (dicts, lists, scalars) and where each part is.

    JSON is read with the json module (exact JSON semantics); its positions come from reading the
    same text as YAML flow style. Raises SourceError with a position on malformed input."""
    if len(text) > MAX_SOURCE_CHARS:
        raise SourceError(f"the document is larger than {MAX_SOURCE_CHARS} characters", None)
    builder = _Builder()
    if _looks_like_json(text, source_name):
        try:
            json_data = json.loads(text, object_pairs_hook=_json_pairs)
        except json.JSONDecodeError as exc:
            if source_name.lower().endswith(".json"):
                raise SourceError(f"not valid JSON: {exc.msg}", Position(exc.lineno, exc.colno)) from None
        except RecursionError:
            raise SourceError("the document is nested too deeply", None) from None
        else:
            # Tabs outside strings are JSON whitespace but not YAML whitespace; inside JSON strings
            # raw tabs are not allowed, so replacing every tab keeps the columns and the meaning.
            node = _compose(text.replace("\t", " "), source_name)
            if node is None:
                return None, builder.map
            return builder.build(node, (), json_data, True), builder.map
    node = _compose(text, source_name)
    if node is None:
        return None, builder.map
    try:
        return builder.build(node, ()), builder.map
    except RecursionError:
        raise SourceError("the document is nested too deeply", None) from None
