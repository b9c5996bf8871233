"""Argument helpers shared by the offline commands (validate, plan)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jitflow.errors import UsageError
from jitflow.loader import YAML_SUFFIXES, PolicySet, load_policy_set
from jitflow.model import Request
from jitflow.problems import Problem
from jitflow.tree import FsTree, find_repo_root


def add_policies_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        metavar="DIR",
        type=Path,
        default=None,
        help="policies folder (default: policies/ at the repository root)",
    )


def request_files(paths: list[Path]) -> list[Path]:
    """Files as given; folders walked for *.yaml/*.yml under a requests/ folder."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            inside = "requests" in path.absolute().parts
            found += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in YAML_SUFFIXES
                and (inside or "requests" in p.relative_to(path).parts)
                and p.is_file()
            )
        else:
            raise UsageError(f"{path}: no such file or directory")
    return found


def load_policies(policies_dir: Path | None, anchor: Path) -> tuple[PolicySet, list[Problem]]:
    """The policy set from --policies, or from policies/ at the repository holding `anchor`."""
    directory = policies_dir if policies_dir is not None else find_repo_root(anchor) / "policies"
    if not directory.is_dir():
        raise UsageError(f"{directory}: policies folder not found (use --policies DIR)")
    root = directory.resolve().parent
    policy_set, problems = load_policy_set(FsTree(root), directory.resolve().name)
    # Name policy files as the user would (relative to where they pointed us).
    shown = [
        Problem(str(directory / Path(p.path).name), p.line, p.col, p.message, p.severity)
        for p in problems
    ]
    return policy_set, shown


def display_path(path: Path) -> str:
    """The request's path as jitflow reasons about it: `requests/<policy>/<name>.yaml`."""
    parts = path.absolute().parts
    if "requests" in parts:
        start = len(parts) - 1 - parts[::-1].index("requests")
        return "/".join(parts[start:])
    return path.as_posix()


def judge_files(
    files: list[Path], policies_dir: Path | None
) -> tuple[PolicySet, list[Request], list[Problem]]:
    """Load every file and judge it: (policy set, valid requests, every problem found)."""
    from jitflow.loader import judge_request  # noqa: PLC0415
    from jitflow.rules import check_request  # noqa: PLC0415

    policy_set, problems = load_policies(policies_dir, files[0] if files else Path.cwd())
    valid: list[Request] = []
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as error:
            problems.append(Problem(str(path), None, None, f"cannot read: {error.strerror}"))
            continue
        # Judge by the canonical requests/<policy>/<name> location; report by the given path.
        request, found = judge_request(raw, display_path(path), policy_set, check_request)
        if request is not None:
            valid.append(request)
        problems += [Problem(str(path), p.line, p.col, p.message, p.severity) for p in found]
    return policy_set, valid, problems
