"""requirements/runtime.lock matches pyproject.toml: the workflows install what jitflow needs.

The jitflow workflows install with `pip install --require-hashes --no-deps` from the lock
(tests/test_workflows.py checks that), so the lock alone decides what runs beside the AWS
credentials and the tokens. These rules read it offline, as tools/lock_runtime.py (uv) wrote
it: exact pins with hashes, for every runtime dependency of pyproject.toml and the build
backend, satisfying their specifiers, and nothing else (uv's `# via` annotations tie each pin to
pyproject.toml, requirements/build.in or another pin). Re-resolving needs the package index,
so no test does it. Like tests/test_workflows.py, each rule is a function with a named test
over the real files and is shown able to fail on a small mutation of them
(test_each_rule_catches_its_mutation).
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from testing.foundation import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import lock_runtime

PYPROJECT_SOURCE = "jitflow (pyproject.toml)"
BUILD_SOURCE = "-r requirements/build.in"
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
HEADER = "#    uv pip compile "

# The runners' environment, for a pyproject dependency with a marker (tools/lock_runtime.py).
TARGET = {
    "python_version": lock_runtime.PYTHON_VERSION,
    "python_full_version": f"{lock_runtime.PYTHON_VERSION}.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@dataclass
class Pin:
    line: int
    requirement: str  # as written: name==version
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)  # uv's annotations: who needs this pin
    extra: list[str] = field(default_factory=list)  # anything else on its lines

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.partition("==")[0])

    @property
    def version(self) -> str:
        return self.requirement.partition("==")[2]


@dataclass(frozen=True)
class Lock:
    header: list[str]
    pins: list[Pin]
    stray: list[str]  # lines that are neither a pin, its hashes and annotations, nor a comment

    def pinned(self) -> dict[str, Pin]:
        return {pin.name: pin for pin in self.pins}


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with their backslash continuations joined, numbered by their first line."""
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        start, sofar = pending if pending is not None else (number, "")
        if line.endswith("\\"):
            pending = (start, sofar + line[:-1] + " ")
            continue
        pending = None
        joined.append((start, sofar + line))
    if pending is not None:
        joined.append(pending)
    return joined


def parse_lock(text: str) -> Lock:
    header: list[str] = []
    pins: list[Pin] = []
    stray: list[str] = []
    for number, line in logical_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if not pins:
                header.append(line)
            elif line[0].isspace() and comment != "via":  # an annotation of the pin above
                pins[-1].via.append(comment.removeprefix("via "))
            continue
        if line[0].isspace() or stripped.startswith("-"):
            stray.append(f"line {number}: {stripped}")
            continue
        first, *rest = stripped.split()
        pin = Pin(number, first)
        for token in rest:
            (pin.hashes if token.startswith("--hash=") else pin.extra).append(token)
        pins.append(pin)
    return Lock(header, pins, stray)


def requirements_in(text: str) -> list[Requirement]:
    """A requirements input file: one requirement a line, `#` comments."""
    lines = (line.partition("#")[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line]


@dataclass(frozen=True)
class Files:
    lock_text: str
    pyproject_text: str
    build_in_text: str

    @cached_property
    def lock(self) -> Lock:
        return parse_lock(self.lock_text)

    @cached_property
    def pyproject(self) -> dict[str, Any]:
        return tomllib.loads(self.pyproject_text)

    def runtime_dependencies(self) -> list[Requirement]:
        """pyproject.toml's [project] dependencies that apply on the runners (no extras)."""
        found = [Requirement(text) for text in self.pyproject["project"]["dependencies"]]
        return [r for r in found if r.marker is None or r.marker.evaluate(TARGET)]

    def build_requires(self) -> list[Requirement]:
        return [Requirement(text) for text in self.pyproject["build-system"]["requires"]]


def real_files() -> Files:
    return Files(
        (ROOT / lock_runtime.LOCK).read_text(encoding="utf-8"),
        (ROOT / "pyproject.toml").read_text(encoding="utf-8"),
        (ROOT / "requirements" / "build.in").read_text(encoding="utf-8"),
    )


def unsatisfied(wanted: list[Requirement], pinned: dict[str, Pin], source: str) -> list[str]:
    """The requirements whose pin is missing, or a version their specifier does not allow."""
    problems = []
    for requirement in wanted:
        pin = pinned.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{source}: {requirement} is not pinned in the lock")
            continue
        try:
            allowed = requirement.specifier.contains(pin.version, prereleases=True)
        except InvalidVersion:
            allowed = False
        if not allowed:
            problems.append(f"{source}: {requirement} does not allow the pin {pin.requirement}")
    return problems


# ---- the rules -----------------------------------------------------------------------------

Rule = Callable[[Files], list[str]]


def rule_only_exact_pins(f: Files) -> list[str]:
    """Every entry is `name==version`: no ranges, URLs, paths, options, extras or markers."""
    problems = [f"{lock_runtime.LOCK}: {line}" for line in f.lock.stray]
    seen: set[str] = set()
    for pin in f.lock.pins:
        where = f"{lock_runtime.LOCK}:{pin.line}: {pin.requirement}"
        try:
            requirement = Requirement(pin.requirement)
            specifiers = list(requirement.specifier)
            if requirement.url or requirement.extras or requirement.marker:
                problems.append(f"{where}: a URL, extras or a marker")
            elif len(specifiers) != 1 or specifiers[0].operator != "==":
                problems.append(f"{where}: not an exact == pin")
            else:
                Version(specifiers[0].version)  # no wildcard (1.*)
        except (InvalidRequirement, InvalidVersion) as error:
            problems.append(f"{where}: {error}")
        if pin.extra:
            problems.append(f"{where}: unexpected {' '.join(pin.extra)}")
        if pin.name in seen:
            problems.append(f"{where}: pinned twice")
        seen.add(pin.name)
    return problems


def rule_every_pin_hashed(f: Files) -> list[str]:
    """pip's --require-hashes refuses a pin without a hash; each one is a full sha256."""
    problems = []
    for pin in f.lock.pins:
        where = f"{lock_runtime.LOCK}:{pin.line}: {pin.requirement}"
        if not pin.hashes:
            problems.append(f"{where}: no hash")
        problems += [f"{where}: bad hash {h}" for h in pin.hashes if not HASH.fullmatch(h)]
    if not f.lock.pins:
        problems.append(f"{lock_runtime.LOCK}: no pins at all")
    return problems


def rule_every_dependency_pinned(f: Files) -> list[str]:
    """Each runtime dependency of pyproject.toml is in the lock (an unpinned one would be
    missing on the runners: pip runs with --no-deps)."""
    pinned = f.lock.pinned()
    return [
        f"pyproject.toml: {r} is not pinned in the lock (run tools/lock_runtime.py)"
        for r in f.runtime_dependencies()
        if canonicalize_name(r.name) not in pinned
    ]


def rule_pins_satisfy_pyproject(f: Files) -> list[str]:
    """Each pin of a runtime dependency is a version pyproject.toml allows."""
    pinned = f.lock.pinned()
    wanted = [r for r in f.runtime_dependencies() if canonicalize_name(r.name) in pinned]
    return unsatisfied(wanted, pinned, "pyproject.toml")


def rule_build_backend_pinned(f: Files) -> list[str]:
    """The workflows build jitflow with --no-build-isolation from the lock's setuptools:
    requirements/build.in is pyproject.toml's [build-system] requires, and the lock meets it."""
    wanted = f.build_requires()
    problems = []
    if sorted(map(str, requirements_in(f.build_in_text))) != sorted(map(str, wanted)):
        problems.append(
            "requirements/build.in must list exactly pyproject.toml's [build-system] requires "
            f"({', '.join(map(str, wanted))})"
        )
    return problems + unsatisfied(wanted, f.lock.pinned(), "[build-system] requires")


def rule_lock_holds_nothing_else(f: Files) -> list[str]:
    """Every pin is there because pyproject.toml, requirements/build.in or another pin needs
    it (uv's annotations): a dependency dropped from pyproject.toml, an extra's packages or a
    hand-added pin would otherwise be installed beside the credentials."""
    pinned = f.lock.pinned()
    sources = {PYPROJECT_SOURCE, BUILD_SOURCE}
    problems = []
    for pin in f.lock.pins:
        where = f"{lock_runtime.LOCK}:{pin.line}: {pin.requirement}"
        if not pin.via:
            problems.append(f"{where}: nothing needs it (no `# via`)")
        for who in pin.via:
            if who not in sources and canonicalize_name(who) not in pinned:
                problems.append(f"{where}: needed by {who!r}, which is not in the lock")
    for source, wanted in (
        (PYPROJECT_SOURCE, f.runtime_dependencies()),
        (BUILD_SOURCE, requirements_in(f.build_in_text)),
    ):
        direct = {pin.name for pin in f.lock.pins if source in pin.via}
        expected = {canonicalize_name(r.name) for r in wanted}
        if direct != expected:
            problems.append(
                f"{lock_runtime.LOCK}: pinned for {source}: {sorted(direct)}, but it asks for "
                f"{sorted(expected)} (run tools/lock_runtime.py)"
            )
    return problems


def rule_lock_resolved_for_the_runners(f: Files) -> list[str]:
    """The header shows tools/lock_runtime.py's command: hashes, the runners' Python and
    platform, wheels only, the two inputs and no extras."""
    commands = [line.removeprefix(HEADER) for line in f.lock.header if line.startswith(HEADER)]
    expected = " ".join(lock_runtime.ARGS[2:])
    if commands != [expected]:
        return [
            f"{lock_runtime.LOCK}: generated by {commands}, not by tools/lock_runtime.py "
            f"(uv pip compile {expected})"
        ]
    return []


RULES: dict[str, Rule] = {
    "only_exact_pins": rule_only_exact_pins,
    "every_pin_hashed": rule_every_pin_hashed,
    "every_dependency_pinned": rule_every_dependency_pinned,
    "pins_satisfy_pyproject": rule_pins_satisfy_pyproject,
    "build_backend_pinned": rule_build_backend_pinned,
    "lock_holds_nothing_else": rule_lock_holds_nothing_else,
    "lock_resolved_for_the_runners": rule_lock_resolved_for_the_runners,
}


# ---- one named test per rule, over the real files ------------------------------------------


def test_only_exact_pins() -> None:
    assert rule_only_exact_pins(real_files()) == []


def test_every_pin_hashed() -> None:
    assert rule_every_pin_hashed(real_files()) == []


def test_every_dependency_pinned() -> None:
    assert rule_every_dependency_pinned(real_files()) == []


def test_pins_satisfy_pyproject() -> None:
    assert rule_pins_satisfy_pyproject(real_files()) == []


def test_build_backend_pinned() -> None:
    assert rule_build_backend_pinned(real_files()) == []


def test_lock_holds_nothing_else() -> None:
    assert rule_lock_holds_nothing_else(real_files()) == []


def test_lock_resolved_for_the_runners() -> None:
    assert rule_lock_resolved_for_the_runners(real_files()) == []


def test_every_rule_has_its_named_test() -> None:
    names = set(globals())
    assert {f"test_{rule}" for rule in RULES} <= names
    assert {rule for rule, *_ in MUTATIONS} == set(RULES)


def test_the_parser_sees_every_pin_and_hash() -> None:
    """The rules are only as good as the parse: count pins and hashes another way."""
    text = real_files().lock_text
    lock = parse_lock(text)
    assert len(lock.pins) == len(re.findall(r"(?m)^[A-Za-z0-9]", text)) > 0
    assert sum(len(p.hashes) for p in lock.pins) == text.count("--hash=")
    assert all(p.via for p in lock.pins)


# ---- each rule can fail: small mutations of the real files ---------------------------------


def pin_block(name: str) -> str:
    """A pattern for one pin with its hash lines (not its annotations)."""
    return rf"(?m)^({name}==\S+) \\\n(?:    --hash=\S+(?: \\)?\n)+"


FAKE = "    --hash=sha256:" + "0" * 64 + "\n"

MUTATIONS: list[tuple[str, str, str, str, str]] = [
    # (rule, id, file, pattern, replacement): re.sub once on lock_text / pyproject_text / ...
    ("only_exact_pins", "range", "lock_text", r"(?m)^boto3==", "boto3>="),
    ("only_exact_pins", "wildcard", "lock_text", r"(?m)^(pyyaml==\d+)\.\S+", r"\1.*"),
    ("only_exact_pins", "editable", "lock_text", r"\Z", "-e .\n"),
    ("only_exact_pins", "index", "lock_text", r"(?m)^(?=boto3==)",
     "--extra-index-url https://example.invalid/simple\n"),
    ("only_exact_pins", "url", "lock_text", r"(?m)^pyyaml==\S+",
     "pyyaml @ https://example.invalid/PyYAML-6.0.tar.gz"),
    ("only_exact_pins", "marker", "lock_text", r"(?m)^(boto3==\S+) \\",
     r'\1 ; python_version < "3.12" \\'),
    ("only_exact_pins", "twice", "lock_text", r"\Z", "boto3==1.0.0 \\\n" + FAKE),
    ("every_pin_hashed", "no-hash", "lock_text", pin_block("fastjsonschema"), r"\1\n"),
    ("every_pin_hashed", "short-hash", "lock_text", r"--hash=sha256:[0-9a-f]{8}",
     "--hash=sha256:"),
    ("every_pin_hashed", "md5", "lock_text", r"--hash=sha256:", "--hash=md5:"),
    ("every_dependency_pinned", "new-dependency", "pyproject_text", r'"PyGithub>=2\.3",\n',
     '"PyGithub>=2.3",\n    "requests-toolbelt>=1",\n'),
    ("every_dependency_pinned", "pin-removed", "lock_text",
     pin_block("pygithub") + r"(?:    #.*\n)+", ""),
    ("pins_satisfy_pyproject", "tightened", "pyproject_text", r'"boto3>=1\.34"',
     '"boto3>=1.34,<1.35"'),
    ("pins_satisfy_pyproject", "upper-bound", "pyproject_text", r'"fastjsonschema>=2\.19,<3"',
     '"fastjsonschema>=2.19,<2.20"'),
    ("pins_satisfy_pyproject", "old-pin", "lock_text", r"(?m)^jsonschema==\S+",
     "jsonschema==4.0.0"),
    ("build_backend_pinned", "raised", "pyproject_text", r'"setuptools>=77"',
     '"setuptools>=999"'),
    ("build_backend_pinned", "build-in-drifts", "build_in_text", r"(?m)^setuptools>=77$",
     "setuptools>=70"),
    ("build_backend_pinned", "not-locked", "lock_text",
     pin_block("setuptools") + r"(?:    #.*\n)+", ""),
    ("lock_holds_nothing_else", "dependency-dropped", "pyproject_text",
     r'    "fastjsonschema>=2\.19,<3",\n', ""),
    ("lock_holds_nothing_else", "test-extra", "lock_text", r"\Z",
     "pytest==8.0.0 \\\n" + FAKE + "    # via jitflow (pyproject.toml)\n"),
    ("lock_holds_nothing_else", "hand-added", "lock_text", r"\Z", "evil==1.0 \\\n" + FAKE),
    ("lock_holds_nothing_else", "orphan", "lock_text", r"(?m)^    # via boto3$",
     "    # via gone"),
    ("lock_resolved_for_the_runners", "python", "lock_text",
     r"--python-version \S+", "--python-version 3.12"),
    ("lock_resolved_for_the_runners", "this-machine", "lock_text",
     r" --python-platform \S+", ""),
    ("lock_resolved_for_the_runners", "no-hashes", "lock_text", r" --generate-hashes", ""),
    ("lock_resolved_for_the_runners", "extra", "lock_text", r"(?m)^(#    uv pip compile )",
     r"\1--extra test "),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "target", "pattern", "new"),
    [pytest.param(r, t, p, n, id=f"{r}-{mid}") for r, mid, t, p, n in MUTATIONS],
)
def test_each_rule_catches_its_mutation(rule: str, target: str, pattern: str, new: str) -> None:
    original = real_files()
    assert RULES[rule](original) == [], "the rule must pass on the real files"
    text, count = re.subn(pattern, new, getattr(original, target), count=1)
    assert count == 1, f"mutation does not apply: {pattern!r} not in {target}"
    assert RULES[rule](replace(original, **{target: text})) != []
