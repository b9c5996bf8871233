"""`jitflow status`: every /jitflow/ policy with its access and anything that looks wrong."""

from __future__ import annotations

import json
from datetime import datetime

from jitflow import grants
from jitflow.engine.outcome import GrantStatus
from jitflow.engine.ports import IamPort, request_paths
from jitflow.engine.run import Run
from jitflow.grants import ListedPolicy
from jitflow.plan import document_sha256
from jitflow.tree import Tree


def status(run: Run, now: datetime, account: str, tree: Tree | None = None
           ) -> list[GrantStatus]:
    """Every /jitflow/ policy in `account`; with `tree`, each checked for its request file."""
    iam = run.accounts.iam(account, "status")
    return [_one(run, iam, account, listed, now=now, tree=tree)
            for listed in iam.list_jitflow_policies()]


def _one(run: Run, iam: IamPort, account: str, listed: ListedPolicy, *, now: datetime,
         tree: Tree | None) -> GrantStatus:
    problems: list[str] = []
    grant = grants.as_grant(listed)
    if grant is None:
        problems.append("orphan: not a jitflow grant name or path")
    elif grant.expiry <= now:
        problems.append("expired but not yet revoked")
    raw_tags, version = iam.get_policy(listed.arn)
    tags = grants.parse_tags(raw_tags)
    document = iam.get_document(listed.arn, version)
    if tags is None:
        problems.append("orphan: evidence tags missing or malformed")
    elif document_sha256(document) != tags.sha256:
        problems.append("orphan: document does not match its sha256 tag")
    if grant is not None and tree is not None and not any(
        tree.read(path) is not None for path in request_paths(grant.request_id)
    ):
        problems.append(f"orphan: no request file on {run.settings.default_branch}")
    return GrantStatus(
        account=account, policy_arn=listed.arn,
        request_id=grant.request_id if grant else None,
        principal=tags.principal if tags else None,
        expiry=grant.expiry if grant else None,
        access=allowed_access(document), problems=tuple(problems),
    )


def allowed_access(document: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(resource, actions) of each Allow statement of a policy document."""
    access: list[tuple[str, tuple[str, ...]]] = []
    for statement in json.loads(document).get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = (actions,) if isinstance(actions, str) else tuple(actions)
        for resource in [resources] if isinstance(resources, str) else resources:
            access.append((str(resource), tuple(str(a) for a in actions)))
    return tuple(access)
