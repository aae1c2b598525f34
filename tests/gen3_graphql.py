"""A small GraphQL reader for the test Gen3 server: enough of the language to answer the
queries Guppy serves (selections, arguments with variables, literals, lists and objects),
and nothing more. Guppy itself is Apollo Server over a schema generated from the
Elasticsearch mappings (uc-cdis/guppy ``src/server/schema.js``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r'\s*(?:(\.\.\.)|([{}()\[\]:,!$=@|])|(-?\d+(?:\.\d+)?)|("(?:[^"\\]|\\.)*")'
                    r'|([A-Za-z_][A-Za-z0-9_]*))')


class GraphQLSyntaxError(ValueError):
    pass


@dataclass
class Selection:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    children: list[Selection] = field(default_factory=list)
    line: int = 1
    column: int = 1


@dataclass
class Variable:
    name: str


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                if text[pos:].strip() == "":
                    break
                raise GraphQLSyntaxError(f"Syntax Error: Unexpected character at {pos}")
            kinds = ("spread", "punct", "number", "string", "name")
            start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
            for kind, value in zip(kinds, match.groups(), strict=True):
                if value is not None:
                    self.tokens.append((kind, value, start))
            pos = match.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise GraphQLSyntaxError(
                f"Syntax Error: Expected \"{value}\", found {token[1] if token else '<EOF>'}")
        self.i += 1
        return token

    def where(self, offset: int) -> tuple[int, int]:
        before = self.text[:offset]
        return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1

    def document(self) -> list[Selection]:
        token = self.peek()
        if token and token[1] == "query":
            self.take()
            token = self.peek()
            if token and token[0] == "name":
                self.take()
            if self.peek() and self.peek()[1] == "(":  # type: ignore[index]
                self._skip_balanced("(", ")")
        selections = self.selection_set()
        if self.peek() is not None:
            raise GraphQLSyntaxError("Syntax Error: Unexpected content after the query")
        return selections

    def _skip_balanced(self, open_: str, close: str) -> None:
        depth = 0
        while True:
            token = self.take()
            depth += token[1] == open_
            depth -= token[1] == close
            if depth == 0:
                return

    def selection_set(self) -> list[Selection]:
        self.take("{")
        out = []
        while self.peek() and self.peek()[1] != "}":  # type: ignore[index]
            kind, name, offset = self.take()
            if kind != "name":
                raise GraphQLSyntaxError(f"Syntax Error: Expected Name, found {name}")
            line, column = self.where(offset)
            sel = Selection(name, line=line, column=column)
            if self.peek() and self.peek()[1] == "(":  # type: ignore[index]
                sel.args = self.arguments()
            if self.peek() and self.peek()[1] == "{":  # type: ignore[index]
                sel.children = self.selection_set()
            out.append(sel)
            if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
        self.take("}")
        return out

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        args: dict[str, Any] = {}
        while self.peek() and self.peek()[1] != ")":  # type: ignore[index]
            name = self.take()[1]
            self.take(":")
            args[name] = self.value()
            if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
        self.take(")")
        return args

    def value(self) -> Any:
        kind, text, _ = self.take()
        if text == "$":
            return Variable(self.take()[1])
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "string":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if text == "[":
            items = []
            while self.peek() and self.peek()[1] != "]":  # type: ignore[index]
                items.append(self.value())
                if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                    self.take()
            self.take("]")
            return items
        if text == "{":
            obj = {}
            while self.peek() and self.peek()[1] != "}":  # type: ignore[index]
                key = self.take()[1]
                self.take(":")
                obj[key] = self.value()
                if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                    self.take()
            self.take("}")
            return obj
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        return text  # an enum value


def parse(text: str) -> list[Selection]:
    """The top-level selections of a query document."""
    return _Parser(text).document()


def resolve(value: Any, variables: dict[str, Any]) -> Any:
    """An argument value with variables substituted."""
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, list):
        return [resolve(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    return value
