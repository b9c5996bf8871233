"""Every finding of one `jitflow doctor` run, from the facts gathered (pure)."""

from __future__ import annotations

from datetime import datetime

from jitflow.doctor.aws_checks import aws_findings, notification_findings
from jitflow.doctor.facts import AwsFacts, GitHubFacts
from jitflow.doctor.findings import Finding
from jitflow.doctor.gather import Setup
from jitflow.doctor.repo_checks import github_findings
from jitflow.doctor.workflows import subject_for


def findings(github: GitHubFacts, setup: Setup, aws: AwsFacts, now: datetime) -> list[Finding]:
    """The GitHub items, then the AWS items (each role's trust judged against the subject
    its caller workflow on the default branch gets), then what the notification targets
    need of the roles."""
    subjects = {state.duty: subject_for(github.repository, github.callers.get(state.duty),
                                        state.duty) for state in aws.roles}
    return (github_findings(github, setup.settings, setup.problems, now)
            + aws_findings(aws, subjects, setup.policies.identities)
            + notification_findings(aws, setup.settings.notification_targets,
                                    partition=setup.settings.partition,
                                    region=setup.settings.region))
