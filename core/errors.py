"""Errors that mirror the wire, and every exact error text of Faktory 1.10 in one place.

Exception tree::

    FaktoryError            code "ERR"; the server answers ``-{code} {message}``
    ├── InvalidJob          a PUSH/PUSHB payload that is not a valid job (``-ERR ...``)
    ├── CodedError          any other code, e.g. ``-NOTUNIQUE Job not unique``
    │   └── Discard         code "DISCARD": fetch middleware drops the job and fetches again
    ├── CloseConnection     answered, then the connection is closed (bad password, limits)
    └── StoreError          the store failed (outage); answered as ``-ERR`` and logged

A bug in our own code is not a FaktoryError: the connection loop logs it and answers
:data:`INTERNAL_ERROR`, keeping the connection (Faktory 1.10's ``safeDispatch``).
"""

from __future__ import annotations

__all__ = [
    "INTERNAL_ERROR",
    "MAX_QUEUE_NAME",
    "CloseConnection",
    "CodedError",
    "Discard",
    "FaktoryError",
    "InvalidJob",
    "StoreError",
    "messages",
]


class FaktoryError(Exception):
    """An error the server reports to the client as ``-{code} {message}``."""

    code = "ERR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def wire_text(self) -> str:
        """The text after the ``-``: ``ERR message`` or ``CODE message``."""
        return f"{self.code} {self.message}"


class InvalidJob(FaktoryError):
    """The pushed payload is not a job Faktory would accept."""


class CodedError(FaktoryError):
    """An error with its own code, as Faktory's middleware ``Halt(code, msg)`` produces."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Discard(CodedError):
    """Raised by fetch middleware: drop this job and fetch the next one."""

    def __init__(self, message: str = "job discarded") -> None:
        super().__init__("DISCARD", message)


class CloseConnection(FaktoryError):
    """Answered with ``-ERR message`` and then the connection is closed."""


class StoreError(FaktoryError):
    """The store could not do what was asked (e.g. Redis is unreachable)."""


INTERNAL_ERROR = "internal error"
#: The longest queue name accepted (Faktory has no limit; docs/compatibility.md).
MAX_QUEUE_NAME = 255
#: How much of an over-long queue name an error reply repeats.
_ECHOED_NAME = 64


class messages:
    """Every error text Faktory 1.10 sends, verbatim (reference §1.3)."""

    INTERNAL = INTERNAL_ERROR
    SHUTDOWN = "shutdown in progress"
    INVALID_PASSWORD = "Invalid password"
    NO_JID = "jobs must have a reasonable jid parameter"
    NO_JOBTYPE = "jobs must have a jobtype parameter"
    NO_ARGS = "jobs must have an args parameter"
    RESERVE_TOO_LONG = "jobs cannot be reserved for more than one day"
    FETCH_NO_QUEUE = "must call fetch with at least one queue"
    MISSING_JID = "missing JID"
    LATENCY_WILDCARD = "QUEUE LATENCY does not support wildcards"
    MUTATE_FORMAT = "invalid format"
    MUTATE_TARGET = "invalid target for mutation command"
    MUTATE_OP = "unknown mutate operation"
    BATCH_OSS = "batch subsystem is only available in Faktory Enterprise"
    TRACK_OSS = "tracking subsystem is only available in Faktory Enterprise"
    NOT_UNIQUE = "Job not unique"
    QUEUE_NAME_RULE = r"queue names must match \A[a-zA-Z0-9._-]+\z"
    LINE_TOO_LONG = "line too long: the limit is {limit} bytes"

    @staticmethod
    def unknown_command(verb: str) -> str:
        return f"unknown command {verb}"

    @staticmethod
    def too_many_connections(count: int) -> str:
        return f"too many connections: {count}"

    @staticmethod
    def invalid_json(detail: str) -> str:
        return f"invalid JSON: {detail}"

    @staticmethod
    def invalid_at(value: str, detail: str) -> str:
        return f"invalid timestamp for 'at': \"{value}\": {detail}"

    @staticmethod
    def bad_queue(name: str) -> str:
        if len(name) > MAX_QUEUE_NAME:
            return (
                f'cannot get "{name[:_ECHOED_NAME]}..." queue: queue names are at most '
                f"{MAX_QUEUE_NAME} characters"
            )
        return f'cannot get "{name}" queue: {messages.QUEUE_NAME_RULE}'

    @staticmethod
    def too_many_queues(count: int, limit: int) -> str:
        return f"too many queues: {count} (the limit is {limit}, max_fetch_queues)"

    @staticmethod
    def invalid_ack(payload: str) -> str:
        return f"invalid ACK {payload}"

    @staticmethod
    def invalid_fail(payload: str) -> str:
        return f"invalid FAIL {payload}"

    @staticmethod
    def job_not_found(jid: str) -> str:
        return f"Job not found {jid}"

    @staticmethod
    def invalid_beat(payload: str) -> str:
        return f"invalid BEAT {payload}"

    @staticmethod
    def unknown_worker(wid: str) -> str:
        return f"unknown worker {wid}"

    @staticmethod
    def no_such_queue_subcommand(sub: str) -> str:
        return f"no such QUEUE subcommand: {sub.upper()}"

    @staticmethod
    def queue_error(detail: str) -> str:
        """QUEUE LATENCY failing in the store or in JSON encoding."""
        return f"QUEUE: {detail}"

    @staticmethod
    def pushb_error(detail: str) -> str:
        """PUSHB failing to encode its result map."""
        return f"PUSHB: {detail}"

    @staticmethod
    def line_too_long(limit: int) -> str:
        return messages.LINE_TOO_LONG.format(limit=limit)
