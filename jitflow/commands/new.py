"""`jitflow new POLICY NAME`: write requests/POLICY/NAME.yaml, drafted from the policy
(jitflow.requesting), judged as `jitflow validate` would judge it before it is written."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from jitflow.commands.support import add_policies_argument, load_policies, partition_near
from jitflow.durations import parse_duration
from jitflow.errors import ConfigError, InvalidInput, UsageError
from jitflow.gitcmd import Git
from jitflow.loader import POLICY_NAME, POLICY_NAME_RULE, REQUEST_NAME, YAML_SUFFIXES, judge_request
from jitflow.model import PolicySet
from jitflow.requesting import draft_request
from jitflow.rules import check_request
from jitflow.tree import find_repo_root

_NOREPLY = "@users.noreply.github.com"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy", metavar="POLICY", help="the policy the request is under")
    parser.add_argument("name", metavar="NAME",
                        help="the request's name: lower-case letters, digits and '-'")
    parser.add_argument("--requester", metavar="LOGIN", help="your GitHub login (default: git "
                        "config github.user, else the login of a GitHub no-reply e-mail, else "
                        "user.name when identities.yaml lists it)")
    parser.add_argument("--principal", metavar="ARN", help="which of your principals in "
                        "identities.yaml (default: the first the policy can grant to)")
    parser.add_argument("--reason", metavar="TEXT", help="why you need the access")
    parser.add_argument("--ticket", metavar="ID", help="the ticket (when the policy needs one)")
    parser.add_argument("--duration", metavar="D", help="how long, e.g. 30m, 2h (default: 1h; "
                        "capped at the policy's max_duration)")
    parser.add_argument("--repo", type=Path, default=None, metavar="DIR",
                        help="repository root (default: the one holding the current directory)")
    add_policies_argument(parser)


def _requester(given: str | None, root: Path, policies: PolicySet) -> str:
    if given:
        return given
    git = Git(root)
    login = git.config_value("github.user")
    if login:
        return login
    email = git.config_value("user.email") or ""
    if email.lower().endswith(_NOREPLY):
        return email[: -len(_NOREPLY)].split("+", 1)[-1]
    name = git.config_value("user.name")
    if name and policies.identities.knows(name):
        return name
    raise UsageError("cannot tell your GitHub login from git config (github.user, a no-reply "
                     "user.email, or a user.name listed in identities.yaml): pass --requester "
                     "LOGIN")


def _target(root: Path, policy: str, name: str) -> Path:
    if not POLICY_NAME.fullmatch(policy):
        raise UsageError(f"policy {policy!r}: {POLICY_NAME_RULE}")
    if not REQUEST_NAME.fullmatch(name):
        raise UsageError(f"request name {name!r}: lower-case letters, digits and '-', at most "
                         "63 characters, starting with a letter or digit")
    folder = root / "requests" / policy
    for suffix in YAML_SUFFIXES:
        if (folder / f"{name}{suffix}").exists():
            raise UsageError(f"{folder / (name + suffix)} exists: requests are never edited or "
                             "replaced; pick a new name")
    return folder / f"{name}.yaml"


def run(args: argparse.Namespace) -> int:
    root: Path = args.repo if args.repo is not None else find_repo_root(Path.cwd())
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    target = _target(root, args.policy, args.name)
    duration = None
    if args.duration is not None:
        duration = parse_duration(args.duration)
        if duration is None or duration.total_seconds() <= 0:
            raise UsageError(f"--duration {args.duration!r}: write it like 30m, 2h or 1h30m")
    policies, problems = load_policies(args.policies, root)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(errors, "the policies are invalid: no request can be drafted")
    draft = draft_request(policies, args.policy, _requester(args.requester, root, policies),
                          principal=args.principal, reason=args.reason, ticket=args.ticket,
                          duration=duration)
    check = partial(check_request, partition=partition_near(args.policies, root))
    shown = f"requests/{args.policy}/{target.name}"
    _request, found = judge_request(draft.text.encode(), shown, policies, check)
    if any(p.severity == "error" for p in found):
        raise InvalidInput(found, f"the drafted {shown} would not validate: nothing was written")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("x", encoding="utf-8", newline="\n") as file:
            file.write(draft.text)
    except OSError as error:
        raise ConfigError(f"cannot write {target}: {error.strerror}") from None
    print(target)
    for note in draft.notes:
        print(f"jitflow: note: {note}", file=sys.stderr)
    print(f"next: edit it, `jitflow validate {shown}`, then open a pull request that adds only "
          "this file", file=sys.stderr)
    return 0
