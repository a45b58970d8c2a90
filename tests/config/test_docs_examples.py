"""Every ```toml example in docs/configuration.md loads through the settings loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faktory_core.settings import build_config, read_conf_d

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
BLOCKS = re.findall(r"^```toml\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)


def test_the_doc_has_toml_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("text", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_example_loads(text: str, tmp_path: Path) -> None:
    conf_d = tmp_path / "conf" / "conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "example.toml").write_text(text, encoding="utf-8")
    environ = {"HOME": str(tmp_path)}
    config = build_config(["-c", str(tmp_path / "conf")], environ)
    assert dict(config.toml)  # it says something
    # Outside development too, with the password the example may give.
    build_config(
        ["-e", "production", "-c", str(tmp_path / "conf")],
        {
            **environ,
            "FAKTORY_SKIP_PASSWORD": "1",
        },
    )


def test_the_cron_examples_merge_across_files(tmp_path: Path) -> None:
    cron = [text for text in BLOCKS if "[[cron]]" in text]
    assert len(cron) >= 2
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    for index, text in enumerate(cron):
        (conf_d / f"{index}.toml").write_text(text, encoding="utf-8")
    assert len(read_conf_d(tmp_path).document["cron"]) == len(cron)
