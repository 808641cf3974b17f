"""The database worker: one thread per open database, running operations one at a time, in order.

Free of Qt, so that the desktop's start-up can hand it the sign-in and the roster's first read before
Qt has even been imported (ui.preload); ui.ops delivers the results of everything else to the GUI
thread.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from b12desk.data.db import Database

T = TypeVar("T")


@dataclass
class Job:
    """`run()` on the worker thread; then `deliver(True, result)` or `deliver(False, exception)` there.

    A job that hands its result on to the GUI thread stays outstanding until that side calls
    `DbWorker.settled()`; one with `settles=True` is done when `deliver` returns."""

    run: Callable[[], Any]
    deliver: Callable[[bool, Any], None]
    settles: bool = False


class DbWorker:
    """One thread per database; operations run one at a time, in the order they were asked for."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._outstanding = 0
        self._thread = threading.Thread(target=self._loop, name="b12desk-database", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._lock:
            self._outstanding += 1
        self._jobs.put(job)

    def call(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn()` on this worker after what is already queued; its result or exception as a Future."""
        future: Future[T] = Future()

        def deliver(ok: bool, value: Any) -> None:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        self.submit(Job(fn, deliver, settles=True))
        return future

    def settled(self) -> None:
        """A job's result has been handed over (to the GUI thread's callbacks)."""
        with self._lock:
            self._outstanding -= 1

    def idle(self) -> bool:
        with self._lock:
            return self._outstanding == 0

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                result = job.run()
            except BaseException as exc:
                job.deliver(False, exc)
            else:
                job.deliver(True, result)
            if job.settles:
                self.settled()


# One worker per open database, found by the database object (which it must not keep alive).
_workers: dict[int, tuple[weakref.ref[Database], DbWorker]] = {}
_workers_lock = threading.Lock()


def worker_for(db: Database) -> DbWorker:
    with _workers_lock:
        entry = _workers.get(id(db))
        if entry is not None and entry[0]() is db:
            return entry[1]
        worker = DbWorker()
        _workers[id(db)] = (weakref.ref(db), worker)
        weakref.finalize(db, _forget, id(db), worker)
        return worker


def _forget(key: int, worker: DbWorker) -> None:
    """The database is gone: stop its worker (and only its own: a new database may reuse the id)."""
    with _workers_lock:
        entry = _workers.get(key)
        if entry is not None and entry[1] is worker:
            del _workers[key]
    worker._jobs.put(None)


def all_workers() -> list[DbWorker]:
    with _workers_lock:
        return [worker for _db, worker in _workers.values()]


def stop_all_workers() -> None:
    for worker in all_workers():
        worker.stop()
    with _workers_lock:
        _workers.clear()
