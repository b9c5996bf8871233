"""JSON Schema validation of parsed YAML, with findings placed at file positions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jitflow._generated import identities_schema, policy_schema, request_schema, settings_schema
from jitflow.problems import Problem

if TYPE_CHECKING:
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError

    from jitflow.safeyaml import YamlDoc

SCHEMAS = ("request", "policy", "identities", "settings")
# The schemas compiled to plain Python (tools/gen_schema_validators.py): they answer "valid?"
# without importing jsonschema, which then only explains the rare invalid file.
_COMPILED: dict[str, Callable[[Any], Any]] = {
    "request": request_schema.validate,
    "policy": policy_schema.validate,
    "identities": identities_schema.validate,
    "settings": settings_schema.validate,
}


def schema_text(name: str) -> str:
    return (Path(__file__).parent / "schemas" / f"{name}.schema.json").read_text("utf-8")


@cache
def validator(name: str) -> Draft7Validator:
    # Imported here, not at module level: jsonschema is the slowest import on the
    # validate path and `jitflow --help` should not pay for it.
    from jsonschema import Draft7Validator  # noqa: PLC0415

    return Draft7Validator(json.loads(schema_text(name)))


def _field(path: tuple[str | int, ...]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "file"


def _messages(error: ValidationError) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, message) pairs for one jsonschema error, in words for people."""
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = schema.get("description")
    instance: Any = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = set(schema.get("properties", {}))
        for key in instance:
            if key not in known:
                allowed = ", ".join(sorted(known))
                yield (
                    (*path, key),
                    f"unknown key {key!r}" + (f" (allowed: {allowed})" if allowed else ""),
                )
        return
    if error.validator == "required":
        yield path, f"{_field(path)}: missing required key: {error.message.split(' ')[0]}"
        return
    if error.validator == "type" and path and path[-1] == "account" and type(instance) is int:
        yield path, (f'{_field(path)}: an AWS account id must be quoted ("{instance:012d}"): '
                     "unquoted, YAML reads it as a number")
        return
    if error.validator == "type":
        yield path, f"{_field(path)}: expected {error.validator_value}, got {_describe(instance)}"
        return
    if error.validator in ("pattern", "propertyNames") and hint:
        yield path, f"{_field(path)}: {instance!r} is not {hint}"
        return
    text = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    yield (
        path,
        f"{_field(path)}: {text}" + (f" ({hint})" if hint and error.validator != "enum" else ""),
    )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, int | float):
        return f"number {value} (quote it to make it text)"
    return (
        type(value)
        .__name__.replace("dict", "mapping")
        .replace("list", "list")
        .replace("str", "text")
    )


def _fast_error(name: str, data: Any) -> str | None:
    """The compiled validator's finding, or None when the data is valid (the common case)."""
    from fastjsonschema import JsonSchemaException  # noqa: PLC0415

    try:
        _COMPILED[name](data)
    except JsonSchemaException as error:
        return str(error)
    return None


def check(doc: YamlDoc, name: str, path: str) -> list[Problem]:
    """Every schema finding for `doc` against the named shipped schema."""
    fast = _fast_error(name, doc.data)
    if fast is None:
        return []
    problems = []
    for error in validator(name).iter_errors(doc.data):
        for where, message in _messages(error):
            line, col = doc.where(where)
            problems.append(Problem(path, line, col, message))
    if not problems:
        # The compiled validator anchors patterns at the true end of the text ("\\Z") where
        # jsonschema's "$" also accepts a trailing newline: the stricter answer wins.
        problems.append(Problem(path, 1, 1, fast))
    return problems
