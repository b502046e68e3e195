"""The executors of casip.explore: in process, local processes, Dask (local cluster and a real
scheduler with workers started as subprocesses on 127.0.0.1) give the same results."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from casip.cells import reference_design
from casip.design.api import with_updates
from casip.errors import CasipInputError
from casip.explore.executors import DaskExecutor, Executor, get_executor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the helpers must be importable by name, as on the workers

import _helpers  # noqa: E402

START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _designs() -> list:
    """Reference-cell variants, and one invalid design (its error comes back as a result)."""
    out = [reference_design("lfp-blade")]
    for ref in ("nmc811-pouch", "assb-sulfide-li", "oxide-anode-free"):
        base = reference_design(ref)
        out.append(base)
        for cap in (2.5, 4.0):
            out.append(with_updates(base, {"cathode.areal_capacity_mAh_cm2": cap}))
    bad = reference_design("nmc811-pouch").model_dump(mode="json", by_alias=True)
    bad["cathode"]["porosity"] = 1.5
    out.insert(3, bad)
    return out


def _key(result) -> object:
    """Results compared across executors: values as they are, exceptions by type and text."""
    if isinstance(result, BaseException):
        return (type(result).__name__, str(result))
    return result


# ------------------------------------------------------------------------------------------
# executors, started once per module


@pytest.fixture(scope="module")
def processes():
    with get_executor("processes", workers=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask_local():
    with get_executor("dask", workers=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def real_scheduler(tmp_path_factory):
    """``dask scheduler`` and ``dask worker`` (2 single-threaded workers) as subprocesses.

    The workers are started *without* PYBAMM_DISABLE_TELEMETRY: the executor sets it.
    """
    folder = tmp_path_factory.mktemp("dask")
    sched_file = folder / "scheduler.json"
    env = {k: v for k, v in os.environ.items() if k != "PYBAMM_DISABLE_TELEMETRY"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    procs = []
    log = open(folder / "dask.log", "wb")
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--scheduler-file",
                    str(sched_file),
                    "--no-dashboard",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
            )
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sched_file.exists(), "the scheduler did not start"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    "--scheduler-file",
                    str(sched_file),
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--local-directory",
                    str(folder),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
            )
        )
        address = json.loads(sched_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="30s", set_as_default=False) as c:
            c.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


@pytest.fixture(scope="module")
def dask_real(real_scheduler):
    with get_executor("dask", scheduler=real_scheduler, workers=2) as ex:
        yield ex


KINDS = [
    "inprocess",
    "processes",
    pytest.param("dask_local", marks=pytest.mark.slow),
    pytest.param("dask_real", marks=pytest.mark.slow),
]


@pytest.fixture(params=KINDS)
def executor(request) -> Executor:
    if request.param == "inprocess":
        return get_executor("inprocess")
    return request.getfixturevalue(request.param)


# ------------------------------------------------------------------------------------------
# bad input, before any work


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(CasipInputError) as e:
        get_executor("threads")
    assert "threads" in str(e.value)
    for kind in ("inprocess", "processes", "dask"):
        assert kind in str(e.value)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(workers):
    with pytest.raises(CasipInputError, match="workers"):
        get_executor("processes", workers=workers)


def test_scheduler_only_for_dask():
    with pytest.raises(CasipInputError, match="only applies to the dask executor"):
        get_executor("processes", scheduler="tcp://127.0.0.1:8786")


@pytest.mark.parametrize("address", ["127.0.0.1:8786", "http://127.0.0.1:8786", "tcp://host"])
def test_malformed_scheduler_address(address):
    with pytest.raises(CasipInputError) as e:
        get_executor("dask", scheduler=address)
    assert address in str(e.value)
    assert "tcp://host:port" in str(e.value)


def test_unreachable_scheduler_fails_fast_naming_the_address():
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(CasipInputError) as e:
        get_executor("dask", scheduler=address)
    elapsed = time.perf_counter() - t0
    msg = str(e.value)
    assert address in msg
    assert "cannot connect to the Dask scheduler" in msg
    assert "dask scheduler" in msg and "dask worker" in msg  # what was expected, and how
    assert elapsed < 5, elapsed


def test_a_server_that_is_not_dask_is_an_input_error():
    # e.g. a web server, or a proxy that accepts every connection
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    address = f"tcp://127.0.0.1:{srv.getsockname()[1]}"

    def answer():
        with contextlib.suppress(OSError):
            while True:
                conn, _ = srv.accept()
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 8)

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(CasipInputError, match="did not answer as a Dask scheduler") as e:
            get_executor("dask", scheduler=address)
    finally:
        srv.close()
    assert address in str(e.value)
    assert time.perf_counter() - t0 < 12


def test_a_silent_server_times_out():
    # accepts connections and never answers: bounded by the connect timeout
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    address = f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    t0 = time.perf_counter()
    try:
        with pytest.raises(CasipInputError, match="no answer within 1 s") as e:
            DaskExecutor(scheduler=address, timeout=1.0)
    finally:
        srv.close()
    assert address in str(e.value)
    assert time.perf_counter() - t0 < 5


@pytest.mark.slow
def test_a_worker_address_is_not_a_scheduler(dask_real):
    worker = next(iter(dask_real.client.scheduler_info()["workers"]))
    with pytest.raises(CasipInputError, match="is a Dask Worker, not a scheduler"):
        get_executor("dask", scheduler=worker)


@pytest.mark.slow
def test_scheduler_without_workers_is_an_input_error(tmp_path):
    port = _free_port()
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        address = f"tcp://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        with pytest.raises(CasipInputError, match="0 worker"):
            DaskExecutor(scheduler=address, timeout=1.0)
    finally:
        p.terminate()
        p.wait(timeout=20)


# ------------------------------------------------------------------------------------------
# same results everywhere


@pytest.fixture(scope="module")
def reference_results():
    designs = _designs()
    return designs, {
        i: _key(r) for i, r in get_executor().map_unordered(_helpers.headline, designs)
    }


def test_inprocess_reference_is_sane(reference_results):
    designs, ref = reference_results
    assert sorted(ref) == list(range(len(designs)))
    assert ref[3][0] == "CasipInputError" and "porosity" in ref[3][1]
    ok = [v for v in ref.values() if not isinstance(v[0], str)]
    assert len(ok) == len(designs) - 1
    assert all(100 < wh_kg < 600 for wh_kg, _, _ in ok)


@pytest.mark.parametrize("chunksize", [1, 3])
def test_same_results_as_inprocess(executor, reference_results, chunksize):
    designs, ref = reference_results
    got = {}
    for i, r in executor.map_unordered(_helpers.headline, designs, chunksize=chunksize):
        assert i not in got
        got[i] = _key(r)
    assert got == ref  # identical floats: the same code on the same inputs


def test_exceptions_come_back_as_results(executor):
    items = [1.0, -2.0, 3.0, -4.0, 5.0]
    got = dict(executor.map_unordered(_helpers.double_or_fail, items))
    assert sorted(got) == list(range(5))
    assert [got[i] for i in (0, 2, 4)] == [2.0, 6.0, 10.0]
    for i in (1, 3):
        assert isinstance(got[i], ValueError)
        assert str(got[i]) == f"negative input {items[i]}"
        assert any("double_or_fail" in n for n in got[i].__notes__)  # the worker's traceback


def test_unpicklable_exception_becomes_runtime_error(executor):
    got = dict(executor.map_unordered(_helpers.raise_unpicklable, [7, 8]))
    for i, item in enumerate([7, 8]):
        assert type(got[i]) is RuntimeError
        assert str(got[i]) == f"UnpicklableError: holds a lock, item {item}"


def test_lazy_items_and_empty(executor):
    assert list(executor.map_unordered(_helpers.double_or_fail, iter([]))) == []
    got = dict(executor.map_unordered(_helpers.double_or_fail, (float(x) for x in range(40))))
    assert got == {i: 2.0 * i for i in range(40)}


def test_iterated_from_another_thread(executor):
    # the study runner consumes results in a worker thread while the CLI's main thread waits
    box = {}

    def work():
        box["got"] = dict(executor.map_unordered(_helpers.double_or_fail, [1.0, -1.0, 2.0]))

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert not t.is_alive()
    got = box["got"]
    assert got[0] == 2.0 and got[2] == 4.0 and isinstance(got[1], ValueError)


def test_chunksize_must_be_positive(executor):
    with pytest.raises(CasipInputError, match="chunksize"):
        list(executor.map_unordered(_helpers.double_or_fail, [1.0], chunksize=0))


def test_workers_run_without_telemetry(executor):
    got = dict(executor.map_unordered(_helpers.telemetry_env, range(4)))
    if executor.name == "inprocess":
        return  # the calling process's environment is left alone
    assert set(got.values()) == {"true"}


def test_workers_run_in_parallel(executor):
    if executor.name == "inprocess":
        assert executor.workers == 1
        return
    assert executor.workers == 2
    pids = set(dict(executor.map_unordered(_helpers.worker_pid, range(8))).values())
    assert len(pids) == 2
    assert os.getpid() not in pids


def test_early_close_cancels_pending_tasks(executor, tmp_path):
    n, seconds = 60, 0.4
    items = [(str(tmp_path), i, seconds) for i in range(n)]
    gen = executor.map_unordered(_helpers.sleep_and_mark, items)
    first = next(gen)
    assert first[1] == first[0]
    gen.close()
    time.sleep(3 * seconds)  # let anything still queued start, if it were going to
    started = len(list(tmp_path.glob("*.started")))
    # at most the tasks in flight (a few per worker) ever started, far from all of them
    assert started <= 1 + executor.workers * 5, started
    # and the executor is still usable, not busy with the rest
    t0 = time.perf_counter()
    assert dict(executor.map_unordered(_helpers.double_or_fail, [1.0])) == {0: 2.0}
    assert time.perf_counter() - t0 < 5
    if executor.name == "dask":
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = executor.client.run_on_scheduler(_scheduler_tasks)
            if left == 0:
                break
            time.sleep(0.2)
        assert left == 0


def _scheduler_tasks(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


@pytest.mark.slow
def test_local_cluster_is_closed_by_close():
    ex = get_executor("dask", workers=1)
    try:
        assert ex.workers == 1
        assert ex.address.startswith("tcp://127.0.0.1:")
        assert dict(ex.map_unordered(_helpers.double_or_fail, [1.0, 2.0])) == {0: 2.0, 1: 4.0}
        cluster = ex._cluster
    finally:
        ex.close()
    assert ex.client is None and cluster.status.name == "closed"
    ex.close()  # idempotent


def test_a_dying_worker_process_is_reported_and_replaced(processes):
    got = dict(processes.map_unordered(_helpers.die_on_zero, range(6)))
    assert sorted(got) == list(range(6))
    assert isinstance(got[0], RuntimeError) and "died" in str(got[0])
    # tasks in flight with it may be lost too (reported the same way); the others are done
    assert all(got[i] == i or isinstance(got[i], RuntimeError) for i in range(1, 6))
    assert dict(processes.map_unordered(_helpers.double_or_fail, [1.0])) == {0: 2.0}
