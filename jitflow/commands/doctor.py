"""`jitflow doctor`: check a live setup on GitHub and in AWS, one ✔/✘ line per item.

Reads only. GitHub through `GITHUB_TOKEN` (a token that may read the repository's
administration: rulesets with their bypass lists, environments, variables, secret names) and
`JITFLOW_TEAMS_TOKEN` for the organisation's teams when set; AWS with the caller's own read
credentials in the account of the jitflow roles. Exit 0: all good; 1: something is wrong;
3: GitHub or AWS could not be reached or refused a read.
"""

from __future__ import annotations

import argparse
import os
import re

from jitflow.clock import system_clock
from jitflow.doctor.findings import render_json, render_text
from jitflow.doctor.gather import gather_aws, gather_github
from jitflow.doctor.run import findings
from jitflow.errors import UsageError

_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", metavar="OWNER/REPO",
                        help="the access repository (default: $GITHUB_REPOSITORY)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def _environment(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.repo is not None:
        env["GITHUB_REPOSITORY"] = args.repo
    repository = env.get("GITHUB_REPOSITORY", "")
    if not _REPOSITORY.fullmatch(repository):
        raise UsageError(f"give the access repository as --repo OWNER/REPO (not {repository!r})"
                         if repository else "give the access repository: --repo OWNER/REPO")
    if not env.get("GITHUB_TOKEN"):
        raise UsageError("set GITHUB_TOKEN to a token that may read the repository's "
                         "settings, e.g. GITHUB_TOKEN=$(gh auth token)")
    return env


def run(args: argparse.Namespace) -> int:
    env = _environment(args)
    from jitflow.aws import caller_iam  # noqa: PLC0415  (boto3 and PyGithub only when run)
    from jitflow.gh import GitHubClient  # noqa: PLC0415

    github, setup = gather_github(GitHubClient.from_env(env))
    aws = gather_aws(caller_iam(setup.settings.region), github.variables)
    found = findings(github, setup, aws, system_clock())
    print(render_json(found) if args.format == "json" else render_text(found))
    return 0 if all(f.ok for f in found) else 1
