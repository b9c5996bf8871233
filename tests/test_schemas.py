"""The shipped schemas: valid JSON Schema, compiled validators in sync, both engines agree."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import pytest
from foundation_helpers import ROOT, dump, judge, valid_request_data
from jsonschema import Draft7Validator

from jitflow.schema import SCHEMAS, schema_text

sys.path.insert(0, str(ROOT / "tools"))
import gen_schema_validators


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft7(name: str) -> None:
    Draft7Validator.check_schema(json.loads(schema_text(name)))


def test_compiled_validators_match_the_schemas() -> None:
    expected = gen_schema_validators.expected_files()
    generated_by = next(iter(expected.values()))
    if f'VERSION = "{metadata.version("fastjsonschema")}"' not in generated_by:
        pytest.skip("installed fastjsonschema differs from the one that generated the modules")
    for path, text in expected.items():
        assert Path(path).read_text() == text, (
            f"{path} is stale: run tools/gen_schema_validators.py"
        )


def test_trailing_newline_in_a_value_is_refused() -> None:
    # jsonschema's "$" admits a final newline; the compiled validator's "\\Z" does not.
    data = valid_request_data()
    data["access"][0]["bucket"] = "analytics-raw\n"
    request, problems = judge(dump(data))
    assert request is None and problems


def test_size_bound_is_never_below_the_real_size() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from foundation_helpers import example_policies  # noqa: PLC0415

    from jitflow.plan import build_plan, document_size  # noqa: PLC0415
    from jitflow.rules import size_upper_bound  # noqa: PLC0415

    data = valid_request_data()
    data["access"] = [
        {
            "bucket": "analytics-raw-eu",
            "prefix": f"backfill/{i}/",
            "actions": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
        }
        for i in range(20)
    ]
    request, problems = judge(dump(data))
    assert request is not None, problems
    size = document_size(
        build_plan(
            request, example_policies().policies["analytics-raw"], datetime(2026, 1, 1, tzinfo=UTC)
        ).document
    )
    bound = size_upper_bound(request)
    assert size <= bound
