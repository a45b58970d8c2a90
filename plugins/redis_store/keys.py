"""Every Redis key and channel name the store uses, in one place (docs/redis.md, "Key layout").

Faktory 1.10's keys are kept exactly (reference §8) so a Redis written by Faktory is served and
the other way round. Keys faktory-core adds live under ``fc:`` (and ``kv:`` for the key-value
space), which Faktory never reads. With a prefix every key, Faktory's too, starts with it, so
several deployments can share one Redis database.
"""

from __future__ import annotations

import attrs

from faktory_core.model import SortedSet

__all__ = ["Keys", "glob_escape"]

#: The bare queue keys of Faktory ≤ 1.9 became ``q:<name>`` in 1.10.
QUEUE_PREFIX = "q:"


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis glob (SCAN MATCH): escape ``* ? [ ] \\``."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


@attrs.frozen
class Keys:
    """Key names under one prefix ("" = Faktory's own names)."""

    prefix: str = ""

    # -- Faktory 1.10's layout ------------------------------------------------------------------
    @property
    def queues(self) -> str:
        """SET of registered queue names."""
        return self.prefix + "queues"

    @property
    def paused(self) -> str:
        """SET of paused queue names."""
        return self.prefix + "paused"

    def queue(self, name: str) -> str:
        """LIST of a queue's job JSON: LPUSH in, RPOP out."""
        return self.prefix + QUEUE_PREFIX + name

    def set(self, which: SortedSet) -> str:
        """ZSET ``scheduled``/``retries``/``dead``: job JSON scored by Unix seconds."""
        return self.prefix + which.value

    @property
    def working(self) -> str:
        """ZSET of reservation JSON (reference §4.4) scored by expiry."""
        return self.prefix + "working"

    @property
    def processed(self) -> str:
        return self.prefix + "processed"

    @property
    def failures(self) -> str:
        return self.prefix + "failures"

    def processed_on(self, day: str) -> str:
        """Per-UTC-day counter ``processed:<YYYY-MM-DD>`` (kept HISTORY_DAYS days)."""
        return f"{self.prefix}processed:{day}"

    def failures_on(self, day: str) -> str:
        return f"{self.prefix}failures:{day}"

    @property
    def version(self) -> str:
        """Faktory's data-layout version counter, bumped by the queue-key migration."""
        return self.prefix + "v"

    # -- faktory-core's additions ---------------------------------------------------------------
    @property
    def reservations(self) -> str:
        """HASH jid → its member of ``working``: ACK/FAIL find a reservation in O(1)."""
        return self.prefix + "fc:reservations"

    @property
    def workers(self) -> str:
        """SET of the wids that have a worker record."""
        return self.prefix + "fc:workers"

    def worker(self, wid: str) -> str:
        """HASH of one worker process's heartbeat record, with a safety expiry."""
        return self.worker_prefix + wid

    @property
    def worker_prefix(self) -> str:
        return self.prefix + "fc:worker:"

    def kv(self, key: str) -> str:
        """HASH ``{v: value, x: expiry}`` of the key-value space (cron claims and the like)."""
        return f"{self.prefix}kv:{key}"

    @property
    def corrupt(self) -> str:
        """LIST of unreadable job JSON taken out of queues and sets, kept for inspection."""
        return self.prefix + "fc:corrupt"

    @property
    def pushed(self) -> str:
        """Pub/sub channel: ``"<queue> <count>"`` when jobs arrive in an empty queue."""
        return self.prefix + "fc:pushed"

    @property
    def reaped(self) -> str:
        """Pub/sub channel: ``"<node> <wid>"`` when a server's reaper drops a silent worker, so
        every server closes that worker's connections."""
        return self.prefix + "fc:reaped"

    def node(self, node: str) -> str:
        """STRING that exists while the server ``node`` is alive (see :mod:`.nodes`)."""
        return self.node_prefix + node

    @property
    def node_prefix(self) -> str:
        return self.prefix + "fc:node:"

    # -- FLUSH ----------------------------------------------------------------------------------
    def fixed(self) -> list[str]:
        """Every key with a fixed name that FLUSH deletes (with :meth:`families`); not
        ``workers``: workers' records outlive a FLUSH."""
        sets = [self.set(which) for which in SortedSet]
        return [
            self.queues,
            self.paused,
            *sets,
            self.working,
            self.processed,
            self.failures,
            self.reservations,
            self.corrupt,
        ]

    def families(self) -> list[str]:
        """SCAN patterns of the key families: queues, daily counters, kv, faktory-core's."""
        prefix = glob_escape(self.prefix)
        names = (QUEUE_PREFIX, "processed:", "failures:", "kv:", "fc:")
        return [f"{prefix}{glob_escape(name)}*" for name in names]
