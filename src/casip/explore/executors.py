"""Executors for design-space exploration: in process, local processes, or Dask distributed.

All three share one small interface, so a study is written once and run anywhere:

>>> from casip.explore.executors import get_executor
>>> with get_executor("processes", workers=2) as ex:  # doctest: +SKIP
...     for i, result in ex.map_unordered(evaluate_one, designs):
...         ...

* ``"inprocess"``: a plain loop in the calling process (the reference; no pickling).
* ``"processes"``: a :class:`concurrent.futures.ProcessPoolExecutor` on this machine, started
  with the ``forkserver`` method (``spawn`` where there is no forkserver). ``fork`` is not used:
  PyBaMM/CasADi and the threads of a running program do not survive it safely.
* ``"dask"``: a :class:`distributed.Client`, either connected to a running scheduler
  (``scheduler="tcp://host:port"``; see ``docs/dask.md``) or to a
  :class:`distributed.LocalCluster` of ``workers`` single-threaded worker processes on
  127.0.0.1, started on demand and shut down by :meth:`Executor.close`.

Rules shared by every executor:

* ``map_unordered(fn, items)`` yields ``(index, result)`` pairs as tasks finish, ``index``
  being the position of the item in ``items``. An exception raised inside ``fn`` is *yielded as
  the result* (an :class:`Exception` instance), never raised, so one bad design does not stop a
  study; exceptions that cannot be pickled come back as :class:`RuntimeError` with the original
  type and text, and a worker that dies makes its tasks come back as :class:`RuntimeError`.
  The worker's traceback is attached as a note (``exc.__notes__``).
* ``fn`` must be a module-level function that the workers can import (``casip`` functions, or a
  module on the workers' path); its items and results must be picklable.
* Closing the iterator early (``gen.close()``, ``break`` out of a ``for`` loop over a generator
  that is then garbage-collected, or leaving the ``with`` block) cancels the tasks not yet
  started; tasks already running on a process are allowed to finish and their results dropped.
* At most a few tasks per worker are in flight at any time, so ``items`` may be a lazy iterable
  of any length and memory stays bounded.
* The worker processes run with ``PYBAMM_DISABLE_TELEMETRY=true``; PyBaMM would otherwise ask
  on first import, in a process nobody can answer.

Scripts that use ``"processes"`` or ``"dask"`` without a scheduler must guard their entry point
with ``if __name__ == "__main__":`` (the workers are started fresh and import the main module).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import socket
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from urllib.parse import urlsplit

from casip.errors import CasipInputError, Problem

#: The executor kinds accepted by :func:`get_executor`.
KINDS = ("inprocess", "processes", "dask")

#: Seconds allowed to reach a Dask scheduler (and for its first worker to be there).
CONNECT_TIMEOUT_S = 10.0

#: Tasks (chunks) in flight per worker slot: enough to hide the round trip, few enough that an
#: early close has little to cancel and that memory stays bounded.
IN_FLIGHT_PER_WORKER = 4

_TELEMETRY = {"PYBAMM_DISABLE_TELEMETRY": "true"}


# --------------------------------------------------------------------------------------------
# what runs on the workers (module level: picklable by reference)


def _portable(exc: BaseException) -> Exception:
    """``exc`` with its traceback as a note, as an Exception that survives a pickle round trip."""
    tb = "".join(traceback.format_exception(exc)).rstrip()
    try:
        if not isinstance(exc, Exception):
            raise TypeError("not an Exception")
        with contextlib.suppress(Exception):
            exc.add_note(f"traceback in the worker:\n{tb}")
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        out = RuntimeError(f"{type(exc).__name__}: {exc}")
        out.add_note(f"traceback in the worker:\n{tb}")
        return out


def _run_chunk(fn: Callable, chunk: list[tuple[int, object]]) -> list[tuple[int, object]]:
    """Call ``fn`` on each ``(index, item)``; an exception becomes the item's result."""
    out: list[tuple[int, object]] = []
    for i, item in chunk:
        try:
            out.append((i, fn(item)))
        except Exception as exc:
            out.append((i, _portable(exc)))
    return out


def _init_worker() -> None:
    """Initializer of every worker process (before any task is unpickled)."""
    os.environ.update(_TELEMETRY)


def _set_worker_env() -> None:  # for Client.run on already running Dask workers
    os.environ.update(_TELEMETRY)


def _worker_plugin():
    """A Dask worker plugin that sets the environment on current and future workers."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class _Env(WorkerPlugin):
        name = "casip-env"

        def setup(self, worker) -> None:
            os.environ.update(_TELEMETRY)

    return _Env()


def _chunks(items: Iterable, size: int) -> Iterator[list[tuple[int, object]]]:
    it = enumerate(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _check_chunksize(chunksize: int) -> int:
    if not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1:
        raise CasipInputError(
            Problem("chunksize", "must be a whole number of tasks", chunksize, "an integer >= 1")
        )
    return chunksize


# --------------------------------------------------------------------------------------------
# the interface


class Executor:
    """Runs a module-level function over items, on ``workers`` task slots.

    Use as a context manager (``with get_executor(...) as ex:``) or call :meth:`close`.
    """

    name: str = "executor"
    workers: int = 1

    def map_unordered(
        self, fn: Callable, items: Iterable, *, chunksize: int = 1
    ) -> Iterator[tuple[int, object]]:
        """Yield ``(index, result)`` as tasks finish (see the module docstring for the rules).

        ``chunksize`` items are sent to a worker at a time (fewer round trips for short tasks).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Stop the workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} workers={self.workers}>"


class InProcessExecutor(Executor):
    """A loop in the calling process: results in order, no pickling, nothing to start."""

    name = "inprocess"

    def __init__(self) -> None:
        self.workers = 1

    def map_unordered(self, fn, items, *, chunksize=1):
        _check_chunksize(chunksize)
        for i, item in enumerate(items):
            yield from _run_chunk(fn, [(i, item)])


class ProcessExecutor(Executor):
    """A :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` processes."""

    name = "processes"

    def __init__(self, workers: int | None = None, *, method: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        if method is None:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
        self.method = method
        os.environ.update(_TELEMETRY)  # inherited by the forkserver / spawned processes
        self._ctx = multiprocessing.get_context(method)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=self._ctx, initializer=_init_worker
            )
        return self._pool

    def map_unordered(self, fn, items, *, chunksize=1):
        chunks = _chunks(items, _check_chunksize(chunksize))
        limit = self.workers * IN_FLIGHT_PER_WORKER
        pending: dict = {}  # future -> chunk
        try:
            while True:
                while len(pending) < limit and (chunk := next(chunks, None)) is not None:
                    pending[self._get_pool().submit(_run_chunk, fn, chunk)] = chunk
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                results: list[tuple[int, object]] = []
                broken = False
                for fut in done:
                    chunk = pending.pop(fut)
                    try:
                        results += fut.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        err = RuntimeError(f"a worker process died while running this task: {exc}")
                        results += [(i, err) for i, _ in chunk]
                    except BaseException as exc:  # a result that could not be pickled, Ctrl-C
                        err = _portable(exc)
                        results += [(i, err) for i, _ in chunk]
                if broken:  # every task in flight is lost with the pool: report, start afresh
                    err = RuntimeError("a worker process died while this task was in flight")
                    for chunk in pending.values():
                        results += [(i, err) for i, _ in chunk]
                    pending.clear()
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
                yield from results
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


async def _identity(address: str, timeout: float) -> object:
    """The ``identity`` answer of the Dask server at ``address``."""
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await asyncio.wait_for(comm.read(), timeout)
    finally:
        comm.abort()


def _probe(address: str, timeout: float) -> object:
    """:func:`_identity` in a throw-away event loop on a daemon thread, bounded by ``timeout``
    even if the server accepts the connection and then says nothing."""
    box: dict = {}

    def run() -> None:
        try:
            box["who"] = asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout))
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, name="casip-dask-probe", daemon=True)
    t.start()
    t.join(timeout + 1.0)
    if t.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        err = box["error"]
        if isinstance(err, asyncio.TimeoutError | TimeoutError):
            raise TimeoutError(f"no answer within {timeout:g} s") from None
        raise err
    return box["who"]


def _check_address(address: str) -> tuple[str, int]:
    expected = "a Dask scheduler address tcp://host:port, e.g. tcp://127.0.0.1:8786"
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except (ValueError, TypeError):
        host = port = None
        parts = None
    if parts is None or parts.scheme != "tcp" or not host or port is None:
        raise CasipInputError(Problem("scheduler", "not a scheduler address", address, expected))
    return host, port


class DaskExecutor(Executor):
    """A Dask :class:`distributed.Client` on a scheduler, or on a local cluster it starts.

    ``workers`` is the number of task slots (worker threads over all workers). With a
    ``scheduler``, giving ``workers`` waits (up to the connect timeout) for that many workers
    (otherwise for one); the scheduler's workers that join later are used too. TLS
    (``tls://``) is not supported.
    """

    name = "dask"

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        *,
        timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        os.environ.update(_TELEMETRY)  # inherited by the local cluster's processes
        from distributed import Client, LocalCluster

        self.scheduler = scheduler
        self._cluster = None
        self.client = None
        if scheduler is None:
            with warnings.catch_warnings():
                # without a dashboard the scheduler still serves /health on 127.0.0.1, on port
                # 8787 or, if that is taken, any free port: nothing to warn the user about
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                self._cluster = LocalCluster(
                    n_workers=workers or 2,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    env=dict(_TELEMETRY),
                )
            try:
                self.client = Client(self._cluster, set_as_default=False)
            except BaseException:
                self._cluster.close()
                raise
        else:
            self.client = self._connect(scheduler, workers, timeout, Client)
        self.workers = self._slots()
        self.address = self.client.scheduler.address

    @staticmethod
    def _connect(address: str, workers: int | None, timeout: float, client_cls):
        host, port = _check_address(address)
        expected = (
            f"a running Dask scheduler at {address} (start one with `dask scheduler --host "
            f"{host} --port {port}` and workers with `dask worker {address}`)"
        )
        # a plain TCP connect first: a refused port fails here in milliseconds, not at timeout
        try:
            with socket.create_connection((host, port), timeout=min(timeout, 5.0)):
                pass
        except OSError as exc:
            raise CasipInputError(
                Problem(
                    "scheduler", f"cannot connect to the Dask scheduler ({exc})", address, expected
                )
            ) from None
        # then the Dask handshake, in a throw-away event loop: anything that is not a scheduler
        # (a proxy answering every port, a worker's address) fails here, before a Client exists
        try:
            who = _probe(address, timeout)
            kind = who.get("type") if isinstance(who, dict) else None
        except Exception as exc:
            raise CasipInputError(
                Problem(
                    "scheduler",
                    "the server at this address did not answer as a Dask scheduler "
                    f"({type(exc).__name__}: {str(exc)[:200]})",
                    address,
                    expected,
                )
            ) from None
        if kind != "Scheduler":
            raise CasipInputError(
                Problem(
                    "scheduler",
                    f"this address is a Dask {kind or 'server'}, not a scheduler",
                    address,
                    expected,
                )
            )
        try:
            client = client_cls(address, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise CasipInputError(
                Problem(
                    "scheduler", f"cannot connect to the Dask scheduler ({exc})", address, expected
                )
            ) from None
        except Exception as exc:  # something answered, but not a Dask scheduler (a proxy, ...)
            raise CasipInputError(
                Problem(
                    "scheduler",
                    "the server at this address did not answer as a Dask scheduler "
                    f"({type(exc).__name__}: {str(exc)[:200]})",
                    address,
                    expected,
                )
            ) from None
        try:
            client.register_plugin(_worker_plugin(), name="casip-env")
            n = workers or 1
            try:
                client.wait_for_workers(n, timeout=timeout)
            except TimeoutError:
                have = len(client.scheduler_info(n_workers=-1)["workers"])
                raise CasipInputError(
                    Problem(
                        "scheduler",
                        f"the scheduler has {have} worker(s) after {timeout:g} s",
                        address,
                        f"at least {n} (start them with `dask worker {address}`)",
                    )
                ) from None
            client.run(_set_worker_env)
        except BaseException:
            client.close()
            raise
        return client

    def _slots(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))

    def map_unordered(self, fn, items, *, chunksize=1):
        from distributed import as_completed

        chunks = _chunks(items, _check_chunksize(chunksize))
        client = self.client
        if client is None:
            raise RuntimeError("this executor is closed")
        limit = max(self.workers, self._slots()) * IN_FLIGHT_PER_WORKER
        pending: dict = {}  # future key -> chunk
        futures: dict = {}  # future key -> future
        ac = as_completed(loop=client.loop, with_results=True, raise_errors=False)

        def submit(chunk) -> None:
            fut = client.submit(_run_chunk, fn, chunk, pure=False)
            pending[fut.key] = chunk
            futures[fut.key] = fut
            ac.add(fut)

        try:
            for chunk in itertools.islice(chunks, limit):
                submit(chunk)
            while pending:
                fut, res = next(ac)
                chunk = pending.pop(fut.key)
                futures.pop(fut.key)
                if fut.status == "finished":
                    results = res
                else:  # the task failed outside fn: worker died, result not picklable, ...
                    if isinstance(res, tuple) and len(res) == 3:  # (type, exception, traceback)
                        res = res[1]
                    err = res if isinstance(res, Exception) else RuntimeError(str(res))
                    err = _portable(err)
                    results = [(i, err) for i, _ in chunk]
                fut.release()
                if (nxt := next(chunks, None)) is not None:
                    submit(nxt)
                yield from results
        finally:
            if futures:
                with contextlib.suppress(Exception):
                    client.cancel(list(futures.values()))
            ac.clear()

    def close(self) -> None:
        # a local cluster's scheduler lives in this process: its shutdown chatter (INFO logs
        # of the client and workers leaving) is not for the user
        log = logging.getLogger("distributed")
        level = log.level
        if self._cluster is not None:
            log.setLevel(max(level, logging.WARNING))
        try:
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close()
                self.client = None
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close()
                self._cluster = None
        finally:
            log.setLevel(level)


def get_executor(
    kind: str = "inprocess", *, workers: int | None = None, scheduler: str | None = None
) -> Executor:
    """The executor ``kind`` ("inprocess", "processes" or "dask"), ready to use.

    Parameters
    ----------
    kind : str
        ``"inprocess"`` (a loop here), ``"processes"`` (local worker processes) or ``"dask"``.
    workers : int, optional
        Worker processes (``"processes"``: default the CPU count; ``"dask"`` local cluster:
        default 2; ``"dask"`` with a scheduler: wait for at least this many workers).
        Ignored by ``"inprocess"`` (always 1).
    scheduler : str, optional
        Only for ``"dask"``: ``tcp://host:port`` of a running scheduler. Without it a local
        cluster is started on 127.0.0.1 and shut down by ``close()``.

    Raises
    ------
    CasipInputError
        An unknown kind, ``workers`` < 1, a scheduler given to a kind other than ``"dask"``, a
        malformed address, or a scheduler that cannot be reached (or has no worker) within
        :data:`CONNECT_TIMEOUT_S` seconds, before any work starts.
    """
    if kind not in KINDS:
        raise CasipInputError(
            Problem("executor", "unknown executor kind", kind, "one of " + ", ".join(KINDS))
        )
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        raise CasipInputError(
            Problem("workers", "must be a whole number of workers", workers, "an integer >= 1")
        )
    if scheduler is not None and kind != "dask":
        raise CasipInputError(
            Problem(
                "scheduler",
                f"a scheduler address only applies to the dask executor, not {kind!r}",
                scheduler,
                "--executor dask, or no scheduler",
            )
        )
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    return DaskExecutor(workers, scheduler)
