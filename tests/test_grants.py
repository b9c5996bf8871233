"""jitflow.grants: naming, path-encoded expiry, tags and classification (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jitflow import grants
from jitflow.grants import ListedPolicy

T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}")
IAM_PATH = re.compile(r"(/[\x21-\x7e]+)*/")
TAG_VALUE = re.compile(r"[\w\s.:/=+\-@]{0,256}")

policy_parts = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
name_parts = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)


@given(policy_parts, name_parts)
def test_policy_name_is_valid_reversible_and_short(policy: str, name: str) -> None:
    request_id = f"{policy}/{name}"
    iam_name = grants.policy_name(request_id)
    assert IAM_NAME.fullmatch(iam_name)
    assert grants.request_id_from_name(iam_name) == request_id


@pytest.mark.parametrize("bad", ["a/b/c", "A/b", "a", "a.b/c", "/a", "a/", "a/-" + "x" * 63])
def test_policy_name_refuses_non_request_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="not a request id"):
        grants.policy_name(bad)


@pytest.mark.parametrize("name", ["jitflow.a", "jitflow.a.b.c", "other.a.b", "jitflow.A.b", ""])
def test_foreign_names_do_not_parse(name: str) -> None:
    assert grants.request_id_from_name(name) is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 1, 1)))
def test_expiry_round_trips_through_the_path(naive: datetime) -> None:
    expiry = naive.replace(microsecond=0, tzinfo=UTC)
    path = grants.policy_path(expiry)
    assert IAM_PATH.fullmatch(path) and path.startswith("/jitflow/")
    assert grants.expiry_from_path(path) == expiry


def test_path_example_and_arn() -> None:
    assert grants.policy_path(T0) == "/jitflow/20261128T090000Z/"
    assert (
        grants.policy_arn("123456789012", T0, "data/fix")
        == "arn:aws:iam::123456789012:policy/jitflow/20261128T090000Z/jitflow.data.fix"
    )


@pytest.mark.parametrize(
    "path", ["/jitflow/", "/jitflow/x/", "/jitflow/20261328T090000Z/", "/other/20261128T090000Z/"]
)
def test_bad_paths_have_no_expiry(path: str) -> None:
    assert grants.expiry_from_path(path) is None


@given(st.text(max_size=60))
def test_tag_values_round_trip_within_the_iam_charset(text: str) -> None:
    encoded = grants.encode_tag_value(text)
    assert re.fullmatch(r"[A-Za-z0-9 _.:/=+\-@]*", encoded)
    assert grants.decode_tag_value(encoded) == text


def test_tag_decode_refuses_what_encode_never_writes() -> None:
    with pytest.raises(ValueError, match="bad escape"):
        grants.decode_tag_value("a=zz")


def _tags(approvers: tuple[str, ...] = ("alice", "@org/team")) -> list[dict[str, str]]:
    return grants.build_tags(
        request_id="data/fix",
        requester="bob",
        principal="arn:aws:iam::123456789012:role/ops/Deploy,Role",
        expiry=T0,
        commit="a" * 40,
        pr=42,
        approvers=approvers,
        sha256="f" * 64,
    )


def test_tags_round_trip() -> None:
    tags = _tags()
    assert [t["Key"] for t in tags] == list(grants.TAG_KEYS)
    assert all(TAG_VALUE.fullmatch(t["Value"]) for t in tags)
    parsed = grants.parse_tags(grants.tags_to_dict(tags))
    assert parsed == grants.GrantTags(
        request="data/fix",
        requester="bob",
        principal="arn:aws:iam::123456789012:role/ops/Deploy,Role",
        expiry=T0,
        commit="a" * 40,
        pr=42,
        approvers=("alice", "@org/team"),
        sha256="f" * 64,
    )


def test_many_approvers_are_cut_to_fit_with_a_count() -> None:
    approvers = tuple(f"approver-{i:02d}-{'x' * 20}" for i in range(20))
    value = grants.tags_to_dict(_tags(approvers))[grants.TAG_APPROVERS]
    assert len(value) <= 256
    kept = value.split(" ")
    assert kept[-1] == f"+{20 - (len(kept) - 1)}"
    assert kept[:-1] == list(approvers[: len(kept) - 1])


def test_missing_or_malformed_tags_are_none() -> None:
    tags = grants.tags_to_dict(_tags())
    for key in grants.TAG_KEYS:
        assert grants.parse_tags({k: v for k, v in tags.items() if k != key}) is None
    assert grants.parse_tags({**tags, grants.TAG_PR: "x"}) is None
    assert grants.parse_tags({**tags, grants.TAG_EXPIRY: "tomorrow"}) is None


def test_too_long_principal_is_refused() -> None:
    with pytest.raises(ValueError, match="jitflow:principal"):
        grants.build_tags(
            request_id="data/fix",
            requester="bob",
            principal="arn:aws:iam::123456789012:role/" + "p/" * 200 + "r",
            expiry=T0,
            commit="c",
            pr=1,
            approvers=("a",),
            sha256="0",
        )


def test_parse_principal() -> None:
    role = grants.parse_principal("arn:aws:iam::123456789012:role/team/Deploy")
    assert (role.account, role.kind, role.name) == ("123456789012", "role", "Deploy")
    user = grants.parse_principal("arn:aws:iam::123456789012:user/alice")
    assert (user.kind, user.name) == ("user", "alice")
    for bad in (
        "arn:aws:sts::123456789012:assumed-role/Deploy/session",
        "arn:aws:iam::123456789012:group/admins",
        "arn:aws:iam::12345:role/x",
        "arn:aws:iam::123456789012:role/",
    ):
        with pytest.raises(ValueError, match="not an IAM role or user"):
            grants.parse_principal(bad)


@given(st.text(max_size=200))
def test_role_session_name_is_always_valid(label: str) -> None:
    name = grants.role_session_name(label)
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", name, re.ASCII)
    assert name.startswith("jitflow-")


def test_role_session_name_example() -> None:
    assert grants.role_session_name("data/fix") == "jitflow-data.fix"


def _listed(name: str, path: str) -> ListedPolicy:
    return ListedPolicy(arn=f"arn:aws:iam::1:policy{path}{name}", name=name, path=path,
                        attachment_count=1)


def test_sweep_sorts_live_expired_and_malformed() -> None:
    now = T0
    items = [
        _listed("jitflow.a.live", grants.policy_path(now + timedelta(seconds=1))),
        _listed("jitflow.a.edge", grants.policy_path(now)),
        _listed("jitflow.a.old", grants.policy_path(now - timedelta(days=1))),
        _listed("jitflow.a.bad", "/jitflow/garbage/"),
        _listed("someone-else", grants.policy_path(now)),
    ]
    result = grants.sweep(items, now)
    assert [g.request_id for g in result.live] == ["a/live"]
    assert [g.request_id for g in result.expired] == ["a/edge", "a/old"]
    assert [p.name for p in result.malformed] == ["jitflow.a.bad", "someone-else"]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=2, hours=3, minutes=4), "2d 3h"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=-5), "expired 5m ago"),
        (timedelta(0), "expired 0s ago"),
    ],
)
def test_expires_in(delta: timedelta, text: str) -> None:
    assert grants.expires_in(T0 + delta, T0) == text
