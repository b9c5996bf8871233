"""The strict YAML loader: one test per refusal, valid cases, and properties over random input.

Every test runs twice: with libyaml's C parser (what production uses) and with PyYAML's pure
Python parser (the fallback when PyYAML was built without libyaml).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitflow import safeyaml
from jitflow.problems import Problem
from jitflow.safeyaml import MAX_BYTES, MAX_DEPTH, YamlDoc, load

PATH = "requests/analytics/backfill.yaml"

REQUEST = b"""\
# yaml-language-server: $schema=../../jitflow/schemas/request.schema.json
requester: alice
principal: arn:aws:iam::111122223333:role/alice-data
reason: Backfill the 2026-11-27 clickstream partition after job 4411 failed
ticket: OPS-1234
duration: 2h
access:
  - bucket: analytics-raw
    prefix: clickstream/2026/11/27/
    actions: [s3:PutObject, s3:DeleteObject]
"""


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML was built without libyaml")
        monkeypatch.setattr(safeyaml, "_Parser", yaml.CSafeLoader)
    else:
        monkeypatch.setattr(safeyaml, "_Parser", yaml.SafeLoader)
    yield request.param


def ok(raw: bytes) -> YamlDoc:
    doc, problems = load(raw, PATH)
    assert problems == [], [p.text() for p in problems]
    assert doc is not None
    return doc


def refused(raw: bytes) -> list[Problem]:
    doc, problems = load(raw, PATH)
    assert doc is None
    assert problems, "refused input must come with at least one problem"
    assert all(p.path == PATH for p in problems)
    return problems


def only(raw: bytes) -> Problem:
    problems = refused(raw)
    assert len(problems) == 1, [p.text() for p in problems]
    return problems[0]


# --- valid files ------------------------------------------------------------------------------


def test_realistic_request_gives_exact_data_and_positions() -> None:
    doc = ok(REQUEST)
    assert doc.data == {
        "requester": "alice",
        "principal": "arn:aws:iam::111122223333:role/alice-data",
        "reason": "Backfill the 2026-11-27 clickstream partition after job 4411 failed",
        "ticket": "OPS-1234",
        "duration": "2h",
        "access": [
            {
                "bucket": "analytics-raw",
                "prefix": "clickstream/2026/11/27/",
                "actions": ["s3:PutObject", "s3:DeleteObject"],
            }
        ],
    }
    assert doc.positions == {
        (): (2, 1),
        ("requester",): (2, 1),
        ("principal",): (3, 1),
        ("reason",): (4, 1),
        ("ticket",): (5, 1),
        ("duration",): (6, 1),
        ("access",): (7, 1),
        ("access", 0): (8, 5),
        ("access", 0, "bucket"): (8, 5),
        ("access", 0, "prefix"): (9, 5),
        ("access", 0, "actions"): (10, 5),
        ("access", 0, "actions", 0): (10, 15),
        ("access", 0, "actions", 1): (10, 29),
    }
    assert list(doc.data) == ["requester", "principal", "reason", "ticket", "duration", "access"]


def test_where_falls_back_to_the_nearest_ancestor_then_the_root() -> None:
    doc = ok(REQUEST)
    assert doc.where(("access", 0, "prefix")) == (9, 5)
    assert doc.where(("access", 0, "actions", 7)) == (10, 5)
    assert doc.where(("nope", "deeper")) == (2, 1)
    assert doc.where(()) == (2, 1)
    assert YamlDoc(None, {}).where(("anything",)) == (1, 1)


def test_policy_file_with_quoted_and_canonical_scalars() -> None:
    doc = ok(b"""\
description: Raw analytics landing bucket
account: "111122223333"
buckets: [analytics-raw, analytics-raw-eu]
prefixes: [clickstream/, backfill/, ""]
approvers: ["@acme/data-platform", "erin"]
min_approvals: 2
require_ticket: false
permissions_management: true
ticket_pattern: "^[A-Z]+-[0-9]+$"
requesters: ~
""")
    assert doc.data["account"] == "111122223333"
    assert doc.data["prefixes"] == ["clickstream/", "backfill/", ""]
    assert doc.data["min_approvals"] == 2
    assert doc.data["require_ticket"] is False
    assert doc.data["permissions_management"] is True
    assert doc.data["ticket_pattern"] == "^[A-Z]+-[0-9]+$"
    assert doc.data["requesters"] is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("0", 0),
        ("-0", 0),
        ("42", 42),
        ("-17", -17),
        (str(2**53), 2**53),
        (str(-(2**53)), -(2**53)),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("00.5", 0.5),
        ("2h", "2h"),
        ("1h30m", "1h30m"),
        ("2026-11-27", "2026-11-27"),
        ("10.0.0.1", "10.0.0.1"),
        ("1.2.3", "1.2.3"),
        ("-x-", "-x-"),
        ("-foo", "-foo"),
        ("yesterday", "yesterday"),
        ("nothing", "nothing"),
        ("0x", "0x"),
        ("Infinity", "Infinity"),
        ("arn:aws:iam::111122223333:role/x", "arn:aws:iam::111122223333:role/x"),
        ("a b  c", "a b  c"),
    ],
)
def test_plain_scalars_resolve_canonically(text: str, value: Any) -> None:
    loaded = ok(f"k: {text}\n".encode()).data["k"]
    assert loaded == value
    assert type(loaded) is type(value)


@pytest.mark.parametrize(
    "text",
    ["'yes'", '"yes"', '"0755"', "'1e3'", '"1:30"', '".inf"', '"="', "'<<'", '"True"',
     '"12345678901234567890"', '"~"', "''"],
)
def test_quoted_scalars_are_always_strings(text: str) -> None:
    value = ok(f"k: {text}\n".encode()).data["k"]
    assert type(value) is str
    assert value == text[1:-1]


def test_block_scalars_are_strings() -> None:
    doc = ok(b"literal: |\n  0755\n  yes\nfolded: >\n  1e3\n  on\n")
    assert doc.data == {"literal": "0755\nyes\n", "folded": "1e3 on\n"}


def test_flow_and_block_positions() -> None:
    doc = ok(b"a:\n  - x\n  -   {b: 1, c: [2, 3]}\n'q': \"v\"\n")
    assert doc.positions == {
        (): (1, 1),
        ("a",): (1, 1),
        ("a", 0): (2, 5),
        ("a", 1): (3, 7),
        ("a", 1, "b"): (3, 8),
        ("a", 1, "c"): (3, 14),
        ("a", 1, "c", 0): (3, 18),
        ("a", 1, "c", 1): (3, 21),
        ("q",): (4, 1),
    }


def test_columns_count_characters_not_bytes() -> None:
    doc = ok("é😀: [ü, x]\n".encode())
    assert doc.positions[("é😀", 1)] == (1, 9)


def test_escapes_for_tab_and_newline_are_allowed() -> None:
    assert ok(b'a: "x\\ty\\nz"\n').data == {"a": "x\ty\nz"}


def test_explicit_document_markers_and_keys_are_fine() -> None:
    assert ok(b"---\n? k\n: v\n...\n# trailing comment\n").data == {"k": "v"}


@pytest.mark.parametrize("raw", [b"", b"# only a comment\n", b"---\n", b"--- ~\n", b"\n\n"])
def test_empty_document_gives_none_and_no_problem(raw: bytes) -> None:
    assert ok(raw).data is None


def test_exactly_max_depth_is_fine() -> None:
    raw = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    data = ok(raw).data
    for _ in range(MAX_DEPTH - 1):
        data = data[0]
    assert data == []


def test_exactly_max_bytes_is_fine() -> None:
    raw = b"k: " + b"x" * (MAX_BYTES - 4) + b"\n"
    assert len(raw) == MAX_BYTES
    assert ok(raw).data == {"k": "x" * (MAX_BYTES - 4)}


# --- refusals before parsing --------------------------------------------------------------------


def test_file_over_max_bytes_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(_: str) -> None:
        raise AssertionError("the parser must not run")

    monkeypatch.setattr(safeyaml, "_Parser", no_parsing)
    problem = only(b"x" * (MAX_BYTES + 1))
    assert (problem.line, problem.col) == (None, None)
    assert problem.message == "the file is 65,537 bytes; the limit is 65,536 bytes (64 KiB)"
    bomb = b"a: &a [" + b"*a, " * (MAX_BYTES // 4) + b"]\n"
    assert only(bomb).message.startswith(f"the file is {len(bomb):,} bytes")


@pytest.mark.parametrize(
    ("raw", "line", "col", "shown"),
    [
        (b"a: \xff\n", 1, 4, "ff"),
        (b"a: ok\nb: caf\xc3\n", 2, 7, "c3"),  # truncated at the end of a line
        (b"a: ok\nb: \xc3\x28\n", 2, 4, "c3"),  # bad continuation byte
        (b"\xc3\xa9: ok\nb: \xc0\xaf\n", 2, 4, "c0"),  # overlong encoding
        (b"a: \xed\xa0\x80\n", 1, 4, "ed"),  # an encoded UTF-16 surrogate
        (b"\xc3\xa9\xc3\xa9 \xf8\n", 1, 4, "f8"),  # columns count characters
    ],
)
def test_invalid_utf8_is_refused_with_its_line(raw: bytes, line: int, col: int, shown: str) -> None:
    problem = only(raw)
    assert (problem.line, problem.col) == (line, col)
    assert f"invalid UTF-8 at line {line}" in problem.message
    assert shown in problem.message


@pytest.mark.parametrize(
    ("bom", "name"),
    [
        (b"\xef\xbb\xbf", "UTF-8"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
    ],
)
def test_byte_order_mark_is_refused(bom: bytes, name: str) -> None:
    text = "a: 1\n"
    encoding = {"UTF-8": "utf-8", "UTF-16": "utf-16-le" if bom[0] == 0xFF else "utf-16-be",
                "UTF-32": "utf-32-le" if bom[0] == 0xFF else "utf-32-be"}[name]
    problem = only(bom + text.encode(encoding))
    assert (problem.line, problem.col) == (1, 1)
    assert f"{name} byte-order mark" in problem.message
    assert "remove the byte-order mark" in problem.message


def test_crlf_file_is_refused_once_with_use_lf() -> None:
    problem = only(b"requester: alice\r\nduration: 2h\r\n")
    assert (problem.line, problem.col) == (1, 17)
    assert "carriage return" in problem.message
    assert "use LF line endings" in problem.message


def test_lone_cr_is_refused() -> None:
    problem = only(b"a: 1\rb: 2\n")
    assert (problem.line, problem.col) == (1, 5)
    assert "use LF line endings" in problem.message


@pytest.mark.parametrize(
    ("char", "words"),
    [
        ("\x00", "NUL character (U+0000)"),
        ("\x01", "control character (U+0001)"),
        ("\x08", "control character (U+0008)"),
        ("\x0b", "control character (U+000B)"),
        ("\x0c", "control character (U+000C)"),
        ("\x1b", "control character (U+001B)"),
        ("\x7f", "control character (U+007F)"),
        ("\x80", "control character (U+0080)"),
        ("\x85", "control character (U+0085)"),  # NEL: a line break to YAML
        ("\x9f", "control character (U+009F)"),
        ("\u2028", "line or paragraph separator (U+2028)"),
        ("\u2029", "line or paragraph separator (U+2029)"),
        ("\u202e", "bidirectional text control (U+202E)"),
        ("\u2066", "bidirectional text control (U+2066)"),
        ("\ufeff", "byte-order mark (U+FEFF) inside the file"),
        ("\ufffe", "non-character (U+FFFE)"),
    ],
)
def test_control_character_is_refused_with_line_and_col(char: str, words: str) -> None:
    problem = only(f"a: ok\nb: x{char}y\n".encode())
    assert (problem.line, problem.col) == (2, 5)
    assert words in problem.message
    assert "not allowed" in problem.message


def test_several_control_characters_are_all_reported_up_to_a_cap() -> None:
    problems = refused(b"a: \x01\nb: \x02\n")
    assert [(p.line, p.col) for p in problems] == [(1, 4), (2, 4)]
    flood = refused(b"\x01" * 1000)
    assert 1 < len(flood) <= 25
    assert "more" in flood[-1].message


@pytest.mark.parametrize(
    ("escape", "words"),
    [("\\0", "NUL"), ("\\e", "U+001B"), ("\\r", "carriage return"), ("\\x7f", "U+007F"),
     ("\\N", "U+0085"), ("\\L", "U+2028"), ("\\u202e", "U+202E"), ("\\ufeff", "U+FEFF")],
)
def test_control_character_written_as_an_escape_is_refused(escape: str, words: str) -> None:
    problem = only(f'a: ok\nb: "x{escape}y"\n'.encode())
    assert (problem.line, problem.col) == (2, 4)
    assert words in problem.message
    assert "escape" in problem.message


# --- refusals while parsing ---------------------------------------------------------------------


def test_second_document_is_refused() -> None:
    problem = only(b"requester: alice\n---\nrequester: mallory\n")
    assert (problem.line, problem.col) == (2, 1)
    assert "more than one YAML document" in problem.message


def test_second_document_is_refused_even_when_empty() -> None:
    assert "more than one YAML document" in only(b"a: 1\n---\n").message


def test_second_document_is_refused_before_its_syntax_errors() -> None:
    assert "more than one YAML document" in only(b"a: 1\n---\n]]] : :\n").message


@pytest.mark.parametrize(
    ("raw", "where"),
    [(b"a: &x 1\nb: 2\n", (1, 4)), (b"base: &base\n  x: 1\n", (1, 7)),
     (b"l: &l [1]\n", (1, 4)), (b"&root {a: 1}\n", (1, 1))],
)
def test_anchor_is_refused(raw: bytes, where: tuple[int, int]) -> None:
    problem = only(raw)
    assert (problem.line, problem.col) == where
    assert "anchors" in problem.message


def test_alias_is_refused() -> None:
    problem = only(b"a: *x\n")
    assert (problem.line, problem.col) == (1, 4)
    assert "aliases (*x)" in problem.message


def test_names_from_the_file_are_clipped_in_messages() -> None:
    long = "n" * 10_000
    for raw in (f"a: &{long} 1\n", f"a: *{long}\n", f"a: !{long} 1\n", f"{long}: 1\n{long}: 2\n",
                f"a: {'9' * 10_000}\n"):
        assert all(len(p.message) < 200 for p in refused(raw.encode()))


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['lol0: &lol0 ["lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*lol{i - 1}"] * 10)
        lines.append(f"lol{i}: &lol{i} [{refs}]")
    raw = ("\n".join(lines) + "\n").encode()
    start = time.perf_counter()
    problem = only(raw)
    assert time.perf_counter() - start < 0.1
    assert "anchors" in problem.message


def test_alias_bomb_without_a_leading_anchor_is_still_refused_quickly() -> None:
    # The first node is fine; the anchor comes later, after a lot of ordinary content.
    raw = b"".join(b"k%d: v\n" % i for i in range(300)) + b"a: &a [x, x]\nb: [*a, *a]\n"
    start = time.perf_counter()
    assert "anchors" in only(raw).message
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        (b"a: !!python/object/apply:os.system ['id']\n", "!!python/object/apply:os.system"),
        (b"a: !!python/object:collections.OrderedDict {}\n", "!!python/object:collections"),
        (b"a: !!str 1\n", "tags (!!str)"),
        (b"a: !!binary aGVsbG8=\n", "binary"),
        (b"a: !foo x\n", "!foo"),
        (b"a: ! x\n", "!"),
        (b"a: !<tag:example.com,2026:x> y\n", "tag:example.com,2026:x"),
        (b"a: !!map {b: 1}\n", "map"),
        (b"a: !!seq [1]\n", "seq"),
        (b"!!set {a, b}\n", "set"),
    ],
)
def test_explicit_tag_is_refused(raw: bytes, tag: str) -> None:
    problem = only(raw)
    assert "tags (" in problem.message
    assert tag in problem.message


def test_directives_are_refused() -> None:
    assert "directives" in only(b"%YAML 1.1\n---\na: 1\n").message
    assert "directives" in only(b"%TAG !e! tag:example.com,2026:\n---\na: 1\n").message


@pytest.mark.parametrize(
    "raw",
    [b"a: 1\n<<: {b: 2}\n", b"x:\n  <<: {b: 2}\n  c: 3\n", b"- {<<: {b: 2}}\n"],
)
def test_merge_key_is_refused(raw: bytes) -> None:
    problem = only(raw)
    assert "merge keys (<<) are not allowed" in problem.message


def test_merge_key_with_alias_is_refused() -> None:
    messages = [p.message for p in refused(b"x: 1\n<<: *base\n")]
    assert any("merge keys" in m for m in messages)
    assert any("aliases" in m for m in messages)


@pytest.mark.parametrize(
    ("raw", "second", "first"),
    [
        (b"requester: alice\nrequester: mallory\n", (2, 1), (1, 1)),
        (b"a:\n  b: 1\n  c: 2\n  b: 3\n", (4, 3), (2, 3)),
        (b"access:\n  - bucket: x\n    bucket: z\n", (3, 5), (2, 5)),
        (b"{a: 1, a: 2}\n", (1, 8), (1, 2)),
        (b"'a': 1\na: 2\n", (2, 1), (1, 1)),  # quoted and plain spell the same key
        (b"a: {x: [1]}\na: 2\n", (2, 1), (1, 1)),
    ],
)
def test_duplicate_key_is_refused_with_both_positions(
    raw: bytes, second: tuple[int, int], first: tuple[int, int]
) -> None:
    problem = only(raw)
    assert (problem.line, problem.col) == second
    assert f"first at line {first[0]}, col {first[1]}" in problem.message
    assert "duplicate key" in problem.message


def test_duplicate_keys_at_several_levels_are_all_reported() -> None:
    problems = refused(b"a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [(p.line, p.col) for p in problems] == [(2, 1), (5, 3)]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"1: x\n", "key '1' is a number, not a string"),
        (b"1.5: x\n", "key '1.5' is a number, not a string"),
        (b"99999999999999999999: x\n", "key '99999999999999999999' is a number, not a string"),
        (b"true: x\n", "key 'true' is a boolean, not a string"),
        (b"null: x\n", "key 'null' means null, not a string"),
        (b"~: x\n", "key '~' means null, not a string"),
        (b"{? : x}\n", "empty key"),
        (b"on: x\n", "ambiguous key 'on'"),
        (b"0755: x\n", "ambiguous key '0755'"),
    ],
)
def test_non_string_scalar_key_is_refused(raw: bytes, words: str) -> None:
    problem = only(raw)
    assert words in problem.message
    assert "quote it" in problem.message or "empty key" in problem.message


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"? [a]\n: x\n", "sequence"), (b"? {a: 1}\n: x\n", "mapping")]
)
def test_collection_key_is_refused(raw: bytes, kind: str) -> None:
    problem = only(raw)
    assert (problem.line, problem.col) == (1, 3)
    assert f"not a {kind}" in problem.message


@pytest.mark.parametrize(
    "raw", [b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), b"[" * 50_000,
            b"".join(b"  " * i + b"k:\n" for i in range(MAX_DEPTH + 1)) + b"  " * 17 + b"x\n",
            b"- " * 5_000 + b"x\n"],
)
def test_nesting_deeper_than_max_depth_is_refused(raw: bytes, parser: str) -> None:
    start = time.perf_counter()
    problem = only(raw)
    assert time.perf_counter() - start < (0.5 if parser == "libyaml" else 5.0)
    # libyaml's scanner reads a run of `[` ahead and stops at its own limit (1000) first
    assert f"nesting deeper than {MAX_DEPTH} levels" in problem.message or (
        "exceeded maximum nesting depth" in problem.message
    )


AMBIGUOUS = [
    # (plain value, words the message must contain)
    ("yes", 'quote it ("yes") or write true/false'),
    ("Yes", 'quote it ("Yes") or write true/false'),
    ("YES", "or write true/false"),
    ("no", "or write true/false"),
    ("No", "or write true/false"),
    ("on", "or write true/false"),
    ("ON", "or write true/false"),
    ("off", "or write true/false"),
    ("Off", "or write true/false"),
    ("y", "or write true/false"),
    ("Y", "or write true/false"),
    ("n", "or write true/false"),
    ("N", "or write true/false"),
    ("True", "or write true/false"),
    ("TRUE", "or write true/false"),
    ("False", "or write true/false"),
    ("FALSE", "or write true/false"),
    ("tRuE", "or write true/false"),
    ("Null", "or write null"),
    ("NULL", "or write null"),
    ("0755", "leading zero"),
    ("00", "leading zero"),
    ("-0644", "leading zero"),
    ("0o17", "octal"),
    ("0O17", "octal"),
    ("0x1F", "hexadecimal"),
    ("-0xff", "hexadecimal"),
    ("0b1010", "binary"),
    ("1:30", "base-60"),
    ("190:20:30", "base-60"),
    ("-1:30:00.5", "base-60"),
    ("1e3", "exponent"),
    ("1E3", "exponent"),
    ("1.5e-3", "exponent"),
    ("6.8523015e+5", "exponent"),
    (".5e3", "exponent"),
    (".inf", "infinity"),
    ("-.inf", "infinity"),
    ("+.INF", "infinity"),
    (".nan", "infinity or not-a-number"),
    (".NaN", "not-a-number"),
    ("=", 'quote it ("=")'),
    ("<<", "merge key"),
    ("+1", "or write 1"),
    ("+0", "or write 0"),
    ("1_000", "or write 1000"),
    ("-1_000.5", "or write -1000.5"),
    ("1.", "or write 1.0"),
    (".5", "or write 0.5"),
    ("-.5", "or write -0.5"),
    ("+1.5", "or write 1.5"),
]


@pytest.mark.parametrize(("text", "words"), AMBIGUOUS)
def test_yaml_1_1_surprise_in_a_plain_scalar_is_refused(text: str, words: str) -> None:
    problem = only(f"a: ok\nb: {text}\n".encode())
    assert (problem.line, problem.col) == (2, 4)
    assert problem.message.startswith(f"ambiguous value '{text}': quote it (\"{text}\")")
    assert words in problem.message


@pytest.mark.parametrize("text", ["yes", "0755", "1e3", ".inf", "NULL", str(2**60)])
def test_yaml_1_1_surprise_as_the_whole_document_is_refused(text: str) -> None:
    problem = only(f"{text}\n".encode())
    assert (problem.line, problem.col) == (1, 1)
    assert text in problem.message


@pytest.mark.parametrize("text", ["yes", "0755", "1e3", ".inf", "NULL"])
def test_yaml_1_1_surprise_in_a_sequence_is_refused(text: str) -> None:
    problem = only(f"actions: [s3:PutObject, {text}]\n".encode())
    assert (problem.line, problem.col) == (1, 25)
    assert f"ambiguous value '{text}'" in problem.message


@pytest.mark.parametrize(
    "text",
    [str(2**53 + 1), str(-(2**53) - 1), "12345678901234567890", "9" * 5000,
     "1" * 400 + ".0", "9007199254740993.0"],
)
def test_number_too_large_is_refused(text: str) -> None:
    problem = only(f"a: {text}\n".encode())
    assert problem.message.startswith("number too large")
    assert "quote it" in problem.message
    assert len(problem.message) < 200


def test_several_value_problems_are_collected() -> None:
    problems = refused(b"a: yes\nb: 0755\nc:\n  - 1e3\nd: ok\n")
    assert [(p.line, p.col) for p in problems] == [(1, 4), (2, 4), (4, 5)]


def test_problems_are_capped() -> None:
    problems = refused(b"".join(b"k%d: yes\n" % i for i in range(500)))
    assert len(problems) <= 51
    assert "too many problems" in problems[-1].message


@pytest.mark.parametrize(
    ("raw", "where", "words"),
    [
        (b"a: [1, 2\n", (2, 1), "YAML syntax error"),
        (b"a: b: c\n", (1, 5), "mapping values are not allowed"),
        (b"a: 'unterminated\n", (2, 1), "YAML syntax error"),
        (b"- a\nb: c\n", (2, 1), "YAML syntax error"),
        (b"a:\n\tb: 1\n", (2, 1), "tabs cannot be used for indentation"),
        (b"a: `x`\n", (1, 4), "YAML syntax error"),
        (b"a: @x\n", (1, 4), "YAML syntax error"),
    ],
)
def test_syntax_error_is_a_problem_with_its_position(
    raw: bytes, where: tuple[int, int], words: str
) -> None:
    problem = only(raw)
    assert (problem.line, problem.col) == where
    assert words in problem.message


def test_collected_problems_are_kept_when_a_syntax_error_follows() -> None:
    messages = [p.message for p in refused(b"a: yes\nb: [1\n")]
    assert messages[0].startswith("ambiguous value 'yes'")
    assert messages[1].startswith("YAML syntax error")


def test_no_python_object_is_ever_constructed(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("the loader must not construct objects from nodes")

    for name in ("construct_document", "construct_object"):
        monkeypatch.setattr(yaml.constructor.BaseConstructor, name, forbidden)
    assert ok(REQUEST).data["requester"] == "alice"


def test_worst_case_64_kib_files_load(parser: str) -> None:
    """Each loads to an answer (their time is bench/validate_bench.py's to measure)."""
    budget = 64 * 1024 - 100
    nasty = [
        b"- " + b"x" * budget,  # one long scalar
        b"".join(b"- %d\n" % (i % 10) for i in range(budget // 4)),  # many small items
        b"[" + b"a," * (budget // 2) + b"a]",  # a long flow sequence
        b"".join(b"k%05d: v\n" % i for i in range(budget // 10)),  # many keys
        b'a: "' + b"\\u0041" * (budget // 6) + b'"',  # escapes
    ]
    for raw in nasty:
        doc, problems = load(raw, PATH)
        assert (doc is None) == bool(problems)


# --- properties ----------------------------------------------------------------------------------

# A short run by default (per parser); JITFLOW_LONG=1 for a long fuzzing run.
PROPERTY = settings(
    max_examples=5000 if os.environ.get("JITFLOW_LONG") else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_outcome(raw: bytes) -> None:
    doc, problems = load(raw, PATH)
    if doc is None:
        assert problems
        assert all(isinstance(p, Problem) and p.message for p in problems)
        assert all(p.line is None or p.line >= 1 for p in problems)
    else:
        assert problems == []
        json.dumps(doc.data, allow_nan=False)  # plain JSON-like data only
        for position in doc.positions.values():
            assert position[0] >= 1
            assert position[1] >= 1


@PROPERTY
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(raw: bytes) -> None:
    check_outcome(raw)


@PROPERTY
@given(st.text(max_size=300))
def test_random_text_never_raises(text: str) -> None:
    check_outcome(text.encode("utf-8", "surrogatepass"))


YAMLISH = st.lists(
    st.sampled_from([*"-:?,[]{}#&*!|>'\"%@`\\ \n\tabxy019._~=<+eE", "yes", "0x", "---", "...",
                     "<<", "!!", "  ", "- ", ": ", "é", "\u2028", "\r\n"]),
    max_size=60,
).map("".join)


@PROPERTY
@given(YAMLISH)
def test_random_yaml_like_text_never_raises(text: str) -> None:
    check_outcome(text.encode("utf-8", "surrogatepass"))


# Characters the loader refuses even inside a quoted string (written independently of the
# module's own table on purpose).
REFUSED_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                           "\ufeff\ufffe\uffff]")
SAFE_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30).filter(
    lambda s: not REFUSED_CHARS.search(s)
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(min_value=-(2**53), max_value=2**53).filter(
        lambda f: abs(f) < 2**53 and "e" not in repr(f)
    )
    | SAFE_TEXT
)
JSON_LIKE = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(SAFE_TEXT, children, max_size=4)
    ),
    max_leaves=25,
)


class QuotingDumper(yaml.SafeDumper):
    """safe_dump, but every string double-quoted: no string can come back as a number."""


QuotingDumper.add_representer(
    str, lambda dumper, s: dumper.represent_scalar("tag:yaml.org,2002:str", s, style='"')
)


def depth(data: Any) -> int:
    if isinstance(data, dict):
        return 1 + max(map(depth, data.values()), default=0)
    if isinstance(data, list):
        return 1 + max(map(depth, data), default=0)
    return 0


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True)  # tells 1 from 1.0 from True


@PROPERTY
@given(JSON_LIKE, st.booleans())
def test_safe_dump_output_round_trips(data: Any, flow: bool) -> None:
    raw = yaml.dump(data, Dumper=QuotingDumper, allow_unicode=True,
                    default_flow_style=flow).encode()
    doc, problems = load(raw, PATH)
    if depth(data) > MAX_DEPTH:
        assert doc is None
        assert any("nesting deeper" in p.message for p in problems)
        return
    assert problems == [], (raw, [p.text() for p in problems])
    assert doc is not None
    assert canonical(doc.data) == canonical(data)
    assert () in doc.positions or data is None


@PROPERTY
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_canonical_float_text_round_trips(number: float) -> None:
    text = f"{number:.6f}"
    value = ok(f"k: {text}\n".encode()).data["k"]
    assert type(value) is float
    assert math.isclose(value, float(text))


# YAML 1.2 core schema resolution, transcribed from the spec (section 10.3.2), to check the loader
# against a second reader: whatever it accepts must mean the same to YAML 1.1 (PyYAML) and 1.2.
CORE_1_2: list[tuple[re.Pattern[str], Callable[[str], Any]]] = [
    (re.compile(r"null|Null|NULL|~|"), lambda s: None),
    (re.compile(r"true|True|TRUE|false|False|FALSE"), lambda s: s.lower() == "true"),
    (re.compile(r"[-+]?[0-9]+"), int),
    (re.compile(r"0o[0-7]+"), lambda s: int(s[2:], 8)),
    (re.compile(r"0x[0-9a-fA-F]+"), lambda s: int(s[2:], 16)),
    (re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"), float),
    (re.compile(r"[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN"), float),
]


def yaml_1_2_core(text: str) -> Any:
    for pattern, convert in CORE_1_2:
        if pattern.fullmatch(text):
            return convert(text)
    return text


PLAIN = st.text(alphabet="0123456789+-._:eExXoObBaAfFinNyYsSlLuUtTrR~=<", min_size=1, max_size=8)


@PROPERTY
@given(PLAIN)
def test_accepted_plain_scalars_mean_the_same_in_yaml_1_1_and_1_2(text: str) -> None:
    raw = f"k: {text}\n".encode()
    try:
        yaml_1_1 = yaml.safe_load(raw)["k"]  # a test-only second opinion: PyYAML's own resolver
    except (yaml.YAMLError, ValueError, TypeError):
        return  # not a plain scalar in this position, or PyYAML cannot construct it
    doc, _ = load(raw, PATH)
    if doc is None:
        return  # refused: nothing to compare
    value = doc.data["k"]
    if isinstance(yaml_1_1, (datetime.date, datetime.datetime)):
        yaml_1_1 = text  # YAML 1.1 timestamps: the loader keeps them as text, on purpose
    assert canonical(value) == canonical(yaml_1_1), (text, value, yaml_1_1)
    assert canonical(value) == canonical(yaml_1_2_core(text)), (text, value)
