"""Refresh the screenshots that docs/webui.md shows: run the browser tests with their
screenshots going to ``docs/webui/`` instead of a temporary folder.

    .venv/bin/python tests/browser/refresh_screenshots.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMAGES = ROOT / "docs" / "webui"


def main() -> int:
    env = {**os.environ, "WEBUI_SCREENSHOTS": str(DOCS_IMAGES)}
    pytest = Path(sys.executable).with_name("pytest")
    command = [str(pytest), "-q", "-k", "screenshot or phone", str(ROOT / "tests" / "browser")]
    return subprocess.call(command, env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
