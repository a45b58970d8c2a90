"""The batch plugin's error texts (enterprise.md §2.2, §2.10), each answered as ``-ERR <text>``."""

from __future__ import annotations

from faktory_core.batchstate import no_such_batch

__all__ = [
    "BAD_COMMAND",
    "MAX_DESCRIPTION",
    "NO_CALLBACK",
    "bad_callback",
    "bad_field",
    "bad_operation",
    "description_too_long",
    "invalid_json",
    "no_such_batch",
]

#: Longest description accepted, in UTF-8 bytes.
MAX_DESCRIPTION = 4096

BAD_COMMAND = "invalid BATCH command"
NO_CALLBACK = "success and/or a complete job callback must be included in batch creation"


def bad_operation(op: str) -> str:
    return f"invalid BATCH operation {op}"


def invalid_json(detail: str) -> str:
    return f"invalid JSON data: {detail}"


def bad_field(name: str, expected: str) -> str:
    return f"invalid JSON data: {name} must be {expected}"


def bad_callback(kind: str, detail: str) -> str:
    return f"invalid {kind} callback: {detail}"


def description_too_long(size: int) -> str:
    return f"description is {size} bytes, longer than the {MAX_DESCRIPTION} allowed"
