"""`jitflow.yaml`: accounts, admins and timings, read from a Tree."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jitflow.durations import parse_duration
from jitflow.errors import ConfigError
from jitflow.loader import parse_yaml
from jitflow.model import NotificationTarget, Settings
from jitflow.problems import Problem, render
from jitflow.safeyaml import YamlDoc
from jitflow.tree import Tree

SETTINGS_FILE = "jitflow.yaml"


class _ValueError(ConfigError):
    """A value the schema admits but jitflow cannot use, at `key` of the file."""

    def __init__(self, key: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.key = key


def _duration(data: dict[str, Any], key: str, default: timedelta) -> timedelta:
    value = parse_duration(data[key]) if key in data else default
    if value is None or value.total_seconds() <= 0:
        raise _ValueError((key,), f"{key} must be a positive duration such as 15m or 7d")
    return value


def _exempt(account: dict[str, Any]) -> tuple[str, ...]:
    """The roles a read-only baseline in this account must never deny."""
    roles = list(account.get("jitflow_roles", ()))
    if account.get("break_glass_role"):
        roles.append(account["break_glass_role"])
    return tuple(roles)


def _targets(data: dict[str, Any]) -> tuple[NotificationTarget, ...]:
    targets = data.get("notifications", {}).get("targets", ())
    return tuple(NotificationTarget(
        kind=t["type"], url=t.get("url"), secret_env=t.get("secret_env"),
        secret_arn=t.get("secret_arn"), url_env=t.get("url_env"),
        url_secret_arn=t.get("url_secret_arn"), topic_arn=t.get("topic_arn"),
        event_bus=t.get("event_bus"), events=tuple(t.get("events", ()))) for t in targets)


def _check_duties(settings: Settings) -> None:
    """Apply and revoke assume different roles in another account: a revoke run must never
    hold the permissions that create and attach (the schema requires revoke_role with role)."""
    for account, role in settings.accounts.items():
        if role is not None and role == settings.revoke_roles.get(account):
            raise ConfigError(
                f"{settings.path}: accounts.{account}: role and revoke_role are the same role "
                f"({role}); revoke must assume a role that can only remove grants (the "
                "bootstrap creates jitflow-grant-apply and jitflow-grant-revoke)")


def _check_partition(settings: Settings) -> None:
    """Every role ARN must be in the region's partition: jitflow assumes them and exempts
    them there, and an ARN of another partition names nothing in it."""
    roles = [role for role in settings.accounts.values() if role]
    roles += [role for role in settings.revoke_roles.values() if role]
    roles += [arn for arns in settings.baseline_exempt.values() for arn in arns]
    for arn in roles:
        partition = arn.split(":", 2)[1]
        if partition != settings.partition:
            raise _ValueError(
                ("region",),
                f"{arn} is in partition {partition}, but region "
                f"{settings.region} is in partition {settings.partition}: every ARN must be "
                "in the region's partition")


def _check_audit_branch(settings: Settings) -> None:
    """The audit log's branch is pushed by the workflows' own token, which must never be able
    to change the default branch: the two can never be one."""
    if settings.audit_branch.removeprefix("refs/heads/") == settings.default_branch:
        raise ConfigError(
            f"{settings.path}: audit_branch {settings.audit_branch!r} is the default branch: "
            "the audit log lives on a branch of its own, which jitflow's workflows push to "
            "(docs/setup.md, \"The audit branch\")")


def load_settings(tree: Tree, path: str = SETTINGS_FILE) -> Settings:
    raw = tree.read(path)
    if raw is None:
        raise ConfigError(f"{path} not found: it names the admins and the AWS accounts")
    settings, problems = read_settings(raw, path)
    if settings is None:
        raise ConfigError(f"{path} is invalid:\n{render(problems, 'text')}")
    return settings


def read_settings(raw: bytes, path: str = SETTINGS_FILE) -> tuple[Settings | None, list[Problem]]:
    """The settings, or None and every problem found (file, line and column)."""
    doc, problems = parse_yaml(raw, path, "settings")
    if doc is None:
        return None, problems
    try:
        return _settings(doc, path), []
    except _ValueError as error:
        return None, [Problem(path, *doc.where(error.key), error.message)]


def _settings(doc: YamlDoc, path: str) -> Settings:
    data: dict[str, Any] = doc.data
    settings = Settings(
        admins=tuple(data["admins"]),
        accounts={acct: (cfg or {}).get("role") for acct, cfg in data["accounts"].items()},
        revoke_roles={acct: (cfg or {}).get("revoke_role")
                      for acct, cfg in data["accounts"].items()},
        default_branch=data.get("default_branch", "main"),
        region=data.get("region", "us-east-1"),
        request_ttl=_duration(data, "request_ttl", timedelta(days=7)),
        attached_policy_quota=data.get("attached_policy_quota", 10),
        audit_dir=data.get("audit_dir", "audit"),
        audit_branch=data.get("audit_branch", "jitflow-audit"),
        audit_anchor=data.get("audit_anchor", "/jitflow/audit-head"),
        notification_targets=_targets(data),
        expiring_soon_lead=_duration(data.get("notifications", {}), "expiring_soon",
                                     timedelta(hours=1)),
        baseline_exempt={acct: _exempt(cfg or {}) for acct, cfg in data["accounts"].items()},
        jitflow_roles={acct: tuple((cfg or {}).get("jitflow_roles", ()))
                       for acct, cfg in data["accounts"].items()},
        path=path,
    )
    _check_duties(settings)
    _check_partition(settings)
    _check_audit_branch(settings)
    return settings
