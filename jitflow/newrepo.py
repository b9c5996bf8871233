"""The files of a new access repository, from jitflow's scaffold (`jitflow init`). Pure.

The scaffold (package data under `jitflow/scaffold/`) holds text files with `{name}`
placeholders. Only a name of lower-case letters, digits and `_` between single braces is a
placeholder; `${{ github.x }}` and `{}` stay as written, so workflow expressions need no
escaping. Every placeholder must have a value, and every value is checked against what it
stands for before it is written anywhere: a value can never add YAML structure.

`.github/CODEOWNERS` is not templated: it is generated from the rendered policies and settings
by `jitflow.codeowners`, exactly as `jitflow codeowners` would write it. The rendered policies
and settings are then read back as jitflow reads them, so a scaffold that would not pass its
own checks is refused before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from jitflow import safeyaml
from jitflow.codeowners import CODEOWNERS_PATH, generate, owner_handle
from jitflow.errors import ConfigError, InvalidInput, UsageError
from jitflow.loader import load_policy_set
from jitflow.settings import SETTINGS_FILE, load_settings
from jitflow.tree import MemoryTree

PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z][a-z0-9_]*)\}(?!\})")
# The files `jitflow init` must write, whatever else the scaffold holds.
REQUIRED = (
    SETTINGS_FILE,
    "policies/identities.yaml",
    "requests/README.md",
    ".github/workflows/jitflow-check.yml",
    ".github/workflows/jitflow-apply.yml",
    ".github/workflows/jitflow-revoke.yml",
    ".pre-commit-config.yaml",
)

_LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "org": (re.compile(_LOGIN), "a GitHub organisation or user name"),
    "repo": (re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]{1,100}"), "a GitHub repository name"),
    "account": (re.compile(r"[0-9]{12}"), "a 12-digit AWS account id"),
    "region": (re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]"), "an AWS region such as us-east-1"),
    "jitflow_sha": (re.compile(r"[0-9a-f]{40}"),
                    "a full 40-character commit id of jitflow (never a branch or tag name)"),
    "default_branch": (
        re.compile(r"(?!.*(?:\.\.|//|@\{|\.lock$|/$|\.$))[A-Za-z][A-Za-z0-9._/-]{0,254}"),
        "a branch name starting with a letter (letters, digits, '.', '_', '/', '-')"),
    "bucket": (re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
               "an S3 bucket name (3-63 lower-case letters, digits, '.' and '-')"),
}


@dataclass(frozen=True)
class RepoValues:
    """What a new access repository is made for."""

    org: str
    repo: str
    account: str
    jitflow_sha: str
    region: str = "us-east-1"
    default_branch: str = "main"
    admins: tuple[str, ...] = ()  # default: @<org>/jitflow-admins
    approvers: tuple[str, ...] = ()  # of the example policy; default: @<org>/jitflow-approvers
    bucket: str = ""  # of the example policy; default: example-uploads-<account>

    def placeholders(self) -> dict[str, str]:
        """Each placeholder's text; raises UsageError naming every value that is not what
        it stands for."""
        plain = {"org": self.org, "repo": self.repo, "account": self.account,
                 "region": self.region, "jitflow_sha": self.jitflow_sha,
                 "default_branch": self.default_branch,
                 "bucket": self.bucket or f"example-uploads-{self.account}"}
        wrong = [f"{name} {value!r} is not {_RULES[name][1]}" for name, value in plain.items()
                 if not _RULES[name][0].fullmatch(value)]
        wrong += [f"default_branch {self.default_branch!r} would not read back as text in "
                  "YAML: choose another name"] if not _plain_scalar(self.default_branch) else []
        admins = self.admins or (f"@{self.org}/jitflow-admins",)
        approvers = self.approvers or (f"@{self.org}/jitflow-approvers",)
        handles: dict[str, tuple[str, ...]] = {"admins": admins, "approvers": approvers}
        for name, entries in handles.items():
            for entry in entries:
                try:
                    owner_handle(entry)
                except ConfigError as error:
                    wrong.append(f"{name}: {error.message}")
        if wrong:
            raise UsageError("cannot make the repository: " + "; ".join(wrong))
        # Handles are written as a YAML flow list of quoted strings ("@org/team" needs quotes).
        return {**plain, **{name: ", ".join(json.dumps(e) for e in entries)
                            for name, entries in handles.items()}}


def _plain_scalar(text: str) -> bool:
    """Does `text`, written unquoted as a YAML value, read back as that same text?"""
    doc, problems = safeyaml.load(f"key: {text}\n".encode(), "value")
    return not problems and doc is not None and doc.data == {"key": text}


def fill(text: str, values: Mapping[str, str], path: str) -> str:
    """`text` with every placeholder replaced; refuses a placeholder without a value."""
    unknown = sorted({m for m in PLACEHOLDER.findall(text) if m not in values})
    if unknown:
        raise ConfigError(f"scaffold file {path}: unknown placeholder(s) "
                          + ", ".join(f"{{{name}}}" for name in unknown))
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def render(templates: Mapping[str, str], values: RepoValues) -> dict[str, str]:
    """Every file of the new repository (repository-relative posix path -> text), CODEOWNERS
    included; refuses a scaffold that lacks a required file or whose result jitflow itself
    would refuse."""
    missing = [path for path in REQUIRED if path not in templates]
    if missing:
        raise ConfigError(f"the scaffold lacks {', '.join(missing)}: reinstall jitflow")
    if CODEOWNERS_PATH in templates:
        raise ConfigError(f"the scaffold must not hold {CODEOWNERS_PATH}: it is generated")
    placeholders = values.placeholders()
    files = {path: fill(text, placeholders, path) for path, text in templates.items()}
    tree = MemoryTree({path: text.encode() for path, text in files.items()})
    policies, problems = load_policy_set(tree)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(errors, "the scaffold's policies would not validate")
    files[CODEOWNERS_PATH] = generate(policies.policies, load_settings(tree))
    return dict(sorted(files.items()))
