"""Validate HTTP responses against GitHub's REST OpenAPI description.

The description is `tests/data/github-openapi-subset.json`: the operations a pull-request
approval flow and `jitflow doctor` use (`tools/openapi_subset.py` adds more), cut from
`generated/api.github.com.json` of `@octokit/openapi` 23.0.2 (MIT,
`tests/data/LICENSE-octokit-openapi`). It is OpenAPI 3.0, so schemas are checked with
`openapi_schema_validator.OAS30Validator`, which understands `nullable: true` (plain JSON Schema
does not), with formats checked (`date-time`, `int64`, ... and `uri`, added here).

Two deliberate additions, both stricter than or faithful to GitHub's intent, never looser:

* Undeclared properties are errors. GitHub's schemas rarely say `additionalProperties: false`,
  so a fake could invent a field GitHub never sends and code could come to rely on it; here
  every property of a response must be declared by its schema.
* `nullable: true` beside `oneOf`/`anyOf` with no `type` (e.g. a commit's `author`, which is
  null when the e-mail maps to no account) is ignored by OpenAPI 3.0's rules (nullable only
  qualifies a `type` in the same schema object), so such a schema would reject the null GitHub
  documents. Those schemas are rewritten to "null, or one of these" (`NULLABLE_REWRITES` lists
  where).
* A `discriminator` can only pick a branch for an object, so an OpenAPI 3.0 validator rejects
  every array GitHub documents in such a `oneOf` (the contents endpoint's folder listing,
  `content-directory`, mapped as `"array"`). Those schemas are rewritten to "one of the array
  branches, or the discriminated object branches" (`DISCRIMINATOR_REWRITES` lists where);
  objects are still checked against the branch their discriminator names. Nothing else is
  changed.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_PATH = Path(__file__).parent.parent / "tests" / "data" / "github-openapi-subset.json"
NULLABLE_REWRITES: list[str] = []  # JSON pointers of the schemas rewritten (filled on load)
DISCRIMINATOR_REWRITES: list[str] = []  # likewise
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BASIC_ERROR = {"$ref": "#/components/schemas/basic-error"}
_MAX_MESSAGE = 300


def _rewrite_nullable_compositions(node: Any, pointer: str) -> Any:
    if isinstance(node, list):
        return [_rewrite_nullable_compositions(v, f"{pointer}/{i}") for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {k: _rewrite_nullable_compositions(v, f"{pointer}/{k}") for k, v in node.items()}
    if out.get("nullable") is True and "type" not in out and ({"oneOf", "anyOf"} & out.keys()):
        NULLABLE_REWRITES.append(pointer)
        rest = {k: v for k, v in out.items() if k != "nullable"}
        # OAS 3.0 cannot say "type: null"; a nullable typed schema that only admits None can
        return {"anyOf": [{"type": "object", "nullable": True, "enum": [None]}, rest]}
    return out


def _is_array_schema(raw: dict[str, Any], ref: str) -> bool:
    target: Any = raw
    for part in ref.removeprefix("#/").split("/"):
        target = target.get(part, {}) if isinstance(target, dict) else {}
    return isinstance(target, dict) and target.get("type") == "array"


def _split_array_discriminators(node: Any, pointer: str, raw: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_split_array_discriminators(v, f"{pointer}/{i}", raw) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {k: _split_array_discriminators(v, f"{pointer}/{k}", raw) for k, v in node.items()}
    mapping = out.get("discriminator", {}).get("mapping", {})
    arrays = {key for key, ref in mapping.items() if _is_array_schema(raw, ref)}
    if arrays and "oneOf" in out:
        DISCRIMINATOR_REWRITES.append(pointer)
        array_refs = {mapping[key] for key in arrays}
        objects = {**out, "discriminator": {**out["discriminator"], "mapping": {
            key: ref for key, ref in mapping.items() if key not in arrays}},
            "oneOf": [b for b in out["oneOf"] if b.get("$ref") not in array_refs]}
        return {"oneOf": [*({"$ref": ref} for ref in sorted(array_refs)), objects]}
    return out


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI description, loaded once (with the rewrites described above)."""
    raw = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    NULLABLE_REWRITES.clear()
    DISCRIMINATOR_REWRITES.clear()
    split = _split_array_discriminators(raw, "#", raw)
    loaded: dict[str, Any] = _rewrite_nullable_compositions(split, "#")
    return loaded


def operations() -> set[tuple[str, str]]:
    """Every (METHOD, path template) the description documents."""
    return {
        (method.upper(), template)
        for template, item in spec()["paths"].items()
        for method in item
        if method in _METHODS
    }


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and not any(
        c.isspace() for c in value
    )


_FORMATS = FormatChecker(formats=())
_FORMATS.checkers = dict(oas30_format_checker.checkers)
_FORMATS.checks("uri")(_is_uri)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s (`#/components/...`) to the schema or response they name."""
    seen = 0
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref!r}")
        target: Any = spec()
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
        seen += 1
        if seen > 50:
            raise ValueError(f"reference loop at {ref!r}")
    return node


@functools.cache
def _validator_for(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    # refs like #/components/schemas/x resolve against this root, which carries components
    return OAS30Validator({**schema, "components": spec()["components"]}, format_checker=_FORMATS)


def _validator(schema: dict[str, Any]) -> Any:
    return _validator_for(json.dumps(schema, sort_keys=True))


def response_schema(template: str, method: str, status: int) -> dict[str, Any] | None:
    """The documented JSON schema of a response; None if that status documents no body.

    Raises LookupError when the operation or the status is not documented.
    """
    item = spec()["paths"].get(template)
    operation = (item or {}).get(method.lower())
    if operation is None:
        raise LookupError(f"{method.upper()} {template} is not in GitHub's OpenAPI subset")
    response = operation["responses"].get(str(status))
    if response is None:
        raise LookupError(f"{method.upper()} {template} documents no {status} response")
    content = _resolve(response).get("content", {})
    media = content.get("application/json")
    if media is None or "schema" not in media:
        return None
    schema: dict[str, Any] = media["schema"]
    return schema


def _describe(error: ValidationError) -> str:
    where = error.json_path
    message = error.message
    if error.context:  # oneOf/anyOf: say why the closest branch failed
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        message += f" (closest: {deepest.json_path}: {deepest.message})"
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{where}: {message}"


def _undeclared(schema: dict[str, Any], instance: Any, where: str) -> Iterator[str]:
    """Properties present in `instance` that `schema` does not declare."""
    schema = _resolve(schema)
    if instance is None:
        return
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branches = schema[key]
            mapping = schema.get("discriminator", {}).get("mapping", {})
            prop = schema.get("discriminator", {}).get("propertyName")
            if prop and isinstance(instance, dict) and instance.get(prop) in mapping:
                branches = [{"$ref": mapping[instance[prop]]}]
            for branch in branches:
                if _validator(branch).is_valid(instance):
                    yield from _undeclared(branch, instance, where)
                    break
            return
    declared: dict[str, Any] = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        declared.update(_resolve(part).get("properties", {}))
    if isinstance(instance, dict):
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if key in declared:
                yield from _undeclared(declared[key], value, f"{where}.{key}")
            elif isinstance(extra, dict):
                yield from _undeclared(extra, value, f"{where}.{key}")
            elif extra is None and declared:
                yield f"{where}.{key}: not declared by GitHub's schema (a field GitHub never sends)"
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            yield from _undeclared(schema["items"], item, f"{where}[{i}]")


def validate_body(schema: dict[str, Any], body: Any) -> list[str]:
    """Errors of `body` against one schema (with `$ref`s into components), strictly."""
    errors = sorted(_validator(schema).iter_errors(body), key=lambda e: list(map(str, e.path)))
    found = [_describe(e) for e in errors]
    if not found:
        found = list(_undeclared(schema, body, "$"))
    return found


def validate_response(template: str | None, method: str, status: int, body: Any) -> list[str]:
    """Errors of one response against GitHub's OpenAPI; an empty list means it conforms.

    `template` is the OpenAPI path template (e.g. `/repos/{owner}/{repo}/pulls/{pull_number}`),
    or None for a request that matched no operation (then only a 4xx with GitHub's error
    body conforms). A documented status is checked against its schema. An undocumented 4xx
    must carry GitHub's `basic-error` body (GitHub documents 401/403/404 per operation only
    sometimes); an undocumented 1xx/2xx/3xx/5xx is an error.
    """
    label = f"{method.upper()} {template or '(no operation)'} -> {status}"
    schema: dict[str, Any] | None
    if template is None:
        if not 400 <= status < 500:
            return [f"{label}: an unknown path must be answered with a 4xx"]
        schema = _BASIC_ERROR
    else:
        try:
            schema = response_schema(template, method, status)
        except LookupError as missing:
            is_operation = (method.upper(), template) in operations()
            if not is_operation or not 400 <= status < 500:
                return [f"{label}: {missing}"]
            schema = _BASIC_ERROR
        if schema is None:
            if body is None:
                return []
            if status >= 400:
                schema = _BASIC_ERROR
            else:
                return [f"{label}: GitHub documents no body for this response"]
    return [f"{label}: {e}" for e in validate_body(schema, body)]


def served_problems(served: Iterable[Any], *, allow_unknown_paths: bool = False) -> list[str]:
    """Problems in what a fake served (records with method, path, template, status, body)."""
    problems = []
    for record in served:
        if record.status >= 500:
            problems.append(f"{record.method} {record.path}: the fake failed with {record.status}")
            continue
        if record.template is None and record.status == 404 and not allow_unknown_paths:
            problems.append(
                f"{record.method} {record.path}: requested a path the fake does not serve "
                "(not in the OpenAPI subset, or not implemented); it answered 404"
            )
        for error in validate_response(record.template, record.method, record.status, record.body):
            problems.append(f"{error}  [request: {record.method} {record.path}]")
    return problems


def example(name: str) -> Any:
    """A deep copy of one of the description's examples (`components/examples/<name>`)."""
    return copy.deepcopy(spec()["components"]["examples"][name]["value"])
