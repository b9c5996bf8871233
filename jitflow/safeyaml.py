"""Strict YAML: bytes written by a possibly hostile author -> plain JSON-like data with positions.

The loader never builds Python objects from tags. It reads PyYAML's *event stream* (libyaml's C
parser when it is available) and builds dicts, lists and scalars itself, in one pass with an
explicit stack, refusing on sight everything a request or policy file has no use for and that
could surprise a reviewer: anchors and aliases (so an alias bomb costs nothing), tags, merge keys,
directives, several documents, duplicate or non-string keys, deep nesting, and plain scalars that
YAML 1.1 and YAML 1.2 readers disagree about (`yes`, `0755`, `1:30`, `1e3`, ...).

Every problem is a `Problem` value; no input makes `load` raise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from jitflow.problems import Problem

try:
    from yaml import CSafeLoader as _Parser
except ImportError:  # PyYAML built without libyaml: same events, slower
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]

MAX_BYTES: Final = 64 * 1024
MAX_DEPTH: Final = 16
MAX_INT: Final = 2**53  # larger integers do not survive a round trip through JSON / JavaScript

Path = tuple[str | int, ...]

_MAX_PROBLEMS: Final = 50  # collected problems per file; a hostile file must not flood the output


@dataclass(frozen=True)
class YamlDoc:
    """A loaded document: the data and where each node of it starts in the file."""

    data: Any  # dict[str, Any] | list | str | int | float | bool | None
    # 1-based (line, col): of the KEY for a mapping member, of the item for a sequence item;
    # () is the root node.
    positions: dict[Path, tuple[int, int]]

    def where(self, path: Path) -> tuple[int, int]:
        """Position of path, or of its nearest ancestor that has one (root: (1, 1))."""
        positions = self.positions
        for end in range(len(path), -1, -1):
            found = positions.get(path[:end])
            if found is not None:
                return found
        return (1, 1)


# --- characters -------------------------------------------------------------------------------

_BOMS: Final = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)

# C0 controls except TAB and LF, DEL, C1 controls (NEL is a line break to YAML), the Unicode line
# and paragraph separators (line breaks to YAML, not to editors), the bidirectional embedding,
# override and isolate controls (they make text display differently from what it says), a
# byte-order mark inside the file, and the two non-characters libyaml would refuse anyway.
_BAD_CHAR: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)
_MAX_CHAR_PROBLEMS: Final = 20


def _char_name(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\r":
        return "a carriage return (CR)"
    if char == "\x00":
        return "a NUL character (U+0000)"
    if char in "\u2028\u2029":
        return f"a Unicode line or paragraph separator ({code})"
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        return f"a bidirectional text control ({code})"
    if char == "\ufeff":
        return f"a byte-order mark ({code}) inside the file"
    if char in "\ufffe\uffff":
        return f"a non-character ({code})"
    return f"a control character ({code})"


def _char_message(char: str) -> str:
    message = f"{_char_name(char)} is not allowed"
    if char in "\r\u2028\u2029":
        return f"{message}: use LF line endings"
    if char == "\ufeff":
        return f"{message}: remove the byte-order mark"
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        return f"{message}: it makes text display differently from what it says"
    return message


def _line_col(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _check_characters(text: str, path: str) -> list[Problem]:
    problems: list[Problem] = []
    seen_cr = False
    for match in _BAD_CHAR.finditer(text):
        char = match.group()
        if char == "\r":
            if seen_cr:  # one finding for a CRLF file, not one per line
                continue
            seen_cr = True
        line, col = _line_col(text, match.start())
        if len(problems) == _MAX_CHAR_PROBLEMS:
            problems.append(Problem(path, line, col, "more disallowed characters (not listed)"))
            break
        problems.append(Problem(path, line, col, _char_message(char)))
    return problems


# TAB, LF and printable ASCII: a file of only these needs no character check beyond one
# `bytes.translate` (much cheaper than a regex over the text).
_PLAIN_ASCII: Final = bytes([0x09, 0x0A, *range(0x20, 0x7F)])


def _decode(raw: bytes, path: str) -> tuple[str | None, list[Problem]]:
    if not raw.translate(None, _PLAIN_ASCII):
        return raw.decode("ascii"), []
    for mark, name in _BOMS:
        if raw.startswith(mark):
            return None, [Problem(path, 1, 1, f"the file starts with a {name} byte-order mark: "
                                  "remove the byte-order mark and save it as UTF-8")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        col = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        bad = raw[exc.start : exc.end].hex(" ")
        return None, [Problem(path, line, col, f"invalid UTF-8 at line {line} (bytes {bad}): "
                              "save the file as UTF-8")]
    problems = _check_characters(text, path)
    return (None, problems) if problems else (text, [])


# --- plain scalars --------------------------------------------------------------------------------

# Plain scalars that start like a number, classified in one match (first alternative wins).
# `int` and `float` are the only accepted forms; every other kind is something some YAML reader
# would turn into a number while a person (or another reader) sees text, or the reverse.
_NUMBERISH: Final = re.compile(
    r"""(?P<int>-?(?:0|[1-9][0-9]*))
    |(?P<float>-?[0-9]+\.[0-9]+)
    |(?P<special>[-+]?\.(?:inf|nan))
    |(?P<hex>[-+]?0x[0-9a-f_]+)
    |(?P<octal>[-+]?0o[0-7_]+)
    |(?P<binary>[-+]?0b[01_]+)
    |(?P<sexagesimal>[-+]?[0-9][0-9_]*(?::[0-9_]+)+(?:\.[0-9_]*)?)
    |(?P<leading_zero>[-+]?0[0-9_]+(?:\.[0-9_]*)?(?:e[-+]?[0-9]+)?)
    |(?P<exponent>[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)e[-+]?[0-9]+)
    |(?P<number>[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*))""",
    re.VERBOSE | re.IGNORECASE,
)
_NUMBER_START: Final = frozenset("-+.0123456789")
_NUMBER_END: Final = frozenset("0123456789_.abcdefABCDEFnN")  # digits, hex digits, .inf, .nan
_CANONICAL: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")

# Lower-cased plain words with a YAML 1.1 meaning; only the exact spellings `true`, `false`,
# `null` (and `~`) are accepted.
_WORDS: Final = {
    "y": "true", "yes": "true", "on": "true", "true": "true",
    "n": "false", "no": "false", "off": "false", "false": "false",
    "null": "null", "=": "value", "<<": "merge",
}
_EXACT: Final[dict[str, bool | None]] = {
    "true": True, "false": False, "null": None, "~": None, "": None,
}

_OK: Final = ""  # kind of a plain scalar that needs no comment


def _plain(text: str) -> tuple[Any, str]:
    """(value, kind) of a plain scalar; kind is _OK or why the value is refused."""
    if text in _EXACT:
        return _EXACT[text], _OK
    if text[0] in _NUMBER_START:
        if text[-1] not in _NUMBER_END:  # `2h`, `-foo`: cheaper than a failed match
            return text, _OK
        match = _NUMBERISH.fullmatch(text)
        if match is None:
            return text, _OK
        kind = match.lastgroup or "number"
        if kind == "int":
            if len(text) > 17:  # longer than -9007199254740992: too large, and int() would be slow
                return text, "too_large"
            number = int(text)
            return (text, "too_large") if abs(number) > MAX_INT else (number, _OK)
        if kind == "float":
            real = float(text)
            # >=: 9007199254740993.0 rounds to 2**53, so a float that large is already inexact
            return (text, "too_large") if not math.isfinite(real) or abs(real) >= MAX_INT \
                else (real, _OK)
        return text, kind
    if len(text) <= 5:
        word = _WORDS.get(text.lower())
        if word is not None:
            return text, word
    return text, _OK


_YAML_TAG: Final = "tag:yaml.org,2002:"


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "..."


def _as_written(tag: str) -> str:
    """`tag:yaml.org,2002:python/object` -> `!!python/object`, as the author wrote it."""
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


def _show(text: str) -> str:
    return repr(_clip(text))


def _plain_decimal(text: str) -> str | None:
    """`+1_000` -> `1000`, `.5` -> `0.5`, `1.` -> `1.0`; None when that is not canonical."""
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("+-").replace("_", "")
    if body.startswith("."):
        body = "0" + body
    if body.endswith("."):
        body += "0"
    candidate = sign + body
    return candidate if _CANONICAL.fullmatch(candidate) else None


def _value_message(text: str, kind: str) -> str:
    shown, quoted = _show(text), f'("{text}")' if len(text) <= 40 else "(in double quotes)"
    if kind == "too_large":
        return (f"number too large: {shown} is beyond ±2**53 ({MAX_INT}); "
                f"quote it {quoted} if it is an identifier")
    head = f"ambiguous value {shown}: quote it {quoted}"
    if kind in ("true", "false"):
        return f"{head} or write true/false (YAML 1.1 reads it as {kind})"
    if kind == "null":
        return f"{head} or write null"
    if kind == "value":
        return f"{head} (YAML 1.1 gives a plain '=' a special meaning)"
    if kind == "merge":
        return f"{head} (YAML reads a plain '<<' as a merge key)"
    if kind == "special":
        return f"{head} (YAML reads it as infinity or not-a-number)"
    if kind in ("hex", "octal", "binary"):
        name = {"hex": "a hexadecimal", "octal": "an octal", "binary": "a binary"}[kind] + " number"
        return f"{head} or write it in decimal (YAML reads it as {name})"
    if kind == "leading_zero" and re.fullmatch(r"[0-9]{12}", text):
        return f"{head}: an AWS account id keeps its leading zero only as quoted text " \
               "(YAML 1.1 reads a leading 0 as octal)"
    if kind == "leading_zero":
        return f"{head} or drop the leading zero (YAML 1.1 reads a leading 0 as octal)"
    if kind == "sexagesimal":
        return f"{head} (YAML 1.1 reads digits separated by ':' as a base-60 number)"
    if kind == "exponent":
        return f"{head} or write it as a plain decimal number (it looks like exponent notation)"
    decimal = _plain_decimal(text)
    alternative = f" or write {decimal}" if decimal else ""
    return f"{head}{alternative} (a number in a form YAML readers disagree about)"


def _key_message(text: str, value: Any, kind: str) -> str:
    if kind == "merge":
        return "merge keys (<<) are not allowed: write the keys out in full"
    quoted = f'("{text}")' if len(text) <= 40 else "(in double quotes)"
    if kind not in (_OK, "too_large"):
        return f"ambiguous key {_show(text)}: quote it {quoted}"
    if text == "":
        return "empty key: write a key before the ':'"
    what = "means null" if value is None else "is a boolean" if type(value) is bool \
        else "is a number"
    return f"key {_show(text)} {what}, not a string: quote it {quoted}"


# --- events -> data -------------------------------------------------------------------------------

# The third slot of a stack frame: what the next node in that collection is.
_ITEM: Final = object()  # an item of a sequence
_KEY: Final = object()  # a key of a mapping (otherwise the slot holds the key awaiting its value)


class _Stop(Exception):  # control flow inside `_build`, never escapes it
    """Stop reading the file: a structural problem, or too many problems."""


class _Builder:
    """Events -> data with the position of every node, refusing what the format forbids.

    One method per kind of event; `stack` holds one frame per open collection:
    [container, its path, _ITEM | _KEY | the key awaiting its value]."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.positions: dict[Path, tuple[int, int]] = {}
        self.stack: list[list[Any]] = []
        self.root: Any = None
        self.documents = 0

    def report(self, mark: Any, message: str, *, structural: bool = False) -> None:
        self.problems.append(Problem(self.path, mark.line + 1, mark.column + 1, message))
        if structural:
            raise _Stop
        if len(self.problems) >= _MAX_PROBLEMS:
            self.problems.append(Problem(self.path, None, None,
                                         "too many problems; stopped reading"))
            raise _Stop

    def refuse_node(self, event: Any) -> None:
        if event.anchor is not None:
            self.report(event.start_mark, f"anchors (&{_clip(event.anchor)}) are not "
                        "allowed: write the value out in full", structural=True)
        self.report(event.start_mark, f"tags ({_clip(_as_written(event.tag))}) are not "
                    "allowed: remove the tag", structural=True)

    def scalar_value(self, event: Any) -> tuple[Any, str]:
        raw, style = event.value, event.style
        if style:  # quoted or block: always a string
            # Only double quotes have escapes: "\e" is a control character that the raw text
            # did not show.
            if style == '"' and (bad := _BAD_CHAR.search(raw)) is not None:
                self.report(event.start_mark, "a quoted string contains "
                            f"{_char_name(bad.group())} written as an escape: not allowed")
                return raw, "escape"
            return raw, _OK
        if len(raw) > 5 and raw[0] not in _NUMBER_START:  # the common case
            return raw, _OK
        return _plain(raw)

    def scalar(self, event: Any) -> None:
        if event.anchor is not None or event.tag is not None:
            self.refuse_node(event)
        raw = event.value
        value, kind = self.scalar_value(event)
        mark = event.start_mark
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame[2] is _KEY:
            self.key(frame, raw, value, kind, mark)
            return
        self.place(frame, value, mark)
        if kind not in (_OK, "escape"):
            self.report(mark, _value_message(raw, kind))

    def key(self, frame: list[Any], raw: str, value: Any, kind: str, mark: Any) -> None:
        if (kind != _OK or type(value) is not str) and kind != "escape":
            self.report(mark, _key_message(raw, value, kind))
        position = (mark.line + 1, mark.column + 1)
        first = self.positions.setdefault(frame[1] + (raw,), position)
        if first is not position:
            self.report(mark, f"duplicate key {_show(raw)} "
                        f"(first at line {first[0]}, col {first[1]})")
        frame[2] = raw

    def place(self, frame: list[Any] | None, value: Any, mark: Any) -> Path:
        """Put a node where the open collection expects it (or make it the root). The root and
        sequence items get their own position; a mapping value is found by its key's."""
        if frame is not None and frame[2] is not _ITEM:
            node_path: Path = frame[1] + (frame[2],)
            frame[0][frame[2]] = value
            frame[2] = _KEY
            return node_path
        if frame is None:
            self.root, node_path = value, ()
        else:
            node_path = (*frame[1], len(frame[0]))
            frame[0].append(value)
        self.positions[node_path] = (mark.line + 1, mark.column + 1)
        return node_path

    def start(self, event: Any) -> None:
        if event.anchor is not None or event.tag is not None:
            self.refuse_node(event)
        mark = event.start_mark
        if len(self.stack) >= MAX_DEPTH:
            self.report(mark, f"nesting deeper than {MAX_DEPTH} levels is not allowed",
                        structural=True)
        is_mapping = type(event) is MappingStartEvent
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame[2] is _KEY:
            self.report(mark, "a mapping key must be a string, not a "
                        + ("mapping" if is_mapping else "sequence"), structural=True)
        value: dict[str, Any] | list[Any] = {} if is_mapping else []
        node_path = self.place(frame, value, mark)
        self.stack.append([value, node_path, _KEY if is_mapping else _ITEM])

    def end(self, event: Any) -> None:
        self.stack.pop()

    def alias(self, event: Any) -> None:
        self.report(event.start_mark, f"aliases (*{_clip(event.anchor)}) are not allowed: "
                    "write the value out in full", structural=True)

    def document(self, event: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            self.report(event.start_mark, "more than one YAML document: a file holds "
                        "exactly one (remove the '---' separator)", structural=True)
        if event.version is not None or event.tags:
            self.report(event.start_mark, "YAML directives (%YAML, %TAG) are not allowed",
                        structural=True)

    def ignore(self, event: Any) -> None:
        """Stream and document ends, and the stream start: nothing to check."""


def _handlers(builder: _Builder) -> dict[type, Callable[[Any], None]]:
    return {
        ScalarEvent: builder.scalar,
        MappingStartEvent: builder.start,
        SequenceStartEvent: builder.start,
        MappingEndEvent: builder.end,
        SequenceEndEvent: builder.end,
        AliasEvent: builder.alias,
        DocumentStartEvent: builder.document,
    }


def _build(text: str, path: str) -> tuple[YamlDoc | None, list[Problem]]:
    builder = _Builder(path)
    handlers = _handlers(builder)
    parser = _Parser(text)
    get_event: Callable[[], Any] = parser.get_event
    try:
        while True:
            event = get_event()
            cls = type(event)
            if cls is StreamEndEvent:
                break
            handlers.get(cls, builder.ignore)(event)
    except _Stop:
        pass
    except yaml.MarkedYAMLError as exc:
        builder.problems.append(_syntax_problem(exc, text, path))
    except yaml.YAMLError as exc:  # a reader error (not expected after _decode) or similar
        index = getattr(exc, "position", None)
        line, col = _line_col(text, index) if isinstance(index, int) else (None, None)
        builder.problems.append(Problem(path, line, col, f"YAML error: {exc}"))
    finally:
        parser.dispose()
    if builder.problems:
        return None, builder.problems
    return YamlDoc(builder.root, builder.positions), []


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, path: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"YAML syntax error: {exc.problem or exc.context or 'cannot parse'}"
    context = exc.context_mark
    if exc.problem and exc.context and context is not None:
        message += f" ({exc.context} at line {context.line + 1}, col {context.column + 1})"
    if mark is None:
        return Problem(path, None, None, message)
    lines = text.split("\n")
    if mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
        message += "; tabs cannot be used for indentation, use spaces"
    return Problem(path, mark.line + 1, mark.column + 1, message)


def load(raw: bytes, path: str) -> tuple[YamlDoc | None, list[Problem]]:
    """None plus problems when the file cannot be read safely; data plus [] otherwise.

    An empty document (or a file of comments) gives `YamlDoc(None, ...)`: callers decide what an
    empty file means.
    """
    if len(raw) > MAX_BYTES:
        return None, [Problem(path, None, None, f"the file is {len(raw):,} bytes; "
                              f"the limit is {MAX_BYTES:,} bytes (64 KiB)")]
    text, problems = _decode(raw, path)
    if text is None:
        return None, problems
    return _build(text, path)
