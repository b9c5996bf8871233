"""`jitflow init DIR`: scaffold a new access repository (jitflow.newrepo renders it).

Everything is rendered and checked in memory, then written into a staging folder beside DIR
and moved into place: DIR either gets every file or none.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from jitflow.errors import GitError, JitflowError, UsageError
from jitflow.gitcmd import Git
from jitflow.newrepo import RepoValues, render

SCAFFOLD = "scaffold"
# A commit id a built package may carry (package data `jitflow/BUILD_COMMIT`, one line).
BUILD_COMMIT = "BUILD_COMMIT"
_SHA = re.compile(r"[0-9a-f]{40}")
_ALLOWED_IN_TARGET = {".git"}  # a fresh clone of an empty repository


class CannotWrite(JitflowError):
    """The new repository's files could not be written (nothing was left behind)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR",
                        help="the new repository's folder: absent, empty, or holding only .git")
    parser.add_argument("--org", required=True, help="the GitHub organisation (or user) that "
                        "owns the access repository")
    parser.add_argument("--account", required=True, metavar="ID",
                        help="the 12-digit AWS account the workflows' roles live in")
    parser.add_argument("--repo", metavar="REPO", help="the repository's name (default: DIR's)")
    parser.add_argument("--region", default="us-east-1",
                        help="the AWS region (default: %(default)s)")
    parser.add_argument("--default-branch", default="main", metavar="BRANCH",
                        help="the branch requests are merged into (default: %(default)s)")
    parser.add_argument("--admin", action="append", default=[], metavar="OWNER",
                        help="an admin, @org/team or login (repeatable; default: "
                        "@ORG/jitflow-admins): owns policies, settings and workflows")
    parser.add_argument("--approver", action="append", default=[], metavar="OWNER",
                        help="an approver of the example policy (repeatable; default: "
                        "@ORG/jitflow-approvers)")
    parser.add_argument("--bucket", default="", help="the example policy's bucket "
                        "(default: example-uploads-ID)")
    parser.add_argument("--jitflow-sha", metavar="SHA",
                        help="the jitflow commit the workflows call (40 hex digits; default: the "
                        "commit this jitflow was built from, when known)")


def built_from(package: Path) -> str | None:
    """The commit this jitflow was built from: the `BUILD_COMMIT` a built package carries, or
    the HEAD of the clean git checkout the package is imported from; None when unknown."""
    stamp = package / BUILD_COMMIT
    if stamp.is_file():
        text = stamp.read_text(encoding="utf-8", errors="replace").strip()
        return text if _SHA.fullmatch(text) else None
    source = package.parent
    if not (source / ".git").exists() or not (source / "pyproject.toml").is_file():
        return None
    git = Git(source)
    try:
        if Path(git.run("rev-parse", "--show-toplevel").strip()).resolve() != source.resolve():
            return None  # an installed package inside some other repository
        if git.run("status", "--porcelain", "--", package.name).strip():
            return None  # changed since its commit: no commit holds this code
        return git.head()
    except GitError:
        return None


def _jitflow_sha(given: str | None) -> str:
    if given:
        return given
    found = built_from(Path(__file__).resolve().parent.parent)
    if found is None:
        raise UsageError("cannot tell which jitflow commit the workflows should call: pass "
                         "--jitflow-sha SHA (a full 40-character commit of jitflow, never a "
                         "branch name)")
    return found


def _templates(folder: Traversable, prefix: str = "") -> dict[str, str]:
    """Every file under the scaffold folder (posix path -> text)."""
    found: dict[str, str] = {}
    for entry in folder.iterdir():
        path = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                found.update(_templates(entry, f"{path}/"))
        else:
            found[path] = entry.read_text(encoding="utf-8")
    return found


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent}: no such folder")
    present = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
    extra = [name for name in present if name not in _ALLOWED_IN_TARGET]
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise UsageError(f"{target} is not empty ({shown}): jitflow init writes only into a "
                         "new or empty folder (a fresh clone holding only .git is fine)")


def _write(target: Path, files: dict[str, str]) -> None:
    """Every file or none: written into a staging folder beside `target`, then moved."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.jitflow-init-", dir=target.parent))
    moved: list[Path] = []
    try:
        for name, text in files.items():
            destination = staging / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text, encoding="utf-8", newline="\n")
        if not target.exists():
            staging.rename(target)
            return
        for entry in sorted(staging.iterdir()):
            entry.rename(target / entry.name)
            moved.append(target / entry.name)
    except OSError as error:
        for done in moved:
            if done.is_dir():
                shutil.rmtree(done)
            else:
                done.unlink()
        raise CannotWrite(f"cannot write the new repository in {target}: {error}; nothing "
                          "was left there") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    target: Path = args.directory.absolute()
    _check_target(target)
    values = RepoValues(
        org=args.org, repo=args.repo or target.name, account=args.account,
        jitflow_sha=_jitflow_sha(args.jitflow_sha), region=args.region,
        default_branch=args.default_branch, admins=tuple(args.admin),
        approvers=tuple(args.approver), bucket=args.bucket)
    files = render(_templates(resources.files("jitflow") / SCAFFOLD), values)
    _write(target, files)
    print(f"wrote {len(files)} files into {args.directory} (workflows call jitflow at "
          f"{values.jitflow_sha[:12]}):", file=sys.stderr)
    for path in files:
        print(f"  {path}")
    print("next: add people to policies/identities.yaml, make policies/example.yaml yours, run "
          "`jitflow codeowners`, commit, then follow jitflow's docs/setup.md (AWS roles, the "
          "jitflow-apply environment, the ruleset, the repository variables)", file=sys.stderr)
    return 0
