"""What the files of an access repository must agree on, beyond each file's own schema. Pure.

`jitflow validate` judges, besides the request files:
- `jitflow.yaml` itself (strictly, as apply reads it: unknown keys, unquoted account ids);
- that each policy's `account` is among its `accounts`: apply refuses a grant in an account
  jitflow.yaml does not name, so the mistake would show only after review and merge;
- that jitflow's workflows (`.github/workflows/jitflow-*.yml`) repeat the default branch and
  the region as jitflow.yaml states them: every branch filter of their triggers names the
  default branch only, and every literal `region` / `aws-region` input is the region.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath

import yaml

from jitflow.model import PolicySet, Settings
from jitflow.problems import Problem
from jitflow.settings import SETTINGS_FILE, read_settings
from jitflow.tree import Tree

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML built without libyaml: the same nodes, slower
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

WORKFLOWS_DIR = ".github/workflows"
_TRIGGERS_WITH_BRANCHES = ("push", "pull_request", "pull_request_target", "pull_request_review")
_REGION_KEYS = ("aws-region", "region")
_MAX_WORKFLOW_BYTES = 1024 * 1024


def repository_problems(tree: Tree, policies: PolicySet) -> list[Problem]:
    """jitflow.yaml's problems and everything that disagrees with it (paths relative to the
    tree's root); nothing when the tree has no jitflow.yaml."""
    raw = tree.read(SETTINGS_FILE)
    if raw is None:
        return []
    settings, problems = read_settings(raw, SETTINGS_FILE)
    if settings is None:
        return problems
    workflows = {path: tree.read(path) or b"" for path in tree.list(WORKFLOWS_DIR)
                 if is_jitflow_workflow(path)}
    return account_problems(policies, settings) + workflow_problems(workflows, settings)


def is_jitflow_workflow(path: str) -> bool:
    pure = PurePosixPath(path)
    return (str(pure.parent) == WORKFLOWS_DIR and pure.name.startswith("jitflow-")
            and pure.suffix in (".yml", ".yaml"))


def account_problems(policies: PolicySet, settings: Settings) -> list[Problem]:
    """A policy whose account jitflow.yaml does not name: nothing under it could be granted."""
    known = ", ".join(sorted(settings.accounts))
    return [
        Problem(policy.path, *policy.where("account"),
                f"account {policy.account} is not among the accounts of {SETTINGS_FILE} "
                f"({known}): apply would refuse every grant under policy {name!r}; add the "
                "account there (with the role jitflow assumes in it)")
        for name, policy in sorted(policies.policies.items())
        if policy.account not in settings.accounts
    ]


def workflow_problems(workflows: Mapping[str, bytes], settings: Settings) -> list[Problem]:
    """Branches and regions in jitflow's workflows that differ from jitflow.yaml's."""
    problems: list[Problem] = []
    for path, raw in sorted(workflows.items()):
        root, problem = _compose(raw, path)
        if problem is not None:
            problems.append(problem)
        elif root is not None:
            problems += _branch_problems(root, path, settings)
            problems += _region_problems(root, path, settings)
    return problems


def _compose(raw: bytes, path: str) -> tuple[yaml.Node | None, Problem | None]:
    """The file's node tree (positions, no objects built; aliases are not expanded)."""
    if len(raw) > _MAX_WORKFLOW_BYTES:
        return None, Problem(path, None, None, "larger than 1 MiB: not read")
    try:
        return yaml.compose(raw.decode("utf-8"), Loader=_Loader), None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        return None, Problem(path, None, None, f"not readable as YAML: {error}")


def _at(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for name, value in node.value
                 if isinstance(name, yaml.ScalarNode) and name.value == key), None)


def _branch_problems(root: yaml.Node, path: str, settings: Settings) -> list[Problem]:
    triggers = _get(root, "on")
    problems = []
    for trigger in _TRIGGERS_WITH_BRANCHES:
        branches = _get(_get(triggers, trigger), "branches")
        if branches is None:
            continue
        names = [n.value for n in branches.value if isinstance(n, yaml.ScalarNode)] \
            if isinstance(branches, yaml.SequenceNode) else \
            [branches.value] if isinstance(branches, yaml.ScalarNode) else []
        if names != [settings.default_branch]:
            problems.append(Problem(
                path, *_at(branches),
                f"on.{trigger}.branches is {names}, but {SETTINGS_FILE} says the default branch "
                f"is {settings.default_branch!r}: a jitflow workflow runs on that branch only"))
    return problems


def _scalars_under(node: yaml.Node, keys: tuple[str, ...],
                   seen: set[int] | None = None) -> Iterator[yaml.ScalarNode]:
    """Every scalar value of a mapping key in `keys`, anywhere below `node` (each node once:
    an alias can make the tree a graph, even a cycle)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            if isinstance(value, yaml.ScalarNode) and getattr(name, "value", None) in keys:
                yield value
            else:
                yield from _scalars_under(value, keys, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars_under(item, keys, seen)


def _region_problems(root: yaml.Node, path: str, settings: Settings) -> list[Problem]:
    return [
        Problem(path, *_at(value),
                f"region {value.value!r} differs from {SETTINGS_FILE}'s region "
                f"{settings.region!r}: state it once, or the same everywhere")
        for value in _scalars_under(root, _REGION_KEYS)
        if "${{" not in value.value and value.value != settings.region
    ]
