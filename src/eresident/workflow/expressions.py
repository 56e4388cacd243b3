"""The condition language of automatic steps: a small, typed, side-effect-free expression
language with its own tokenizer and recursive-descent parser. Nothing here calls eval, exec or
compile; an expression can only read the case's declared facts.

Grammar (lowest precedence first):

    expression  := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | comparison
    comparison  := sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=") sum
                       | ["not"] "in" sum ]
    sum         := unary (("+" | "-") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "true" | "false" | "null" | NAME
                 | "(" expression ")" | "[" [expression ("," expression)* [","]] "]"
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_EXPRESSION_CHARS = 2000
MAX_DEPTH = 50
MAX_NUMBER_CHARS = 30

FACT_TYPES = ("bool", "int", "number", "string", "list[string]", "list[number]")
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})


class ExpressionError(Exception):
    """An expression that does not parse or does not type-check. `position` is the 0-based
    character offset in the expression text."""

    def __init__(self, message: str, position: int = 0):
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at character {self.position + 1})"


# --- tokens -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num", "str", "name", "kw", "op", "end"
    value: Any
    pos: int
    text: str


_TWO_CHAR_OPS = ("==", "!=", "<=", ">=")
_ONE_CHAR_OPS = "<>()[],+-"
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def tokenize(source: str) -> list[Token]:
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c in " \t\r\n":
            i += 1
            continue
        start = i
        if c.isascii() and (c.isdigit() or (c == "." and i + 1 < n and source[i + 1].isdigit())):
            while i < n and source[i].isascii() and (source[i].isdigit() or source[i] in "._"):
                i += 1
            if i < n and source[i] in "eE":
                j = i + 1
                if j < n and source[j] in "+-":
                    j += 1
                if j < n and source[j].isascii() and source[j].isdigit():
                    i = j
                    while i < n and source[i].isascii() and source[i].isdigit():
                        i += 1
            text = source[start:i]
            if i < n and (source[i].isalnum() or source[i] == "_"):
                raise ExpressionError(f"'{text}{source[i]}…' is not a number or a name", start)
            if len(text) > MAX_NUMBER_CHARS or "__" in text or text.endswith("_"):
                raise ExpressionError(f"'{text}' is not a number this language accepts", start)
            try:
                value: Any = float(text) if any(ch in text for ch in ".eE") else int(text)
            except ValueError:
                raise ExpressionError(f"'{text}' is not a number", start) from None
            if isinstance(value, float) and not math.isfinite(value):
                raise ExpressionError(f"'{text}' is too large", start)
            tokens.append(Token("num", value, start, text))
            continue
        if c.isascii() and (c.isalpha() or c == "_"):
            while i < n and source[i].isascii() and (source[i].isalnum() or source[i] == "_"):
                i += 1
            word = source[start:i]
            tokens.append(Token("kw" if word in KEYWORDS else "name", word, start, word))
            continue
        if c in "'\"":
            quote, i, chars = c, i + 1, []
            while True:
                if i >= n:
                    raise ExpressionError("this text has no closing quote", start)
                ch = source[i]
                if ch == quote:
                    i += 1
                    break
                if ch == "\\":
                    if i + 1 >= n or source[i + 1] not in _ESCAPES:
                        raise ExpressionError("unknown escape in text (use \\\\, \\', \\\", \\n or \\t)", i)
                    chars.append(_ESCAPES[source[i + 1]])
                    i += 2
                    continue
                if ch in "\r\n":
                    raise ExpressionError("text may not run over a line end", start)
                chars.append(ch)
                i += 1
            tokens.append(Token("str", "".join(chars), start, source[start:i]))
            continue
        two = source[i:i + 2]
        if two in _TWO_CHAR_OPS:
            tokens.append(Token("op", two, start, two))
            i += 2
            continue
        if c in _ONE_CHAR_OPS:
            tokens.append(Token("op", c, start, c))
            i += 1
            continue
        if c == "=":
            raise ExpressionError("use '==' to compare ('=' alone is not an operator)", start)
        if c in "&|!":
            hint = {"&": "and", "|": "or", "!": "not"}[c]
            raise ExpressionError(f"unexpected '{c}': write '{hint}'", start)
        raise ExpressionError(f"unexpected character {c!r}", start)
    tokens.append(Token("end", None, n, ""))
    return tokens


# --- syntax tree ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Any, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not" or "-"
    operand: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "and" "or" "==" "!=" "<" "<=" ">" ">=" "in" "not in" "+" "-"
    left: Any
    right: Any
    pos: int


Node = Literal | Fact | ListOf | Unary | Binary


class _Parser:
    def __init__(self, source: str):
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, kind: str, value: Any = None) -> bool:
        token = self.tokens[self.i]
        return token.kind == kind and (value is None or token.value == value)

    def expect(self, kind: str, value: str, what: str) -> Token:
        if not self.at(kind, value):
            raise ExpressionError(f"expected {what} but found {self.describe(self.peek())}", self.peek().pos)
        return self.take()

    @staticmethod
    def describe(token: Token) -> str:
        return "the end of the expression" if token.kind == "end" else f"'{token.text}'"

    def nested(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep", pos)

    def parse(self) -> Node:
        if self.at("end"):
            raise ExpressionError("the expression is empty", 0)
        node = self.or_expr()
        if not self.at("end"):
            token = self.peek()
            raise ExpressionError(f"unexpected {self.describe(token)} after a complete expression "
                                  "(missing 'and' or 'or'?)", token.pos)
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.at("kw", "or"):
            token = self.take()
            node = Binary("or", node, self.and_expr(), token.pos)
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.at("kw", "and"):
            token = self.take()
            node = Binary("and", node, self.not_expr(), token.pos)
        return node

    def not_expr(self) -> Node:
        if self.at("kw", "not"):
            token = self.take()
            self.nested(token.pos)
            node = Unary("not", self.not_expr(), token.pos)
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        token = self.peek()
        if token.kind == "op" and token.value in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            node: Node = Binary(token.value, left, self.sum(), token.pos)
        elif token.kind == "kw" and token.value == "in":
            self.take()
            node = Binary("in", left, self.sum(), token.pos)
        elif (token.kind == "kw" and token.value == "not"
              and self.tokens[self.i + 1].kind == "kw" and self.tokens[self.i + 1].value == "in"):
            self.take()
            self.take()
            node = Binary("not in", left, self.sum(), token.pos)
        else:
            return left
        after = self.peek()
        if (after.kind == "op" and after.value in ("==", "!=", "<", "<=", ">", ">=")) or (
                after.kind == "kw" and after.value == "in"):
            raise ExpressionError("comparisons cannot be chained: join them with 'and'", after.pos)
        return node

    def sum(self) -> Node:
        node = self.unary()
        while self.at("op", "+") or self.at("op", "-"):
            token = self.take()
            node = Binary(token.value, node, self.unary(), token.pos)
        return node

    def unary(self) -> Node:
        if self.at("op", "-"):
            token = self.take()
            self.nested(token.pos)
            operand = self.unary()
            self.depth -= 1
            if isinstance(operand, Literal) and type(operand.value) in (int, float):
                return Literal(-operand.value, token.pos)
            return Unary("-", operand, token.pos)
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind in ("num", "str"):
            return Literal(token.value, token.pos)
        if token.kind == "kw" and token.value in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[token.value], token.pos)
        if token.kind == "name":
            return Fact(token.value, token.pos)
        if token.kind == "op" and token.value == "(":
            self.nested(token.pos)
            node = self.or_expr()
            self.depth -= 1
            self.expect("op", ")", "')'")
            return node
        if token.kind == "op" and token.value == "[":
            self.nested(token.pos)
            items = []
            while not self.at("op", "]"):
                items.append(self.or_expr())
                if not self.at("op", ","):
                    break
                self.take()
            self.depth -= 1
            self.expect("op", "]", "',' or ']'")
            return ListOf(tuple(items), token.pos)
        if token.kind == "kw":
            raise ExpressionError(f"'{token.value}' cannot stand here: a value or a fact is missing "
                                  "before it", token.pos)
        raise ExpressionError(f"expected a value or a fact but found {self.describe(token)}", token.pos)


def parse(source: str) -> Node:
    """Parse text into a syntax tree, or raise ExpressionError (and nothing else)."""
    try:
        return _Parser(source).parse()
    except RecursionError:  # defensive: MAX_DEPTH keeps recursion far below Python's limit
        raise ExpressionError("the expression is nested too deeply", 0) from None


# --- types ------------------------------------------------------------------------------------

def _is_number(t: str) -> bool:
    return t in ("int", "number")


def _list_item(t: str) -> str | None:
    return t[5:-1] if t.startswith("list[") else None


def _comparable(a: str, b: str) -> bool:
    if a == "null" or b == "null":
        return True
    if _is_number(a) and _is_number(b):
        return True
    if a == b:
        return True
    ia, ib = _list_item(a), _list_item(b)
    if ia is not None and ib is not None:
        return ia == "any" or ib == "any" or _comparable(ia, ib)
    return False


def _describe_type(t: str) -> str:
    return {"bool": "true/false", "int": "a whole number", "number": "a number", "string": "text",
            "null": "null"}.get(t, t)


def check_types(node: Node, facts: Mapping[str, str]) -> str:
    """The type of an expression given the declared facts; raises ExpressionError on unknown
    facts and on operations that mix types."""
    if isinstance(node, Literal):
        v = node.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int"
        if isinstance(v, float):
            return "number"
        return "string"
    if isinstance(node, Fact):
        if node.name not in facts:
            from difflib import get_close_matches

            close = get_close_matches(node.name, list(facts), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else (
                " (declare it under 'facts:')" if facts else " (this process declares no facts)")
            raise ExpressionError(f"unknown fact '{node.name}'{hint}", node.pos)
        return facts[node.name]
    if isinstance(node, ListOf):
        item = "any"
        for element in node.items:
            t = check_types(element, facts)
            if t == "null" or _list_item(t) is not None:
                raise ExpressionError("a list may hold only numbers, text or true/false", element.pos)
            if item == "any":
                item = t
            elif _is_number(item) and _is_number(t):
                item = "number" if "number" in (item, t) else "int"
            elif item != t:
                raise ExpressionError(f"a list mixes {_describe_type(item)} and {_describe_type(t)}",
                                      element.pos)
        return f"list[{'number' if item == 'int' else item}]"
    if isinstance(node, Unary):
        t = check_types(node.operand, facts)
        if node.op == "not":
            if t != "bool":
                raise ExpressionError(f"'not' needs true/false, not {_describe_type(t)}", node.pos)
            return "bool"
        if not _is_number(t):
            raise ExpressionError(f"'-' needs a number, not {_describe_type(t)}", node.pos)
        return t
    assert isinstance(node, Binary)
    lt, rt = check_types(node.left, facts), check_types(node.right, facts)
    op = node.op
    if op in ("and", "or"):
        for side, t in ((node.left, lt), (node.right, rt)):
            if t != "bool":
                raise ExpressionError(f"'{op}' needs true/false on both sides, but "
                                      f"{_side_text(side)} is {_describe_type(t)}", node.pos)
        return "bool"
    if op in ("+", "-"):
        if not (_is_number(lt) and _is_number(rt)):
            raise ExpressionError(f"'{op}' needs numbers on both sides", node.pos)
        return "int" if lt == rt == "int" else "number"
    if op in ("==", "!="):
        if not _comparable(lt, rt):
            raise ExpressionError(f"'{op}' compares {_describe_type(lt)} with {_describe_type(rt)}: "
                                  "they can never be equal", node.pos)
        return "bool"
    if op in ("<", "<=", ">", ">="):
        if not ((_is_number(lt) and _is_number(rt)) or (lt == rt == "string")):
            raise ExpressionError(f"'{op}' needs two numbers or two texts, not {_describe_type(lt)} "
                                  f"and {_describe_type(rt)}", node.pos)
        return "bool"
    # in / not in
    member = _list_item(rt)
    if member is None:
        raise ExpressionError(f"'{op}' needs a list on its right, like [\"a\", \"b\"]", node.pos)
    if _list_item(lt) is not None or lt == "null":
        raise ExpressionError(f"'{op}' needs a single value on its left", node.pos)
    if member != "any" and not _comparable(lt, member):
        raise ExpressionError(f"'{op}' looks for {_describe_type(lt)} in a list of "
                              f"{_describe_type(member)}", node.pos)
    return "bool"


def _side_text(node: Node) -> str:
    if isinstance(node, Fact):
        return f"'{node.name}'"
    if isinstance(node, Literal):
        return f"{to_text(node)}"
    return "one side"


# --- printing ---------------------------------------------------------------------------------

_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
               "in": 4, "not in": 4, "+": 5, "-": 5, "neg": 6}


def _literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace(
            "\t", "\\t") + '"'
    return repr(value)


def to_text(node: Node) -> str:
    """Canonical text of a syntax tree; parse(to_text(t)) gives back an equal tree (positions aside)."""
    def wrap(child: Node, min_prec: int) -> str:
        text = to_text(child)
        return f"({text})" if _prec(child) < min_prec else text

    if isinstance(node, Literal):
        text = _literal_text(node.value)
        return text
    if isinstance(node, Fact):
        return node.name
    if isinstance(node, ListOf):
        return "[" + ", ".join(to_text(i) for i in node.items) + "]"
    if isinstance(node, Unary):
        if node.op == "not":
            return "not " + wrap(node.operand, _PRECEDENCE["not"])
        return "-" + wrap(node.operand, _PRECEDENCE["neg"] + 1)
    p = _PRECEDENCE[node.op]
    if p == 4:  # comparisons do not chain: both sides must bind tighter
        return f"{wrap(node.left, 5)} {node.op} {wrap(node.right, 5)}"
    return f"{wrap(node.left, p)} {node.op} {wrap(node.right, p + 1)}"


def _prec(node: Node) -> int:
    if isinstance(node, Literal) and isinstance(node.value, (int, float)) and not isinstance(
            node.value, bool) and node.value < 0:
        return _PRECEDENCE["neg"]
    if isinstance(node, (Literal, Fact, ListOf)):
        return 10
    if isinstance(node, Unary):
        return _PRECEDENCE["not"] if node.op == "not" else _PRECEDENCE["neg"]
    return _PRECEDENCE[node.op]


# --- evaluation -------------------------------------------------------------------------------

class _Missing(Exception):
    def __init__(self, name: str):
        self.name = name


Compiled = Callable[[Mapping[str, Any]], Any]


def _compile(node: Node) -> Compiled:
    """Turn a checked tree into nested closures (plain Python functions; no code generation)."""
    if isinstance(node, Literal):
        value = node.value
        return lambda facts: value
    if isinstance(node, Fact):
        name = node.name

        def fact(facts: Mapping[str, Any]) -> Any:
            value = facts.get(name)
            if value is None:
                raise _Missing(name)
            return value
        return fact
    if isinstance(node, ListOf):
        items = [_compile(i) for i in node.items]
        if all(isinstance(i, Literal) for i in node.items):
            constant = frozenset(i.value for i in node.items)
            return lambda facts: constant
        return lambda facts: frozenset(f(facts) for f in items)
    if isinstance(node, Unary):
        operand = _compile(node.operand)
        if node.op == "not":
            return lambda facts: not operand(facts)
        return lambda facts: -operand(facts)
    left, right = _compile(node.left), _compile(node.right)
    op = node.op
    # Comparing with the literal null asks whether a fact is missing; it never fails.
    if op in ("==", "!=") and (_is_null(node.left) or _is_null(node.right)):
        other = node.right if _is_null(node.left) else node.left
        probe = _compile(other)
        want_missing = op == "=="

        def null_check(facts: Mapping[str, Any]) -> bool:
            try:
                value = probe(facts)
            except _Missing:
                return want_missing
            return (value is None) == want_missing
        return null_check
    if op == "and":
        return lambda facts: left(facts) and right(facts)
    if op == "or":
        return lambda facts: left(facts) or right(facts)
    if op == "==":
        return lambda facts: left(facts) == right(facts)
    if op == "!=":
        return lambda facts: left(facts) != right(facts)
    if op == "<":
        return lambda facts: left(facts) < right(facts)
    if op == "<=":
        return lambda facts: left(facts) <= right(facts)
    if op == ">":
        return lambda facts: left(facts) > right(facts)
    if op == ">=":
        return lambda facts: left(facts) >= right(facts)
    if op == "in":
        return lambda facts: left(facts) in right(facts)
    if op == "not in":
        return lambda facts: left(facts) not in right(facts)
    if op == "+":
        return lambda facts: left(facts) + right(facts)
    if op == "-":
        return lambda facts: left(facts) - right(facts)
    raise AssertionError(op)  # pragma: no cover - the parser makes no other operators


def _is_null(node: Node) -> bool:
    return isinstance(node, Literal) and node.value is None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of a condition: its value, and the facts it needed but did not find (a missing
    fact makes the whole condition false) or found with a value of the wrong type."""

    value: bool
    missing: tuple[str, ...] = ()
    invalid: bool = False


class Expression:
    """A parsed, type-checked condition. Evaluating never raises."""

    __slots__ = ("_fn", "facts_used", "source", "tree")

    def __init__(self, source: str, facts: Mapping[str, str]):
        tree = parse(source)
        result = check_types(tree, facts)
        if result != "bool":
            raise ExpressionError(f"a condition must be true or false, but this is {_describe_type(result)}",
                                  tree.pos)
        self.source = source
        self.tree = tree
        self.facts_used = tuple(sorted(_facts_in(tree)))
        self._fn = _compile(tree)

    def evaluate(self, facts: Mapping[str, Any]) -> Evaluation:
        try:
            value = self._fn(facts)
        except _Missing as missing:
            return Evaluation(False, (missing.name,))
        except (TypeError, ValueError, OverflowError, ArithmeticError):
            return Evaluation(False, (), True)
        if value is True:
            return _TRUE
        if value is False:
            return _FALSE
        return Evaluation(False, (), True)

    def __call__(self, facts: Mapping[str, Any]) -> bool:
        return self.evaluate(facts).value

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


_TRUE = Evaluation(True)
_FALSE = Evaluation(False)


def _facts_in(node: Node) -> set[str]:
    if isinstance(node, Fact):
        return {node.name}
    if isinstance(node, ListOf):
        return set().union(*(_facts_in(i) for i in node.items)) if node.items else set()
    if isinstance(node, Unary):
        return _facts_in(node.operand)
    if isinstance(node, Binary):
        return _facts_in(node.left) | _facts_in(node.right)
    return set()


def compile_condition(source: str, facts: Mapping[str, str]) -> Expression:
    """Parse and type-check a condition against the declared facts {name: type}."""
    for name, kind in facts.items():
        if kind not in FACT_TYPES:
            raise ExpressionError(f"fact '{name}' has unknown type '{kind}'")
    return Expression(source, facts)
