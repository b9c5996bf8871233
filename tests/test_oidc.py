"""The one spelling of the OIDC subject a jitflow role trusts."""

from __future__ import annotations

import pytest

from jitflow.oidc import CLAIM_KEYS, customization_body, expected_subject


def test_subject_names_ids_ref_and_both_workflow_files_in_claim_order() -> None:
    subject = expected_subject(owner_id="111", repository_id="222", repository="acme/access",
                               branch="main", duty="apply")
    assert subject.render() == (
        "repository_owner_id:111:repository_id:222:ref:refs/heads/main"
        ":workflow_ref:acme/access/.github/workflows/jitflow-apply.yml@refs/heads/main"
        ":job_workflow_ref:acme/access/.github/workflows/reusable-apply.yml@refs/heads/main")


def test_a_pinned_reusable_workflow_is_named_at_its_sha() -> None:
    sha = "0" * 40
    subject = expected_subject(owner_id="1", repository_id="2", repository="acme/access",
                               branch="trunk", duty="revoke", reusable_repository="jitflow/jitflow",
                               reusable_ref=sha)
    workflows = ".github/workflows"
    assert subject.workflow_ref == f"acme/access/{workflows}/jitflow-revoke.yml@refs/heads/trunk"
    assert subject.job_workflow_ref == f"jitflow/jitflow/{workflows}/reusable-revoke.yml@{sha}"


def test_each_duty_has_its_own_subject() -> None:
    subjects = {duty: expected_subject(owner_id="1", repository_id="2", repository="a/b",
                                       branch="main", duty=duty).render()
                for duty in ("check", "apply", "revoke")}
    assert len(set(subjects.values())) == 3


def test_unknown_duty_is_refused() -> None:
    with pytest.raises(KeyError):
        expected_subject(owner_id="1", repository_id="2", repository="a/b", branch="main",
                         duty="admin")


def test_customization_body_turns_the_default_off_and_lists_the_claims_in_order() -> None:
    assert customization_body() == {"use_default": False, "include_claim_keys": list(CLAIM_KEYS)}
