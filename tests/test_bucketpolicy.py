"""jitflow.bucketpolicy: Sids, statements, the shared-policy edit, sizes. Pure."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jitflow import bucketpolicy as bp
from jitflow.model import AccessEntry, Identities, Identity
from jitflow.plan import build_plan, plan_summary, subject_for
from jitflow.rules import bucket_size_upper_bound
from testing.builders import ACCOUNT, T0, make_policy, make_request

ROLE = f"arn:aws:iam::{ACCOUNT}:role/shared-data"
BUCKET_POLICY = make_policy(grant="bucket-policy", buckets=("b", "c"),
                            actions=("s3:PutObject", "s3:DeleteObject", "s3:ListBucket",
                                     "s3:PutBucketTagging"))
policy_part = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
name_part = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)
IAM_SID = re.compile(r"[A-Za-z0-9]+")


@given(policy_part, name_part, st.integers(1, 20), st.sampled_from("OBL"))
def test_grant_sids_round_trip_within_the_sid_alphabet(
    policy: str, name: str, index: int, kind: str
) -> None:
    sid = bp.grant_sid(f"{policy}/{name}", index, kind)
    assert IAM_SID.fullmatch(sid) and len(sid) <= 108
    assert bp.parse_grant_sid(sid) == bp.GrantSid(f"{policy}/{name}", index, kind)


@given(policy_part, name_part, policy_part, name_part)
def test_two_requests_never_share_a_sid(p1: str, n1: str, p2: str, n2: str) -> None:
    if (p1, n1) != (p2, n2):
        assert bp.grant_sid(f"{p1}/{n1}", 1, "O") != bp.grant_sid(f"{p2}/{n2}", 1, "O")


def test_sids_jitflow_did_not_derive_are_not_its_own() -> None:
    for sid in ("AllowReplication", "JitflowG", "JitflowGabcE0O", "JitflowGabcSdefE1X",
                "JitflowGABCSdefE1O", "jitflowGabcSdefE1O", "JitflowGabcE1O", None, 7):
        assert bp.parse_grant_sid(sid) is None, sid
    assert bp.baseline_policy_of(bp.baseline_sid("analytics-raw")) == "analytics-raw"
    assert not bp.is_owned({"Sid": "JitflowGuess"})


def test_statements_admit_one_session_until_the_expiry_on_exact_prefix_arns() -> None:
    request = make_request(access=(AccessEntry("b", "p/2026/", ("s3:PutObject",)),))
    subject = bp.Subject(ROLE, ACCOUNT, session="alice@acme.example", unique_id="AROAEXAMPLE")
    statements = bp.grant_statements(request, subject, T0)
    assert statements == {"b": [{
        "Sid": "JitflowGdataHfixSfixE1O",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": ["s3:PutObject"],
        "Resource": "arn:aws:s3:::b/p/2026/*",
        "Condition": {"DateLessThan": {"aws:CurrentTime": "2026-11-28T09:00:00Z"},
                      "StringEquals": {"aws:userid": "AROAEXAMPLE:alice@acme.example"}},
    }]}


def test_list_bucket_has_its_own_statement_narrowed_by_s3_prefix() -> None:
    request = make_request(access=(AccessEntry("b", "p/x/", (
        "s3:PutObject", "s3:ListBucket", "s3:PutBucketTagging")),))
    by_sid = {s["Sid"]: s for s in bp.grant_statements(request, bp.Subject(ROLE, ACCOUNT), T0)["b"]}
    assert sorted(by_sid) == ["JitflowGdataHfixSfixE1B", "JitflowGdataHfixSfixE1L",
                              "JitflowGdataHfixSfixE1O"]
    listing = by_sid["JitflowGdataHfixSfixE1L"]
    assert listing["Action"] == ["s3:ListBucket"] and listing["Resource"] == "arn:aws:s3:::b"
    assert listing["Condition"]["StringLike"] == {"s3:prefix": "p/x/*"}
    assert "StringLike" not in by_sid["JitflowGdataHfixSfixE1B"]["Condition"]


def test_a_permission_set_is_pinned_to_its_identity_center_role_and_the_session() -> None:
    subject = bp.Subject("permission-set/DataEngineer", ACCOUNT, session="alice@acme.example")
    statement = bp.grant_statements(make_request(principal=subject.principal), subject, T0)["b"][0]
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Condition"]["ArnLike"] == {"aws:PrincipalArn": (
        f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*"
        "AWSReservedSSO_DataEngineer_*")}
    assert statement["Condition"]["StringEquals"] == {"aws:userid": "${RoleId}:alice@acme.example"}
    pattern = bp.sso_role_name_pattern("DataEngineer")
    assert pattern.fullmatch("AWSReservedSSO_DataEngineer_0123456789abcdef")
    assert not pattern.fullmatch("AWSReservedSSO_DataEngineer_Admin_0123456789abcdef")


def test_the_plan_json_carries_the_contract_keys_and_says_the_role_id_is_unknown() -> None:
    identities = Identities({"alice": (Identity(ROLE, "alice@acme.example"),)})
    request = make_request(principal=ROLE)
    plan = build_plan(request, BUCKET_POLICY, T0,
                      subject_for(request, BUCKET_POLICY, identities))
    summary = plan_summary(plan)
    statements = summary["bucket_policy_statements"]["b"]
    assert summary["grant"] == "bucket-policy"
    assert all(s["Condition"]["DateLessThan"] == {"aws:CurrentTime": "2026-11-28T11:00:00Z"}
               and s["Condition"]["StringEquals"] == {
                   "aws:userid": "${RoleId}:alice@acme.example"} for s in statements)
    assert any("${RoleId}" in note and "offline" in note for note in summary["notes"])


def test_identity_mode_plans_are_unchanged_by_the_bucket_mode() -> None:
    plan = build_plan(make_request(), make_policy(), T0)
    assert plan.subject is None and plan.bucket_statements == {}
    assert plan.document["Statement"][0]["Sid"] == "Objects1"


# --- the shared policy --------------------------------------------------------------------------

FOREIGN = [
    {"Sid": "Replication", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/r"},
     "Action": "s3:ReplicateObject", "Resource": "arn:aws:s3:::b/*"},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
]


def grant(name: str) -> list[dict[str, Any]]:
    return bp.grant_statements(make_request(name=name), bp.Subject(ROLE, ACCOUNT), T0)["b"]


def test_adding_keeps_foreign_statements_their_order_and_the_document_keys() -> None:
    before = {"Version": "2008-10-17", "Id": "Mine", "Statement": FOREIGN}
    after = bp.apply_edit(before, bp.Edit(put=tuple(grant("one"))))
    assert after is not None
    assert after["Statement"][:2] == FOREIGN and after["Id"] == "Mine"
    assert after["Version"] == "2008-10-17" and len(after["Statement"]) == 3


def test_two_grants_never_remove_each_other_and_removal_restores_the_policy() -> None:
    before = {"Version": "2012-10-17", "Statement": FOREIGN}
    both = bp.apply_edit(bp.apply_edit(before, bp.Edit(put=tuple(grant("one")))),
                         bp.Edit(put=tuple(grant("two"))))
    assert both is not None and len(both["Statement"]) == 4
    one_gone = bp.apply_edit(both, bp.Edit(remove=frozenset({grant("one")[0]["Sid"]})))
    assert one_gone is not None and [s.get("Sid") for s in one_gone["Statement"]] == [
        "Replication", None, grant("two")[0]["Sid"]]
    restored = bp.apply_edit(one_gone, bp.Edit(remove=frozenset({grant("two")[0]["Sid"]})))
    assert restored == before


def test_a_bucket_without_a_policy_returns_to_none() -> None:
    added = bp.apply_edit(None, bp.Edit(put=tuple(grant("one"))))
    assert added is not None and added["Version"] == "2012-10-17"
    assert bp.apply_edit(added, bp.Edit(remove=frozenset({grant("one")[0]["Sid"]}))) is None


def test_rerunning_the_same_put_converges() -> None:
    once = bp.apply_edit({"Statement": FOREIGN}, bp.Edit(put=tuple(grant("one"))))
    assert bp.apply_edit(once, bp.Edit(put=tuple(grant("one")))) == once


def test_differences_name_what_a_read_back_lacks_or_changed() -> None:
    written = bp.apply_edit({"Statement": FOREIGN}, bp.Edit(put=tuple(grant("one"))))
    assert bp.differences(written, json.loads(json.dumps(written))) == []
    lost = {"Statement": FOREIGN}
    assert bp.differences(written, lost) == [f"missing statement {grant('one')[0]['Sid']}"]
    changed = json.loads(json.dumps(written))
    changed["Statement"][0]["Action"] = "s3:*"
    assert bp.differences(written, changed) == ["statement Replication differs"]
    reordered = json.loads(json.dumps(written))
    reordered["Statement"][2]["Action"] = list(reversed(reordered["Statement"][2]["Action"]))
    assert bp.differences(written, reordered) == []


def test_expiry_is_read_from_the_statement_itself() -> None:
    assert bp.statement_expiry(grant("one")[0]) == T0
    assert bp.statement_expiry(FOREIGN[0]) is None


def test_baseline_denies_everything_but_reading_except_exempt_arns_and_live_sessions() -> None:
    policy = replace(BUCKET_POLICY, enforce_read_only=True)
    deny = bp.baseline_statement(policy, "b", ["arn:aws:iam::1:role/jitflow-apply"],
                                 ["AROAEXAMPLE:alice@acme.example"])
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["NotAction"] == ["s3:Get*", "s3:List*"]  # writes, config, the policy itself
    assert deny["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert deny["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::1:role/jitflow-apply"]},
        "StringNotEquals": {"aws:userid": ["AROAEXAMPLE:alice@acme.example"]}}
    quiet = bp.baseline_statement(policy, "b", ["arn:aws:iam::1:role/jitflow-apply"], [])
    assert "StringNotEquals" not in quiet["Condition"]


def test_each_grantee_is_held_to_its_grants_time_resources_and_actions() -> None:
    policy = replace(BUCKET_POLICY, enforce_read_only=True)
    alice = bp.Subject(ROLE, ACCOUNT, "alice@acme.example", "AROAEXAMPLE")
    grantee = bp.Exempted(alice, ("arn:aws:s3:::b/p/*",), ("s3:PutObject",),
                          "2026-11-28T11:00:00Z")
    main, until, where, what = bp.baseline_statements(policy, "b", ["arn:aws:iam::1:role/j"],
                                                      [grantee])
    userid = {"StringEquals": {"aws:userid": "AROAEXAMPLE:alice@acme.example"}}
    assert main["Condition"]["StringNotEquals"] == {
        "aws:userid": ["AROAEXAMPLE:alice@acme.example"]}
    assert until["Condition"] == {**userid, "DateGreaterThanEquals": {
        "aws:CurrentTime": "2026-11-28T11:00:00Z"}}
    assert where["NotResource"] == ["arn:aws:s3:::b/p/*"] and where["Condition"] == userid
    assert what["NotAction"] == ["s3:Get*", "s3:List*", "s3:PutObject"]
    assert what["Resource"] == ["arn:aws:s3:::b/p/*"]
    assert [s["Sid"] for s in (until, where, what)] == [
        "JitflowBaselinedataHfixU1T", "JitflowBaselinedataHfixU1R", "JitflowBaselinedataHfixU1A"]
    assert all(bp.baseline_policy_of(s["Sid"]) == "data-fix" for s in (until, where, what))


def test_a_grantee_that_is_exempt_anyway_is_not_held_to_its_grant() -> None:
    """A standing writer (or jitflow's role) granted as a whole principal keeps writing."""
    writer = "arn:aws:iam::1:role/etl"
    grantee = bp.Exempted(bp.Subject(writer, ACCOUNT), ("arn:aws:s3:::b/p/*",),
                          ("s3:PutObject",), "2026-11-28T11:00:00Z")
    statements = bp.baseline_statements(replace(BUCKET_POLICY, enforce_read_only=True), "b",
                                        [writer], [grantee])
    assert [s["Sid"] for s in statements] == ["JitflowBaselinedataHfix"]


def test_a_single_statement_object_is_read_as_a_policy_of_one() -> None:
    """IAM's grammar allows `"Statement": {...}`; such a foreign policy must not stop jitflow."""
    policy = bp.parse_policy(json.dumps({"Version": "2012-10-17", "Statement": FOREIGN[0]}))
    assert bp.statements_of(policy) == [FOREIGN[0]]
    after = bp.apply_edit(policy, bp.Edit(put=tuple(grant("one"))))
    assert after is not None and after["Statement"][0] == FOREIGN[0]
    assert bp.apply_edit(after, bp.Edit(remove=frozenset({grant("one")[0]["Sid"]}))) == {
        "Version": "2012-10-17", "Statement": [FOREIGN[0]]}


@given(st.lists(st.tuples(st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
                          st.from_regex(r"([a-z0-9=_-]{1,20}/){0,5}", fullmatch=True),
                          st.lists(st.sampled_from(["s3:PutObject", "s3:ListBucket",
                                                    "s3:PutBucketTagging",
                                                    "s3:AbortMultipartUpload"]),
                                   min_size=1, max_size=4, unique=True)),
                min_size=1, max_size=20),
       st.sampled_from([ROLE, "permission-set/DataEngineer_Long.Name@x"]))
def test_the_cheap_bound_is_never_below_the_real_statements_size(
    entries: list[tuple[str, str, list[str]]], principal: str
) -> None:
    request = make_request(principal=principal, access=tuple(
        AccessEntry(b, p, tuple(a)) for b, p, a in entries))
    subject = bp.Subject(principal, ACCOUNT, session="s" * 64, unique_id="AROA" + "X" * 17)
    per_bucket = bp.grant_statements(request, subject, T0 + timedelta(days=1), T0)  # a start
    real = max(bp.envelope_size() + bp.statements_size(s) for s in per_bucket.values())
    assert real <= bucket_size_upper_bound(request)


PIN = {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}


@pytest.mark.parametrize(("statement", "pinned"), [
    ({"Effect": "Allow", "Action": "sts:AssumeRole"}, False),
    ({"Effect": "Allow", "Action": "sts:AssumeRole", "Condition": PIN}, True),
    ({"Effect": "Allow", "Action": ["sts:TagSession", "sts:AssumeRole*"]}, False),
    ({"Effect": "Allow", "Action": "*", "Condition": PIN}, True),
    ({"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity"}, False),
    ({"Effect": "Allow", "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"]}, True),
    ({"Effect": "Allow", "NotAction": "sts:TagSession"}, False),
    ({"Effect": "Deny", "Action": "sts:AssumeRole"}, True),
    ({"Effect": "Allow", "Action": "sts:AssumeRole",
      "Condition": {"StringLike": {"sts:RoleSessionName": "${aws:username}"}}}, False),
    ({"Effect": "Allow", "Action": "sts:AssumeRole",
      "Condition": {"StringEquals": {"sts:RoleSessionName": ["${aws:username}", "admin"]}}},
     False),
])
def test_session_names_count_only_when_no_caller_can_choose_them(
    statement: dict[str, object], pinned: bool
) -> None:
    found = bp.unpinned_session_names({"Statement": [statement]})
    assert (found is None) == pinned, found
