"""Socket reads that a cancel or a deadline can interrupt, whatever the server does.

httpx blocks in one ``recv`` until bytes arrive or its timeout ends: a server that accepts the connection and
never answers would hold a statement (and Ctrl-C) for the whole read timeout. The client's connection pool is
given ``WatchedBackend`` instead of httpcore's plain one: every blocking call is cut into short slices, and
between slices it checks the running request's cancel flag and deadline (kept per thread in a ``Watch``, as
httpx's sync client sends on the caller's thread). The idle timeout (httpx's read timeout) still applies to
the wait as a whole.
"""

from __future__ import annotations

import contextlib
import math
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore

from mpsql.errors import Cancelled

POLL = 0.1  # seconds between checks of the cancel flag and the deadline while a read waits


class OutOfTime(Exception):
    """The running request used up its deadline while waiting on the network."""


class Watch(threading.local):
    """What the request running on this thread may be stopped by: a cancel flag and a monotonic deadline."""

    cancel: Any = None
    until: float = math.inf

    @contextlib.contextmanager
    def watching(self, cancel: Any, until: float) -> Iterator[None]:
        """Watch ``cancel`` and ``until`` for the duration of the block (on this thread)."""
        saved = (self.cancel, self.until)
        self.cancel, self.until = cancel, until
        try:
            yield
        finally:
            self.cancel, self.until = saved

    def check(self) -> float:
        """Raise if the request was cancelled or is out of time; else the seconds it has left."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")
        left = self.until - time.monotonic()
        if left <= 0:
            raise OutOfTime()
        return left

    def clip(self, timeout: float | None) -> float | None:
        """``timeout`` shortened to the time the request has left."""
        left = self.check()
        if left == math.inf:
            return timeout
        return left if timeout is None else min(timeout, left)


class WatchedStream(httpcore.NetworkStream):
    """A network stream whose blocking reads wake every ``POLL`` seconds to check the watch."""

    def __init__(self, inner: httpcore.NetworkStream, watch: Watch) -> None:
        self._inner = inner
        self._watch = watch

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        give_up = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            left = self._watch.check()
            idle = give_up - time.monotonic()
            if idle <= 0:
                raise httpcore.ReadTimeout("timed out")
            try:
                # A plain or TLS socket that timed out in recv has consumed nothing: reading again is safe.
                return self._inner.read(max_bytes, min(POLL, idle, left))
            except httpcore.ReadTimeout:
                continue

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._watch.clip(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return WatchedStream(self._inner.start_tls(ssl_context, server_hostname, self._watch.clip(timeout)),
                             self._watch)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class WatchedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every stream it opens watched."""

    def __init__(self, inner: httpcore.NetworkBackend, watch: Watch) -> None:
        self._inner = inner
        self._watch = watch

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        timeout = self._watch.clip(timeout)
        return self._connect(lambda: self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        timeout = self._watch.clip(timeout)
        return self._connect(lambda: self._inner.connect_unix_socket(path, timeout, socket_options))

    def _connect(self, connect: Callable[[], httpcore.NetworkStream]) -> WatchedStream:
        """Connect on a helper thread while this one watches: name resolution and a connect to a host that
        never answers block in calls that cannot be woken. A connection abandoned on a cancel is closed by the
        helper when it completes (within the connect timeout)."""
        done = threading.Event()
        outcome: dict[str, Any] = {}
        abandoned = threading.Event()

        def run() -> None:
            try:
                outcome["stream"] = connect()
            except BaseException as exc:  # handed to the waiting thread
                outcome["error"] = exc
            done.set()
            if abandoned.is_set() and "stream" in outcome:
                outcome["stream"].close()

        threading.Thread(target=run, name="mpsql-connect", daemon=True).start()
        try:
            while not done.wait(POLL):
                self._watch.check()
        except BaseException:
            abandoned.set()
            if done.is_set() and "stream" in outcome:
                outcome["stream"].close()
            raise
        if "error" in outcome:
            raise outcome["error"]
        return WatchedStream(outcome["stream"], self._watch)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def watch_client(transports: Iterable[Any], watch: Watch) -> int:
    """Give every httpcore pool behind ``transports`` the watched backend; the number of pools changed.

    httpx offers no public way to pass a network backend, so the pool's ``_network_backend`` is swapped;
    ``tests/integration/test_hangs.py`` fails loudly if a new httpx or httpcore moves it.
    """
    changed = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if inner is not None and not isinstance(inner, WatchedBackend):
            pool._network_backend = WatchedBackend(inner, watch)  # type: ignore[union-attr]
            changed += 1
    return changed
