"""Copy GitHub REST operations into tests/data/github-openapi-subset.json.

The subset is cut from `generated/api.github.com.json` of `@octokit/openapi` (MIT; the same
cut is kept at `../shared/reference/github-rest/openapi-subset.json` beside this project).
Give that file and the operations to add; each operation comes with its path-level
parameters and every component it refers to, directly or not, exactly as the source has them.
Operations already in the subset are left as they are. The file is written as it always was
(sorted keys, one-space indent, ASCII), so a diff shows only what was added.

    python tools/openapi_subset.py SOURCE.json "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).resolve().parent.parent / "tests" / "data" / "github-openapi-subset.json"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


def _component(source: dict[str, Any], ref: str) -> tuple[str, str, Any]:
    if not ref.startswith("#/components/"):
        raise SystemExit(f"only local component references are supported, not {ref!r}")
    section, name = ref.removeprefix("#/components/").split("/", 1)
    return section, name, source["components"][section][name]


def add_operation(subset: dict[str, Any], source: dict[str, Any], operation: str) -> None:
    method, _, template = operation.partition(" ")
    method = method.lower()
    item = source["paths"].get(template, {})
    if method not in item:
        raise SystemExit(f"{operation}: not in the source description")
    target = subset["paths"].setdefault(template, {})
    target.setdefault(method, item[method])
    if "parameters" in item:
        target.setdefault("parameters", item["parameters"])
    pending = _refs(target[method]) | _refs(target.get("parameters", []))
    while pending:
        section, name, value = _component(source, pending.pop())
        components = subset["components"].setdefault(section, {})
        if name not in components:
            components[name] = value
            pending |= _refs(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the fuller OpenAPI description (JSON)")
    parser.add_argument("operations", nargs="+", metavar="'METHOD /path/{template}'")
    args = parser.parse_args()
    source = json.loads(args.source.read_text(encoding="utf-8"))
    subset = json.loads(SUBSET.read_text(encoding="utf-8"))
    for operation in args.operations:
        add_operation(subset, source, operation)
    SUBSET.write_text(json.dumps(subset, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
