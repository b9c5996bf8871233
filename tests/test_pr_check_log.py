"""`jitflow.pr.check._Log`: the audit log read without parsing every record, against the plain
reading (every line parsed) it replaces."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitflow.audit.chain import dumps
from jitflow.pr.check import _Log, _sizes_of

PROFILE = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])
# The last one is written "b\u00e9" by a hand that escapes non-ASCII ("ascii" below).
BUCKETS = ["analytics-raw", "analytics-raw-eu", "acme-ml-models", "b\u00e9"]


def lines_of(data: bytes) -> list[str]:
    """Lines as `AuditLog` reads them: ended by "\n" alone (a record may hold U+2028)."""
    return data.decode("utf-8", errors="replace").split("\n")


def parsed_ids(contents: Iterable[bytes]) -> set[str]:
    """The plain reading: every line parsed; a line that is no JSON object names nothing."""
    ids = set()
    for data in contents:
        for line in lines_of(data):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("request"), str):
                ids.add(record["request"])
    return ids


def parsed_sizes(contents: Iterable[bytes]) -> dict[str, tuple[int, str]]:
    sizes: dict[str, tuple[int, str]] = {}
    for data in contents:
        for line in lines_of(data):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                sizes.update(_sizes_of(record))
    return sizes


# Request ids and texts at the edges of JSON: quotes, backslashes, escapes, line breaks that
# JSON does not escape (U+2028), carriage returns, non-ASCII.
texts = st.sampled_from(["analytics-raw/a", "analytics-raw/b", "ml-models/c", 'x"y', "x\\y",
                         "a/b\u2028c", "a\rb", "caf\u00e9/x", "", "request", '"request":"z"'])
items = st.fixed_dictionaries({
    "bucket": st.sampled_from([*BUCKETS, 'b"q']),
    "policy_bytes": st.sampled_from([0, 400, 20_000, -1, "400"]),
})
records = st.fixed_dictionaries(
    {"seq": st.integers(1, 9), "time": st.sampled_from(["2026-11-01T00:00:00Z",
                                                       "2026-11-02T00:00:00Z"])},
    optional={"request": texts | st.integers(), "reason": texts,
              "buckets": st.lists(items, max_size=3),
              "access": st.lists(st.fixed_dictionaries({"request": texts}), max_size=1)})


def written(record: dict[str, Any], style: str) -> str:
    """A record as jitflow writes it, or as someone might by hand."""
    if style == "canonical":
        return dumps(record)
    if style == "spaced":
        return json.dumps(record, indent=None, separators=(" , ", " : "))
    if style == "ascii":
        return json.dumps(record, ensure_ascii=True)
    return dumps(record)[: len(dumps(record)) // 2]  # broken: cut in the middle


lines = st.tuples(records, st.sampled_from(["canonical", "canonical", "spaced", "ascii",
                                            "broken"])).map(lambda pair: written(*pair))
files = st.lists(st.lists(lines, max_size=6).map(lambda ls: "".join(f"{x}\n" for x in ls)
                                                  .encode()), max_size=4)


@PROFILE
@given(files)
def test_request_ids_never_miss_an_id_a_parsed_line_names(contents: list[bytes]) -> None:
    found = _Log.of(contents).request_ids()
    assert found >= parsed_ids(contents)


@PROFILE
@given(st.lists(st.lists(records, max_size=6).map(
    lambda rs: "".join(dumps(r) + "\n" for r in rs).encode()), max_size=4))
def test_request_ids_of_a_log_jitflow_wrote_are_exactly_the_parsed_ones(
        contents: list[bytes]) -> None:
    """Canonical lines with only top-level "request" keys: nothing more, nothing less."""
    plain = [b"\n".join(line for line in data.splitlines() if b'"access"' not in line)
             for data in contents]
    assert _Log.of(plain).request_ids() == parsed_ids(plain)


@PROFILE
@given(files, st.sets(st.sampled_from([*BUCKETS, "never-recorded"])))
def test_last_sizes_are_the_last_measured_of_the_asked_buckets(
        contents: list[bytes], buckets: set[str]) -> None:
    expected = {b: size for b, size in parsed_sizes(contents).items() if b in buckets}
    assert _Log.of(contents).last_sizes(buckets) == expected


def test_an_id_is_found_wherever_the_record_names_it() -> None:
    canonical = dumps({"seq": 1, "event": "granted", "request": "analytics-raw/a"})
    spaced = '{"seq": 2, "request" :\t"analytics-raw/b"}'
    escaped = '{"seq": 3, "request": "analytics-raw\\/c"}'
    separated = dumps({"seq": 4, "reason": "one\u2028two", "request": "analytics-raw/d"})
    log = _Log.of([f"{canonical}\n{spaced}\n".encode(), f"{escaped}\n{separated}\n".encode()])
    assert log.request_ids() == {f"analytics-raw/{x}" for x in "abcd"}
