"""The tracking tests' fixtures serve these tests too."""

from ..tracking.conftest import connect  # noqa: TID252

__all__ = ["connect"]
