"""docs/hooks.md documents every hook of ``faktory_core.hookspecs`` with its arguments
(datasette keeps the same test), and nothing that is not a hook."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from faktory_core import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
HEADING = re.compile(r"^(#+)\s+(.*)$", re.MULTILINE)


def _hooks() -> dict[str, list[str]]:
    """Hook name → argument names, for every function marked with ``@hookspec``."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name: list(inspect.signature(func).parameters)
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, marker)
    }


def _sections() -> dict[str, str]:
    """Heading text → the text up to the next heading of the same or a higher level."""
    text = DOC.read_text()
    found = list(HEADING.finditer(text))
    sections = {}
    for index, match in enumerate(found):
        level = len(match.group(1))
        end = len(text)
        for later in found[index + 1 :]:
            if len(later.group(1)) <= level:
                end = later.start()
                break
        sections[match.group(2)] = text[match.start() : end]
    return sections


HOOKS = _hooks()


def test_the_hookspecs_are_found():
    assert "faktory_core_make_store" in HOOKS
    assert HOOKS["faktory_core_reload"] == ["server", "config"]
    assert len(HOOKS) == 16


@pytest.mark.parametrize(("hook", "args"), sorted(HOOKS.items()))
def test_every_hook_has_a_section_with_its_arguments(hook: str, args: list[str]):
    [section] = [body for heading, body in _sections().items() if f"`{hook}(" in heading]
    heading = section.splitlines()[0]

    assert f"`{hook}({', '.join(args)})`" in heading
    for arg in args:
        assert f"`{arg}`" in section, f"{hook}: argument {arg} is not described"
    assert "firstresult" in section


@pytest.mark.parametrize(("hook", "args"), sorted(HOOKS.items()))
def test_firstresult_is_documented_truthfully(hook: str, args: list[str]):
    [section] = [body for heading, body in _sections().items() if f"`{hook}(" in heading]
    [row] = [line for line in section.splitlines() if line.startswith("| firstresult |")]
    firstresult = getattr(hookspecs, hook).faktory_core_spec.get("firstresult", False)

    assert row.startswith("| firstresult | **yes**" if firstresult else "| firstresult | no")


def test_no_heading_names_a_hook_that_does_not_exist():
    named = {
        match.group(0)
        for heading in _sections()
        for match in re.finditer(rf"\b{hookspecs.PROJECT}_[a-z_]+", heading)
    }
    assert named == set(HOOKS)
