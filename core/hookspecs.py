"""Every hook faktory-core calls, in one module, grouped by what they extend.

One name ties the pieces together: the pluggy project name, the plugin manager, the entry-point
group and the hook prefix are all ``faktory_core``.

Two kinds of hook:

- **factories** (``firstresult=True``) are plain functions that return an object with async
  methods, or None to pass. pluggy does not await: an ``async def`` firstresult hook would hand
  back a coroutine as its answer, so factories are never ``async``.
- **contributions and notifications** (1:N) return a value each, or an awaitable that the
  server awaits.

The server calls factories and contributions once, at start-up (and again on reload where
noted); the hot path never goes through pluggy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from faktory_core.auth import Authenticator
    from faktory_core.clock import Clock
    from faktory_core.config import Config
    from faktory_core.gate import FetchGate
    from faktory_core.middleware import JobMiddleware
    from faktory_core.retry import RetryPolicy
    from faktory_core.server.app import Server
    from faktory_core.server.commands import Handler
    from faktory_core.store import Store

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "faktory_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- storage -------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def faktory_core_make_store(config: Config, clock: Clock) -> Store | None:
    """Build the Store the server runs on.

    Implemented by store plugins (``memory_store``, ``redis_store``). First non-None answer
    wins; the memory store answers last (``trylast``). Called once at start-up.
    """


# -- retry policy --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def faktory_core_make_retry_policy(config: Config) -> RetryPolicy | None:
    """Build the policy that decides where a failed job goes (retries, dead, or dropped).

    The built-in ``retry`` plugin answers last with Faktory's policy (§5.3, §5.4). First
    non-None answer wins. Called once at start-up.
    """


# -- auth ----------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def faktory_core_make_authenticator(config: Config) -> Authenticator | None:
    """Build the object that checks each connection's HELLO.

    The built-in ``auth`` plugin answers last with Faktory's password check (§2): a salted,
    iterated SHA-256 challenge when a password is configured, open otherwise. First non-None
    answer wins. Called once at start-up.
    """


@hookspec(firstresult=True)
def faktory_core_feature_storage(feature: str, store: Store) -> Any | None:
    """The storage an optional feature needs (``"batch"``, ``"unique"``, ...) on this store.

    A feature plugin defines the protocol its storage follows (a ``typing.Protocol`` in its
    own package) and asks for it at start-up with ``server.kernel.feature_storage(name,
    server.store)``; each store plugin answers for the features it implements, for stores it
    made, and passes (None) otherwise. No plugin imports another: the protocol is structural.
    Called once per feature at start-up.
    """


@hookspec
def faktory_core_enterprise_features() -> Sequence[str] | None:
    """Name the Faktory Enterprise features this plugin provides (``["batch"]``).

    While any plugin names one, INFO's and ``/health``'s ``server.description`` is
    ``Faktory Enterprise``, which clients read to switch their Enterprise code paths on.
    """


# -- job middleware ------------------------------------------------------------------------------


@hookspec
def faktory_core_job_middleware(config: Config, clock: Clock) -> JobMiddleware | None:
    """Contribute middleware around push, fetch, ack and fail (see ``JobMiddleware``).

    ``clock`` is the server's clock: time-based middleware (expiring jobs) reads "now" from it.

    1:N: every plugin's middleware joins the chain, in pluggy's call order (``tryfirst`` runs
    outermost). Collected once at start-up into plain call chains.
    """


@hookspec
def faktory_core_fetch_gate(server: Server) -> FetchGate | None:
    """Contribute a gate that holds queues back at FETCH (see ``faktory_core.gate``).

    1:N; the throttle plugin answers with its throttles. Collected once at start-up into the
    manager; with no gate FETCH costs what it did.
    """


# -- protocol commands ---------------------------------------------------------------------------


@hookspec
def faktory_core_commands(server: Server) -> Mapping[str, Handler] | None:
    """Contribute FWP commands: verb → ``async handler(session, payload) -> reply bytes``.

    1:N; a plugin may replace a built-in verb (``BATCH``, ``TRACK``). Collected once at
    start-up into the command table.
    """


# -- cron ----------------------------------------------------------------------------------------


@hookspec
def faktory_core_cron_entries(config: Config) -> Sequence[Any] | None:
    """Contribute periodic jobs (cron entries) beyond the ``[[cron]]`` tables of conf.d.

    1:N; implemented by plugins that schedule their own jobs, consumed by the ``cron`` plugin.
    Called at start-up and on reload.
    """


# -- web UI --------------------------------------------------------------------------------------


@hookspec
def faktory_core_web_routes(server: Server) -> Sequence[Any] | None:
    """Contribute Litestar route handlers (or routers) to the web UI.

    1:N; consumed by the ``webui`` plugin when it builds its app at start-up.
    """


@hookspec
def faktory_core_web_tabs(server: Server) -> Sequence[tuple[str, str]] | None:
    """Contribute navigation tabs to the web UI as ``(label, path)`` pairs.

    1:N; consumed by the ``webui`` plugin. The cron plugin adds its tab this way.
    """


@hookspec
def faktory_core_web_templates(server: Server) -> Mapping[str, str] | None:
    """Contribute Jinja templates to the web UI as ``{name: source}``.

    1:N; consumed by the ``webui`` plugin, which adds them to its template loader at start-up,
    so each is compiled once and may extend ``faktory_core.web.LAYOUT``. A handler renders one
    with ``faktory_core.web.page(name, **context)``. The cron plugin's page comes this way.
    """


@hookspec
def faktory_core_web_job_progress(
    server: Server,
) -> Callable[[str], Awaitable[Mapping[str, Any] | None]] | None:
    """Contribute a reader of a job's progress for the web UI: ``async (jid) -> {"percent":
    ..., "desc": ..., "state": ...}`` or None when it knows nothing of the job.

    1:N; the ``tracking`` plugin answers with its records. The UI asks each reader in turn
    (``faktory_core.web.job_progress``) for the Busy page's jobs and a job's page.
    """


# -- lifecycle -----------------------------------------------------------------------------------


@hookspec
def faktory_core_startup(server: Server) -> Awaitable[None] | None:
    """The server is about to accept connections; the store is open.

    1:N; may return an awaitable, which the server awaits. Plugins that run background work
    start it here in ``server.task_group``.
    """


@hookspec
def faktory_core_shutdown(server: Server) -> Awaitable[None] | None:
    """The server has stopped accepting connections and is about to close the store.

    1:N; may return an awaitable, which the server awaits.
    """


@hookspec
def faktory_core_reload(server: Server, config: Config) -> Awaitable[None] | None:
    """SIGHUP: the configuration was read again and is valid; ``config`` is the new one.

    1:N; may return an awaitable, which the server awaits. A plugin that cannot apply the new
    configuration logs why and keeps its old state.
    """
