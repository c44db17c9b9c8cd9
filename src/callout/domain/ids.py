"""Snowflake-like numeric string identifiers, unique per deployment and roughly time-ordered."""

from __future__ import annotations

import secrets
import threading
import time

_EPOCH_MS = 1_700_000_000_000
_NODE_BITS = 10
_SEQUENCE_BITS = 12


class IdGenerator:
    """Makes ids from milliseconds, a random node number and a per-millisecond sequence.

    The node number is random per process so that several replicas rarely collide; the database's
    primary keys catch the rare case.
    """

    def __init__(self, node: int | None = None) -> None:
        if node is not None and not 0 <= node < (1 << _NODE_BITS):
            raise ValueError(f"node must be in 0..{(1 << _NODE_BITS) - 1}")
        self._node = secrets.randbelow(1 << _NODE_BITS) if node is None else node
        self._lock = threading.Lock()
        self._last_ms = 0
        self._sequence = 0

    def next_id(self) -> str:
        """Return a new id as a decimal string."""
        with self._lock:
            now = max(int(time.time() * 1000) - _EPOCH_MS, self._last_ms)
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & ((1 << _SEQUENCE_BITS) - 1)
                if self._sequence == 0:
                    now += 1
            else:
                self._sequence = 0
            self._last_ms = now
            value = (now << (_NODE_BITS + _SEQUENCE_BITS)) | (self._node << _SEQUENCE_BITS)
            return str(value | self._sequence)


_default = IdGenerator()


def new_id() -> str:
    """Return a new id from the process-wide generator."""
    return _default.next_id()
