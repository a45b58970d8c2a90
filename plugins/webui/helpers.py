"""What every page shares: parameters, links under ``X-Script-Name``, paging and job display.

Nothing here touches the store; the controllers read it and hand plain values to the templates.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_400_BAD_REQUEST

from faktory_core.model import Job, JobFilter
from faktory_core.timefmt import BadTimestamp, format_ts, parse_ts

# The page API lives in the core, so other plugins reach it without importing this plugin.
from faktory_core.web import AnyRequest, UiServer, link, page, redirect, script_name

__all__ = [
    "PAGE_SIZE",
    "AnyRequest",
    "FindForm",
    "Pager",
    "UiServer",
    "bad_request",
    "display_args",
    "display_type",
    "format_latency",
    "int_param",
    "jid_from_bkey",
    "latency_category",
    "link",
    "page",
    "page_param",
    "pretty_json",
    "redirect",
    "relative_time",
    "script_name",
]

#: Rows per list page (Faktory's queue page shows 26 by an off-by-one; decisions.md: 25).
PAGE_SIZE = 25
#: Each argument is shown as JSON cut to this many bytes in lists (Faktory: 1024).
LIST_ARG_BYTES = 1024
ACTIVE_JOB_WRAPPER = "ActiveJob::QueueAdapters::FaktoryAdapter::JobWrapper"
MAILER_JOBS = ("ActionMailer::DeliveryJob", "ActionMailer::MailDeliveryJob")


def bad_request(text: str = "Invalid parameter") -> HTTPException:
    return HTTPException(status_code=HTTP_400_BAD_REQUEST, detail=text)


# -- parameters ---------------------------------------------------------------------------------


def int_param(request: AnyRequest, name: str, default: int = 0) -> int:
    """A query parameter that must be a non-negative integer (ASCII digits, at most 12), or 400
    ``Invalid parameter`` as Faktory answers."""
    raw = request.query_params.get(name, str(default))
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise bad_request()
    return int(raw)


def page_param(request: AnyRequest) -> int:
    """``?page=N``: 0 and 1 are the first page."""
    return max(int_param(request, "page", 1), 1)


@attrs.frozen
class Pager:
    """Page ``current`` of ``total`` items; links keep the other query values (a filter)."""

    current: int
    total: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.current - 1) * self.size

    @property
    def last(self) -> int:
        return max((self.total + self.size - 1) // self.size, 1)

    @property
    def needed(self) -> bool:
        return self.total > self.size or self.current > 1


# -- finding jobs --------------------------------------------------------------------------------


@attrs.frozen
class FindForm:
    """The "Find jobs" fields, from a query string or a form: each given field must match."""

    jobtype: str = ""
    jid: str = ""
    text: str = ""
    error: str = ""

    FIELDS = ("jobtype", "jid", "text", "error")

    @classmethod
    def read(cls, values: Mapping[str, Any]) -> FindForm:
        fields = {name: str(values.get(name) or "").strip() for name in cls.FIELDS}
        return cls(**fields)

    @property
    def active(self) -> bool:
        return any(self.query().values())

    def query(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.FIELDS if getattr(self, name)}

    def job_filter(self) -> JobFilter:
        return JobFilter(
            jobtype=self.jobtype,
            jids=(self.jid,) if self.jid else (),
            text=self.text,
            error=self.error,
        )


def jid_from_bkey(bkey: str) -> str:
    """A queue page's ``bkey``: the jid, or (Faktory's form) base64url of the job's JSON."""
    try:
        padded = bkey + "=" * (-len(bkey) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return bkey
    jid = data.get("jid") if isinstance(data, dict) else None
    return jid if isinstance(jid, str) else bkey


# -- display ------------------------------------------------------------------------------------


def display_type(job: Job) -> str:
    """The job type to show: ActiveJob's wrapper shows the wrapped class, a mailer job
    ``Mailer#method`` (Faktory's webui/helpers.go, reference §9.1)."""
    wrapped = (job.custom or {}).get("wrapped")
    if job.jobtype != ACTIVE_JOB_WRAPPER or not isinstance(wrapped, str):
        return job.jobtype
    if wrapped in MAILER_JOBS and job.args and isinstance(job.args[0], dict):
        arguments = job.args[0].get("arguments")
        if isinstance(arguments, list) and len(arguments) >= 2:
            mailer, method = arguments[0], arguments[1]
            if isinstance(mailer, str) and isinstance(method, str):
                return f"{mailer}#{method}"
    return wrapped


def format_latency(seconds: float) -> str:
    """A queue's latency as Faktory shows it: ``-``, ``5.7s``, ``2m 5s``, ``1h 30m``."""
    if seconds <= 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = whole // 3600, whole % 3600 // 60
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"


def latency_category(seconds: float) -> str:
    """The colour class of a latency: muted (empty), success < 10 s, warning < 60 s, danger."""
    if seconds <= 0:
        return "muted"
    if seconds < 10:
        return "success"
    return "warning" if seconds < 60 else "danger"


def display_args(args: Iterable[Any], limit: int = LIST_ARG_BYTES) -> str:
    """Arguments as JSON, each cut to ``limit`` bytes (with an ellipsis), comma-separated."""
    shown = []
    for arg in args:
        text = json.dumps(arg, ensure_ascii=False)
        raw = text.encode()
        if len(raw) > limit:
            text = raw[:limit].decode("utf-8", "ignore") + "…"
        shown.append(text)
    return ", ".join(shown)


def pretty_json(value: Any) -> str:
    """JSON for reading: indented, non-ASCII kept (autoescape makes it safe in HTML)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def relative_time(seconds: float, now: float) -> str:
    """``in 5 minutes`` / ``3 hours ago``: the largest whole unit; ``just now`` under a second."""
    delta = seconds - now
    ago = delta < 0
    span = abs(delta)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if span >= size:
            count = int(span // size)
            words = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        return "just now"
    return f"{words} ago" if ago else f"in {words}"


def timestamp(text: str) -> float | None:
    """A job's RFC 3339 field as Unix seconds, None when absent or unreadable."""
    if not text:
        return None
    try:
        return parse_ts(text)
    except BadTimestamp:
        return None


def iso(seconds: float) -> str:
    return format_ts(seconds)
