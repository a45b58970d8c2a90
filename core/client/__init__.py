"""The Python client for Faktory and faktory-core: push jobs, inspect and manage queues.

::

    from faktory_core.client import Client, Job

    with Client() as client:                      # FAKTORY_PROVIDER / FAKTORY_URL / localhost
        client.push(Job("SendEmail", [42], queue="mail", retry=3))

:class:`AsyncClient` has the same methods for anyio/asyncio code. Both speak through the
project's sans-IO protocol engine (:mod:`faktory_core.protocol`). Every error they raise is a
:class:`ClientError`; the tree is drawn in :mod:`faktory_core.client.errors`.
"""

from faktory_core.client.clients import AsyncClient, Client
from faktory_core.client.connection import AsyncConnection, Connection, Identity
from faktory_core.client.errors import (
    AuthenticationError,
    ClientError,
    ConfigError,
    ConnectFailed,
    ConnectionLost,
    JobError,
    PoolTimeout,
    ProtocolError,
    ServerError,
    TransportError,
)
from faktory_core.client.info import Info, QueueStats, ServerInfo, SetSizes, TaskInfo
from faktory_core.client.job import Job, new_jid
from faktory_core.client.settings import Settings

__all__ = [
    "AsyncClient",
    "AsyncConnection",
    "AuthenticationError",
    "Client",
    "ClientError",
    "ConfigError",
    "ConnectFailed",
    "Connection",
    "ConnectionLost",
    "Identity",
    "Info",
    "Job",
    "JobError",
    "PoolTimeout",
    "ProtocolError",
    "QueueStats",
    "ServerError",
    "ServerInfo",
    "SetSizes",
    "Settings",
    "TaskInfo",
    "TransportError",
    "new_jid",
]
