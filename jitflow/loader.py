"""Files -> model values: strict YAML, then the shipped JSON Schema, then conversion.

Semantic judgement (is this request allowed by that policy?) lives in `jitflow.rules`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import PurePosixPath
from typing import Any

from jitflow import safeyaml, schema
from jitflow.durations import parse_duration
from jitflow.model import (
    IDENTITY_POLICY,
    PERMISSION_SET_PREFIX,
    AccessEntry,
    BreakGlass,
    Identities,
    Identity,
    Policy,
    PolicySet,
    Request,
)
from jitflow.problems import Problem
from jitflow.rules import check_policy, check_request
from jitflow.tree import Tree

POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # always fullmatch: "$" admits a "\n"
POLICY_NAME_RULE = "a policy name is lower-case letters, digits and '-', at most 32 characters"
REQUEST_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
IDENTITIES = "identities"
YAML_SUFFIXES = (".yaml", ".yml")
NOT_BEFORE_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
REQUESTS_README = "requests/README.md"
NOT_A_REQUEST = ("not a request file: a request must be at requests/<policy>/<name>.yaml "
                 "(or .yml), and nothing else belongs under requests/")


def is_stray(path: str) -> bool:
    """A file under requests/ (its README aside) that is not `requests/<policy>/<name>.yaml`
    or `.yml` by its place and extension: the PR check refuses it, and so does validate."""
    parts = path.split("/")
    if parts[0] != "requests" or path == REQUESTS_README:
        return False
    return len(parts) != 3 or not parts[2].endswith(YAML_SUFFIXES)


def parse_yaml(
    raw: bytes, path: str, schema_name: str
) -> tuple[safeyaml.YamlDoc | None, list[Problem]]:
    """Strict YAML + schema; a document only when both passed."""
    doc, problems = safeyaml.load(raw, path)
    if doc is None:
        return None, problems
    if doc.data is None:
        return None, [Problem(path, 1, 1, "the file is empty")]
    problems = schema.check(doc, schema_name, path)
    return (None, problems) if problems else (doc, [])


def request_location(path: str) -> tuple[str | None, str | None, list[Problem]]:
    """(policy, name) from `requests/<policy>/<name>.yaml`, or problems."""
    parts = path.split("/")  # string work, not PurePosixPath: this runs once per file
    start = len(parts) - 1 - parts[::-1].index("requests") if "requests" in parts else -1
    rel = parts[start + 1 :]
    if start < 0 or len(rel) != 2:
        return (
            None,
            None,
            [Problem(path, None, None, "a request file must be at requests/<policy>/<name>.yaml")],
        )
    policy, filename = rel
    stem, dot, suffix = filename.rpartition(".")
    problems = []
    if not dot or f".{suffix}" not in YAML_SUFFIXES:
        problems.append(Problem(path, None, None, "a request file must end in .yaml or .yml"))
        stem = stem or filename
    if not POLICY_NAME.fullmatch(policy):
        problems.append(Problem(path, None, None, f"policy folder {policy!r}: {POLICY_NAME_RULE}"))
    if not REQUEST_NAME.fullmatch(stem):
        problems.append(
            Problem(
                path,
                None,
                None,
                f"request name {stem!r} must be lower-case "
                "letters, digits and '-', at most 63 characters, starting with a "
                "letter or digit",
            )
        )
    return (None, None, problems) if problems else (policy, stem, [])


def load_request(raw: bytes, path: str) -> tuple[Request | None, list[Problem]]:
    """The request, or None plus every problem; a request is returned only when it has none."""
    request, problems = _load_request(raw, path, lenient=False)
    return (None, problems) if problems else (request, [])


def _load_request(raw: bytes, path: str, lenient: bool) -> tuple[Request | None, list[Problem]]:
    policy, name, problems = request_location(path)
    doc, parsed = safeyaml.load(raw, path)
    problems += parsed
    if doc is not None and doc.data is None:
        problems.append(Problem(path, 1, 1, "the file is empty"))
    if doc is None or doc.data is None:
        return None, problems
    problems += schema.check(doc, "request", path)
    problems += _not_before_problems(doc, path)
    if policy is None or name is None or (problems and not lenient):
        return None, problems
    try:
        return _to_request(doc, path, policy, name), problems
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, problems  # not even shaped like a request: the schema said why


def _not_before(value: Any) -> datetime | None:
    """`not_before` as written (the schema allows only `YYYY-MM-DDTHH:MM:SSZ`), in UTC."""
    if value is None:
        return None
    return datetime.strptime(_text(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _not_before_problems(doc: safeyaml.YamlDoc, path: str) -> list[Problem]:
    """A `not_before` of the right form that names no moment (2026-02-30T25:00:00Z)."""
    data = doc.data
    value = data.get("not_before") if isinstance(data, dict) else None
    if not isinstance(value, str) or not NOT_BEFORE_FORM.fullmatch(value):
        return []  # absent, or the schema already said what is wrong
    try:
        _not_before(value)
    except ValueError:
        return [Problem(path, *doc.where(("not_before",)),
                        f"not_before: {value!r} is not a real date and time")]
    return []


def _text(value: Any) -> str:
    # Lenient loading still needs the right types: a rule must never see an int as a login.
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _to_request(doc: safeyaml.YamlDoc, path: str, policy: str, name: str) -> Request:
    data: dict[str, Any] = doc.data
    duration = parse_duration(_text(data["duration"]))
    if duration is None:
        raise ValueError("duration")
    ticket = data.get("ticket")
    return Request(
        policy=policy,
        name=name,
        requester=_text(data["requester"]),
        principal=_text(data["principal"]),
        reason=_text(data["reason"]),
        ticket=None if ticket is None else _text(ticket),
        duration=duration,
        not_before=_not_before(data.get("not_before")),
        access=tuple(
            AccessEntry(_text(e["bucket"]), _text(e["prefix"]), tuple(map(_text, e["actions"])))
            for e in data["access"]
        ),
        break_glass=data.get("break_glass", False),
        path=path,
        positions=dict(doc.positions),
    )


def _break_glass(data: dict[str, Any] | None, path: str,
                 doc: safeyaml.YamlDoc) -> tuple[BreakGlass | None, list[Problem]]:
    if data is None:
        return None, []
    longest = parse_duration(data["max_duration"])
    within = parse_duration(data["review_within"])
    if longest is None or within is None:
        key = "max_duration" if longest is None else "review_within"
        return None, [Problem(path, *doc.where(("break_glass", key)), "invalid duration")]
    return BreakGlass(longest, tuple(data["reviewers"]), within), []


def load_policy(raw: bytes, path: str, name: str) -> tuple[Policy | None, list[Problem]]:
    doc, problems = parse_yaml(raw, path, "policy")
    if doc is None:
        return None, problems
    data: dict[str, Any] = doc.data
    max_duration = parse_duration(data["max_duration"])
    if max_duration is None:
        return None, [Problem(path, *doc.where(("max_duration",)), "invalid duration")]
    requesters = data.get("requesters")
    break_glass, problems = _break_glass(data.get("break_glass"), path, doc)
    if problems:
        return None, problems
    policy = Policy(
        name=name,
        description=data["description"],
        account=data["account"],
        buckets=tuple(data["buckets"]),
        prefixes=tuple(data["prefixes"]),
        actions=tuple(data["actions"]),
        max_duration=max_duration,
        approvers=tuple(data["approvers"]),
        min_approvals=data.get("min_approvals", 1),
        requesters=tuple(requesters) if requesters is not None else None,
        require_ticket=data.get("require_ticket", False),
        ticket_pattern=data.get("ticket_pattern"),
        permissions_management=data.get("permissions_management", False),
        bucket_configuration=data.get("bucket_configuration", False),
        grant=data.get("grant", IDENTITY_POLICY),
        enforce_read_only=data.get("enforce_read_only", False),
        standing_writers=tuple(data.get("standing_writers", ())),
        break_glass=break_glass,
        path=path,
        positions=dict(doc.positions),
    )
    return policy, []


def load_identities(raw: bytes, path: str) -> tuple[Identities | None, list[Problem]]:
    doc, problems = parse_yaml(raw, path, "identities")
    if doc is None:
        return None, problems
    principals = {login.lower(): tuple(map(_identity, entries))
                  for login, entries in doc.data.items()}
    if len(principals) != len(doc.data):
        return None, [Problem(path, 1, 1, "a login is listed twice (logins are case-insensitive)")]
    problems = [
        Problem(path, *doc.where((login,)), f"{login}: {entry.principal} is listed twice"
                + (f" in account {entry.account}" if entry.account else ""))
        for login, entries in doc.data.items()
        for entry in _repeated(principals[login.lower()])
    ]
    problems += _shared_sessions(principals, doc, path)
    return (None, problems) if problems else (Identities(principals=principals, path=path), [])


def _identity(entry: str | dict[str, str]) -> Identity:
    """One entry of identities.yaml (the schema checked its shape)."""
    if isinstance(entry, str):
        return Identity(entry)
    if "permission_set" in entry:
        return Identity(PERMISSION_SET_PREFIX + entry["permission_set"], entry["session"],
                        entry["account"])
    return Identity(entry["principal"], entry["session"])


def _shared_sessions(principals: dict[str, tuple[Identity, ...]], doc: safeyaml.YamlDoc,
                     path: str) -> list[Problem]:
    """A session names one person: two logins on the same session of the same role would
    each be granted the other's access."""
    owner: dict[tuple[str, str | None, str], str] = {}
    problems = []
    for login, entries in principals.items():
        for entry in entries:
            if entry.session is None:
                continue
            key = (entry.principal, entry.account, entry.session)
            first = owner.setdefault(key, login)
            if first != login:
                problems.append(Problem(
                    path, *doc.where((login,)),
                    f"{login}: session {entry.session} of {entry.principal} is already "
                    f"{first}'s: a session names one person"))
    return problems


def _repeated(entries: tuple[Identity, ...]) -> list[Identity]:
    """Entries naming a principal an earlier entry of the same login already names: which
    one would a request for it mean?"""
    seen: set[tuple[str, str | None]] = set()
    repeated = []
    for entry in entries:
        key = (entry.principal, entry.account)
        if key in seen:
            repeated.append(entry)
        seen.add(key)
    return repeated


def load_policy_set(tree: Tree, directory: str = "policies") -> tuple[PolicySet, list[Problem]]:
    """Every policy and the identities under `directory`, each checked for sanity."""
    problems: list[Problem] = []
    policies: dict[str, Policy] = {}
    identities = Identities()
    files = [p for p in tree.list(directory) if p.endswith(YAML_SUFFIXES)]
    if not files:
        problems.append(Problem(directory, None, None, "no policy files found"))
    for path in files:
        raw = tree.read(path) or b""
        stem = PurePosixPath(path).stem
        if PurePosixPath(path).parent != PurePosixPath(directory):
            problems.append(
                Problem(path, None, None, "policy files must be directly in " + directory)
            )
        elif stem == IDENTITIES:
            loaded_ids, found = load_identities(raw, path)
            problems += found
            identities = loaded_ids or identities
        elif not POLICY_NAME.fullmatch(stem):
            problems.append(Problem(path, None, None, f"policy {stem!r}: {POLICY_NAME_RULE}"))
        elif stem in policies:
            problems.append(Problem(path, None, None, f"policy {stem!r} is defined twice"))
        else:
            policy, found = load_policy(raw, path, stem)
            problems += found
            if policy is not None:
                problems += check_policy(policy)
                policies[stem] = policy
    if not any(PurePosixPath(p).stem == IDENTITIES for p in files) and files:
        problems.append(
            Problem(
                f"{directory}/identities.yaml",
                None,
                None,
                "identities.yaml is missing: no one can be granted anything",
            )
        )
    return PolicySet(policies, identities), problems


def load_and_check(
    tree: Tree, path: str, policies: PolicySet, partition: str = "aws"
) -> tuple[Request | None, list[Problem]]:
    """Load one request file from `tree` and judge it against `policies`, granting in
    `partition`."""
    raw = tree.read(path)
    if raw is None:
        return None, [Problem(path, None, None, "file not found")]
    return judge_request(raw, path, policies, partial(check_request, partition=partition))


def judge_request(
    raw: bytes, path: str, policies: PolicySet, check: Callable[[Request, PolicySet], list[Problem]]
) -> tuple[Request | None, list[Problem]]:
    """Every problem of one request file: format, schema and policy rules together.

    The request is returned only when it is valid; otherwise None and the problems. Policy
    rules also run on a request whose schema check failed, when its shape allows, so the
    user sees all their mistakes at once (rule findings on an already-reported line are
    dropped as noise).
    """
    request, problems = _load_request(raw, path, lenient=True)
    if request is None:
        return None, problems
    reported = {p.line for p in problems}
    problems += [p for p in check(request, policies) if p.line not in reported]
    if any(p.severity == "error" for p in problems):
        return None, problems
    return request, problems
