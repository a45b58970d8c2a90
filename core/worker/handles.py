"""Job handles: what ``@worker.job`` returns, so producers push by handle, not by string.

::

    @worker.job("SendEmail", timeout=30)
    async def send_email(user_id: int, subject: str) -> None: ...

    job = send_email.job(42, "hi", queue="mail")     # a client Job; arguments checked now
    await send_email.push(client, 42, "hi")           # AsyncClient
    send_email.push_sync(sync_client, 42, "hi")       # blocking Client
    await send_email(42, "hi")                        # still the function itself

The jobtype comes from the handle, so it cannot be misspelled; the arguments are bound to the
function's signature when the job is built, so a wrong count fails at push time with a
``TypeError``; a job with a timeout gets a ``reserve_for`` longer than it.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from faktory_core.client import AsyncClient, Client, Job
from faktory_core.model import MAX_RESERVE_FOR, MIN_RESERVE_FOR

if TYPE_CHECKING:
    from faktory_core.worker.worker import Worker

__all__ = ["RESERVE_MARGIN", "JobHandle", "check_timeout", "reserve_for_timeout"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Seconds a job's reservation outlasts its timeout: time to report it after it is cut off.
RESERVE_MARGIN = 60
#: The longest timeout whose reservation the server accepts.
MAX_TIMEOUT = MAX_RESERVE_FOR - RESERVE_MARGIN

#: Stands for the JobContext when binding the arguments of a ``context=True`` function.
_CONTEXT = object()


def check_timeout(timeout: float | None) -> float | None:
    """``timeout`` if it is None or a number of seconds in (0, :data:`MAX_TIMEOUT`]."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(
            f"timeout must be more than 0 and at most {MAX_TIMEOUT} s (a reservation lasts "
            f"at most {MAX_RESERVE_FOR} s), not {timeout!r}"
        )
    return float(timeout)


def reserve_for_timeout(timeout: float) -> int:
    """The ``reserve_for`` of a job with this timeout: the timeout plus a margin."""
    return max(MIN_RESERVE_FOR, math.ceil(timeout) + RESERVE_MARGIN)


class JobHandle(Generic[_P, _R]):
    """A registered job function with the means to build and push its jobs."""

    def __init__(
        self,
        worker: Worker,
        func: Callable[_P, _R],
        jobtype: str,
        *,
        context: bool,
        timeout: float | None,
    ) -> None:
        self.worker = worker
        self.func = func
        self.jobtype = jobtype
        self.context = context
        self.timeout = timeout
        self._signature = _positional_signature(func, jobtype)
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<JobHandle {self.jobtype!r} -> {getattr(self.func, '__qualname__', self.func)}>"

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self.func(*args, **kwargs)

    def job(self, *args: Any, **options: Any) -> Job:
        """A :class:`~faktory_core.client.Job` of this type; ``options`` are Job's (queue,
        retry, at, delay, reserve_for, custom, ...)."""
        self.check_args(args)
        timeout = self.timeout if self.timeout is not None else self.worker.job_timeout
        if timeout is not None and options.get("reserve_for") is None:
            options["reserve_for"] = reserve_for_timeout(timeout)
        return Job(self.jobtype, args, **options)

    async def push(self, client: AsyncClient, *args: Any, **options: Any) -> str:
        """Push a job of this type with an async client; its jid."""
        return await client.push(self.job(*args, **options))

    def push_sync(self, client: Client, *args: Any, **options: Any) -> str:
        """Push a job of this type with a blocking client; its jid."""
        return client.push(self.job(*args, **options))

    def check_args(self, args: tuple[Any, ...]) -> None:
        """TypeError unless the function accepts ``args`` as its job arguments."""
        if self._signature is None:
            return
        bound = (_CONTEXT, *args) if self.context else args
        try:
            self._signature.bind(*bound)
        except TypeError as exc:
            raise TypeError(
                f"job {self.jobtype!r}: arguments {list(args)!r} do not fit "
                f"{getattr(self.func, '__qualname__', 'the function')}{self._signature}: {exc}"
            ) from None


def _positional_signature(func: Callable[..., Any], jobtype: str) -> inspect.Signature | None:
    """The function's signature; TypeError if it needs a keyword argument (FWP args are a list,
    so a required keyword-only parameter could never be given)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have none
        return None
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            raise TypeError(
                f"job function for {jobtype!r} has a required keyword-only parameter "
                f"{parameter.name!r}; jobs pass their arguments by position"
            )
    return signature
