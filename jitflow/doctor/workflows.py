"""The subject each jitflow role must trust, from the caller workflow on the default branch.

A caller file (`.github/workflows/jitflow-<duty>.yml`) delegates its job to a reusable
workflow: `uses: OWNER/REPO/.github/workflows/reusable-<duty>.yml@SHA` (pinned), or
`$/.github/workflows/reusable-<duty>.yml` (GitHub's self-repository form; `./…` is the older
spelling of the same: the access repository's own, at the default branch). GitHub's
`job_workflow_ref` names that file at that ref, so the expected subject
(`jitflow.oidc.expected_subject`) depends on the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from jitflow.doctor.facts import RepositoryFacts
from jitflow.oidc import CALLERS, REUSABLE, WORKFLOWS_DIR, Subject, expected_subject

_SHA = re.compile(r"[0-9a-f]{40}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def caller_path(duty: str) -> str:
    return f"{WORKFLOWS_DIR}/{CALLERS[duty]}"


@dataclass(frozen=True)
class ReusableCall:
    """Where a caller's job runs: `repository` at `ref` (None: the access repository at its
    default branch)."""

    repository: str | None
    ref: str | None


def _uses_lines(text: bytes) -> list[str]:
    document = yaml.safe_load(text.decode("utf-8"))
    jobs = document.get("jobs") if isinstance(document, dict) else None
    if not isinstance(jobs, dict):
        return []
    return [job["uses"] for job in jobs.values()
            if isinstance(job, dict) and isinstance(job.get("uses"), str)]


def _parse_uses(uses: str, reusable: str) -> ReusableCall | str:
    if uses in (f"$/{WORKFLOWS_DIR}/{reusable}", f"./{WORKFLOWS_DIR}/{reusable}"):
        return ReusableCall(None, None)
    target, _, ref = uses.partition("@")
    repository, _, path = target.partition(f"/{WORKFLOWS_DIR}/")
    if path != reusable or not _REPOSITORY.fullmatch(repository):
        return f"calls {uses!r}, not {reusable}"
    if not (_SHA.fullmatch(ref) or ref.startswith("refs/")):
        # `@v1` or `@main` could be a branch or a tag: the token's job_workflow_ref spells
        # the full ref, which cannot be told from here. Pinning to a commit also means the
        # code that runs with AWS credentials cannot change under the role's trust.
        return f"calls {uses!r}: pin the reusable workflow to a full commit SHA"
    return ReusableCall(repository, ref)


def reusable_call(text: bytes | None, duty: str) -> ReusableCall | str:
    """The reusable workflow the caller file of `duty` calls, or why it cannot be told."""
    path = caller_path(duty)
    if text is None:
        return f"{path} is not on the default branch"
    try:
        uses = [line for line in _uses_lines(text) if REUSABLE[duty] in line]
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        return f"{path} cannot be read as YAML ({type(error).__name__})"
    if len(uses) != 1:
        found = "no job" if not uses else f"{len(uses)} jobs"
        return f"{path}: {found} calls {REUSABLE[duty]} (expected exactly one)"
    parsed = _parse_uses(uses[0], REUSABLE[duty])
    return f"{path} {parsed}" if isinstance(parsed, str) else parsed


def subject_for(repository: RepositoryFacts, text: bytes | None, duty: str) -> Subject | str:
    """The subject the `duty` role must trust, or why it cannot be told."""
    call = reusable_call(text, duty)
    if isinstance(call, str):
        return call
    return expected_subject(
        owner_id=str(repository.owner_id), repository_id=str(repository.repository_id),
        repository=repository.full_name, branch=repository.default_branch, duty=duty,
        reusable_repository=call.repository, reusable_ref=call.ref)
