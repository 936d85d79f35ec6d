"""Every library module has a place in the import-linter layers, so the contracts bind it.

import-linter leaves a module it is not told about unconstrained: a new module that nobody
adds to ``[tool.importlinter]`` could import upwards unseen. This test names such a module.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import lacecal_async

ROOT = Path(lacecal_async.__file__).parent
CONFIG = tomllib.loads((ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))
#: Outside the layers: the command and the fake server sit on top, and have contracts of
#: their own; the package's entry points only re-export or start the command.
OUTSIDE = {"cli", "testing", "__main__", "__init__"}


def _contract(name_part: str) -> dict[str, list[str]]:
    contracts: list[dict[str, list[str]]] = CONFIG["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if name_part in str(c["name"]))


def _placed() -> set[str]:
    layers = _contract("Layers point one way")["layers"]
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_every_library_module_is_in_a_layer() -> None:
    placed = _placed()
    modules = {
        f"lacecal_async.{path.stem if path.parent == ROOT else path.parent.name}"
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0].removesuffix(".py") not in OUTSIDE
    }
    assert modules - placed == set()


def test_every_library_module_is_forbidden_the_command_and_the_fake() -> None:
    sources = set(_contract("never imports the command")["source_modules"])
    assert _placed() - sources == set()
