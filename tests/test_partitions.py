"""ARNs in the partition of jitflow.yaml's region (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b).

`Settings.partition` (from `region`, through `jitflow.model.partition_of`) is the one source:
plans of both grant modes are built in it, the schemas and rules accept the known partitions
and refuse a principal outside it, and `jitflow check`, `validate`, `plan` and the engine pass
it on. The aws partition's documents stay byte for byte what they were (grants on record carry
their sha256)."""

from __future__ import annotations

import re

import pytest

from jitflow.model import PARTITION_PATTERN, PARTITIONS, Settings, partition_of

OTHER = ["aws-cn", "aws-us-gov"]


# ---- where the partition comes from ---------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("ap-southeast-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_the_partition_of_a_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition
    assert Settings(admins=(), accounts={}, region=region).partition == partition


def test_the_default_settings_are_in_the_aws_partition() -> None:
    assert Settings(admins=(), accounts={}).partition == "aws"


def test_the_partition_pattern_matches_exactly_the_known_partitions() -> None:
    for partition in PARTITIONS:
        assert re.fullmatch(PARTITION_PATTERN, partition), partition
    for other in ["", "aws-", "aws-xx", "aws-cnx", "aws-cn-north", "aws-iso-c", "AWS", "cn"]:
        assert re.fullmatch(PARTITION_PATTERN, other) is None, other
