"""The README's two commands are what CI runs, and every document it links exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_linked_documents_exist() -> None:
    links = re.findall(r"\]\((docs/[^)]+)\)", README)
    assert links, "the README links its documentation"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert missing == []


def test_ci_runs_the_readme_commands() -> None:
    commands = re.findall(r"```sh\n(.+?)\n```", README)
    assert len(commands) >= 2
    install_and_start, install_and_test = commands[0], commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test in ci
    # The server command runs briefly in CI, in the background with its own HOME.
    assert install_and_start.removesuffix(".venv/bin/faktory-core") in ci
