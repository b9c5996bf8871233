"""The shape of the package, locked in: no import cycles, and import-linter contracts
(pyproject.toml, run by ./dev.sh test) that name every module they are meant to cover."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"]


def contract(name_start: str) -> dict[str, list[str]]:
    return next(c for c in CONTRACTS if c["name"].startswith(name_start))


def modules_of(folder: str) -> set[str]:
    base = ROOT / "jitflow" / folder
    return {f"jitflow.{folder}.{p.stem}".replace("..", ".").rstrip(".")
            for p in base.glob("*.py") if p.stem != "__init__"}


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("jitflow", exclude_type_checking_imports=True)
    cycles = sorted(
        (a, b) for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
        if graph.chain_exists(importer=b, imported=a)
    )
    assert cycles == []


def test_every_command_is_in_the_independence_contract() -> None:
    commands = {m for m in modules_of("commands") if not m.endswith(".support")}
    assert set(contract("Commands do not import")["modules"]) == commands


def test_every_module_but_the_demo_is_kept_from_the_sandbox() -> None:
    covered = set(contract("Nothing imports the sandbox")["source_modules"])
    top = {f"jitflow.{p.stem}" for p in (ROOT / "jitflow").glob("*.py")
           if p.stem not in ("__init__", "__main__", "demo")}
    packages = {"jitflow.audit", "jitflow.doctor", "jitflow.engine", "jitflow.notify",
                "jitflow.pr"}
    commands = {m for m in modules_of("commands") if not m.endswith(".demo")}
    assert covered == top | packages | commands


def test_the_contracts_hold() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
