"""Label and field selectors, parsed and matched as the API server does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# A parsed selector is a list of requirements; each takes a getter and answers.
Requirement = Callable[[Callable[[str], str | None]], bool]

_SPECIAL = "=!(),><"
_SPACE = " \t\r\n"
_SYMBOLS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")
_KEYWORDS = ("in", "notin")
_BINARY = "in, notin, =, ==, !=, gt, lt"
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)


class SelectorError(ValueError):
    """A selector that does not parse (the message is the real server's)."""


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _key_problems(key: str) -> list[str]:
    """The reasons a label key is not a qualified name (`IsQualifiedName`)."""
    parts = key.split("/")
    if len(parts) > 2:
        rule = _regex_error(_NAME_RULE, _NAME_FMT, "MyName", "my.name", "123-abc")
        return [
            f"a qualified name {rule} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    problems = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                problems.append("prefix part must be no more than 253 characters")
            if not _SUBDOMAIN.match(prefix):
                rule = (
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                    "characters, '-' or '.', and must start and end with an alphanumeric character"
                )
                problems.append("prefix part " + _regex_error(rule, _SUBDOMAIN_FMT, "example.com"))
    name = parts[-1]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _NAME.match(name):
        problems.append(
            "name part " + _regex_error(_NAME_RULE, _NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return problems


def _value_problems(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if value and not _NAME.match(value):
        rule = "a valid label must be an empty string or " + _NAME_RULE.removeprefix("must ")
        problems.append(_regex_error(rule, f"({_NAME_FMT})?", "MyValue", "my_value", "12345"))
    return problems


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split a label selector as the real lexer does: (kind, literal) pairs, then `end`."""
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        if pos == len(text):
            tokens.append(("end", ""))
            return tokens
        if text[pos] in _SPECIAL:
            run = ""
            while pos + len(run) < len(text) and text[pos + len(run)] in _SPECIAL:
                run += text[pos + len(run)]
            symbol = next((s for s in _SYMBOLS if run.startswith(s)), None)
            if symbol is None:
                tokens.append(("error", f"error expected: keyword found '{run}'"))
                pos += len(run)
                continue
            tokens.append((symbol, symbol))
            pos += len(symbol)
            continue
        start = pos
        while pos < len(text) and text[pos] not in _SPECIAL and text[pos] not in _SPACE:
            pos += 1
        word = text[start:pos]
        tokens.append((word if word in _KEYWORDS else "id", word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, literal = self.tokens[self.at]
        return ("id" if values and kind in _KEYWORDS else kind), literal

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.at += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == "end":
                return requirements
            if kind not in ("id", "!"):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            kind, literal = self.take()
            if kind == "end":
                return requirements
            if kind != ",":
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        absent = kind == "!"
        if absent:
            kind, key = self.take()
        if kind != "id":
            raise SelectorError(f"found '{key}', expected: identifier")
        if problems := _key_problems(key):
            raise SelectorError(f'<nil>: Invalid value: "{key}": ' + "; ".join(problems))
        if self.peek()[0] in ("end", ","):
            return (
                (lambda get, k=key: get(k) is None)
                if absent
                else (lambda get, k=key: get(k) is not None)
            )
        kind, literal = self.take(values=False)
        if kind not in ("in", "notin", "=", "==", "!=", ">", "<"):
            raise SelectorError(f"found '{literal}', expected: {_BINARY}")
        values = self.set_values() if kind in _KEYWORDS else self.exact_value()
        return _requirement(key, kind, sorted(values))

    def set_values(self) -> set[str]:
        kind, literal = self.take()
        if kind != "(":
            raise SelectorError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return {""}
        if kind not in ("id", ","):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, item = self.take()
            if kind == "id":
                values.add(item)
                after, text = self.peek()
                if after == ")":
                    self.take()
                    return values
                if after != ",":
                    raise SelectorError(f"found '{text}', expected: ',' or ')'")
            elif kind == ",":
                after, _ = self.peek()
                if not values or after in (")", ","):
                    values.add("")
                if after == ")":
                    self.take()
                    return values
            else:
                raise SelectorError(f"found '{item}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in ("end", ","):
            return {""}
        kind, literal = self.take()
        if kind != "id":
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


def _requirement(key: str, op: str, values: list[str]) -> Requirement:
    problems = []
    if op in "><":
        problems += [
            f'values[{i}]: Invalid value: "{v}": '
            "for 'Gt', 'Lt' operators, the value must be an integer"
            for i, v in enumerate(values)
            if not re.fullmatch(r"[+-]?[0-9]+", v)
        ]
    for index, value in enumerate(values):
        if wrong := _value_problems(value):
            problems.append(
                f'values[{index}][{key}]: Invalid value: "{value}": ' + "; ".join(wrong)
            )
    if problems:
        raise SelectorError(problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]")
    wanted = set(values)
    if op in ("in", "=", "=="):
        return lambda get: get(key) in wanted
    if op in ("notin", "!="):
        return lambda get: get(key) not in wanted
    bound = int(values[0])

    def compare(get: Callable[[str], str | None]) -> bool:
        value = get(key)
        if value is None or not re.fullmatch(r"[+-]?[0-9]+", value):
            return False
        return int(value) > bound if op == ">" else int(value) < bound

    return compare


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a `labelSelector` (`app=web,env in (test,prod),!canary,replicas>1`).

    Keys must be qualified names and values label values, as the real parser
    checks them; the error is its message (`unable to parse requirement:
    values[0][app]: Invalid value: "-x": a valid label must be ...`).

    Raises:
        SelectorError: The selector is malformed or names an invalid key or value.
    """
    return _Parser(text or "").parse()


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def parse_field_selector(text: str | None, allowed: set[str]) -> list[Requirement]:
    """Parse a `fieldSelector` (`metadata.name=x,status.phase!=Running`).

    Args:
        text: The selector.
        allowed: The field paths this resource supports.

    Raises:
        SelectorError: The selector is malformed or names a field the resource
            does not support (`field label not supported`).
    """
    requirements: list[Requirement] = []
    for term in _split_top_level(text or ""):
        match = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise SelectorError(f"invalid selector: {term!r}")
        key, op, value = match.groups()
        if key not in allowed:
            raise SelectorError(f"field label not supported: {key}")
        if op == "!=":
            requirements.append(lambda get, k=key, v=value: (get(k) or "") != v)
        else:
            requirements.append(lambda get, k=key, v=value: (get(k) or "") == v)
    return requirements


def matches_labels(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """Return whether labels satisfy every requirement."""
    labels = labels or {}
    return all(req(labels.get) for req in requirements)


def field_value(obj: Mapping[str, Any], path: str) -> str | None:
    """Return the string value at a dotted path of an object, or None."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    if node is None:
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def matches_fields(requirements: list[Requirement], obj: Mapping[str, Any]) -> bool:
    """Return whether an object satisfies every field requirement."""
    return all(req(lambda path: field_value(obj, path)) for req in requirements)
