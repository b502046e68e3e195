"""Load benchmark of several API processes and job workers, while PyBaMM jobs run (issue 17).

Two configurations of the consortium platform on PostgreSQL, each on a fresh database of the
same size as :mod:`bench_platform` (10,000 designs, 1,000 test datasets), loaded the same way
(32 clients, ``wrk``, on the dashboard, benchmark and compare endpoints and a static file):

``before``
    the platform as it was before issue 17 (git commit ``fb903ce``, extracted with
    ``git archive`` into ``--before-dir``): one ``casip serve`` process answering requests and
    running the jobs on its in-process thread pool (2 job threads, so that two jobs run).
``after``
    the current tree: ``casip serve --workers 2 --embedded-workers 0`` (two uvicorn API
    processes, no job in them) and two ``casip worker`` processes (one job slot each), at the
    workers' default priority (``CASIP_WORKER_NICE`` unset: nice 10); measured again with
    ``CASIP_WORKER_NICE=--worker-nice`` (default 0: the workers at the API's priority).

In each, fast-charge jobs (PyBaMM DFN, ``POST /api/designs/{id}/simulations``) are submitted
through the API and re-submitted so that two always run and two more wait: a fast charge of a
reference cell takes one to a few seconds, too short to last a load run, so a keeper thread
tops the queue up every 0.25 s. The load starts once two jobs are running; the keeper
records how many ran during it. Each database is built by the code of its configuration
(the ``before`` code does not know the later migrations) and dropped at the end.

Printed: requests, non-200 answers, throughput, p50/p95/p99 per endpoint and configuration,
each endpoint's p95 divided by the static file's p95 of the same configuration (goal of
issue 17: within 2x with 2 API processes and 2 workers while two PyBaMM jobs run), the jobs
running during the load, the CPU used by the platform's processes, and the load average.

Usage (PostgreSQL from ``CASIP_TEST_POSTGRES_URL``; ``bash .ci/services.sh`` starts one)::

    git archive fb903ce | (mkdir -p /tmp/casip-before && tar -x -C /tmp/casip-before)
    CASIP_TEST_POSTGRES_URL=postgresql+psycopg://casip:casip@127.0.0.1:5432/casip_test \\
        .venv/bin/python benchmarks/bench_platform_scale.py --seconds 15

Every request goes to 127.0.0.1; each endpoint is loaded for ``--seconds`` (plus a 3 s
warm-up), and the number of jobs is bounded by the load time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import httpx
import psutil
import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_platform import (  # the sibling benchmark, importable from here
    CLIENTS,
    free_port,
    generator,
    launch,
    login_targets,
    measure,
    populate,
    stop,
    wait_healthy,
)

REPO = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "fb903ce"
GOAL_RATIO = 2.0  # issue 17: p95 within 2x of the static file's


# ----------------------------------------------------------------------------------- databases


class fresh_database:
    """A new empty PostgreSQL database on the server of ``server_url``, dropped on exit (as
    tests/consortium/conftest.py's ``make_database_url`` does for the tests)."""

    def __init__(self, server_url: str):
        self.server = make_url(server_url)
        self.name = f"casip_bench_{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> str:
        self._admin = sa.create_engine(self.server, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        return self.server.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc) -> None:
        with self._admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


# ----------------------------------------------------------------------------------- the jobs


@dataclass
class JobKeeper:
    """Keeps ``slots`` fast-charge jobs running and ``backlog`` queued, through the API.

    Counts are read from the ``jobs`` table directly (not through the API, so that polling
    adds no request to the measured load); submissions go through
    ``POST /api/designs/{id}/simulations``. The designs are the platform's reference cells
    (readable by every member); one whose job fails is not used again."""

    base: str
    bearer: dict
    database_url: str
    design_ids: list[int]
    c_rate: float = 3.0
    backlog: int = 2
    period_s: float = 0.25
    samples: list[tuple[float, int]] = field(default_factory=list)
    submitted: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._engine = sa.create_engine(self.database_url, pool_size=1)
        self._client = httpx.Client(base_url=self.base, headers=self.bearer, timeout=60)
        self._thread = threading.Thread(target=self._run, name="job-keeper", daemon=True)
        self._next = 0

    def counts(self) -> dict[str, int]:
        with self._engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT status, count(*) FROM jobs WHERE kind = 'fast_charge' GROUP BY 1")
            ).all()
        return {str(s): int(n) for s, n in rows}

    def _failed_designs(self) -> set[int]:
        with self._engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT params FROM jobs WHERE kind = 'fast_charge' AND status = 'failed'")
            ).scalars()
            return {int(p["design_id"]) for p in rows if isinstance(p, dict)}

    def _submit(self) -> None:
        bad = self._failed_designs()
        ok = [d for d in self.design_ids if d not in bad]
        if not ok:
            self.errors.append("every reference design's fast charge failed")
            self._stop.set()
            return
        design = ok[self._next % len(ok)]
        self._next += 1
        body = {"kind": "fast_charge", "c_rate": self.c_rate}
        r = self._client.post(f"/api/designs/{design}/simulations", json=body)
        if r.status_code != 202:
            self.errors.append(f"submit to design {design}: {r.status_code} {r.text[:200]}")
        else:
            self.submitted += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            n = self.counts()
            self.samples.append((time.perf_counter(), n.get("running", 0)))
            for _ in range(max(0, self.backlog - n.get("queued", 0))):
                self._submit()
            self._stop.wait(self.period_s)

    def start(self) -> None:
        self._thread.start()

    def wait_running(self, n: int, timeout: float = 300) -> None:
        """Block until ``n`` jobs run at once (the first jobs import PyBaMM and build)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.errors:
                sys.exit(f"bench_platform_scale: {self.errors[0]}")
            if self.counts().get("running", 0) >= n:
                return
            time.sleep(0.25)
        sys.exit(f"bench_platform_scale: {n} jobs never ran at once; counts {self.counts()}")

    def running_between(self, t0: float, t1: float) -> tuple[float, float]:
        """Mean running jobs and the share of samples with at least 2 running in [t0, t1]."""
        window = [n for t, n in self.samples if t0 <= t <= t1]
        if not window:
            return 0.0, 0.0
        return sum(window) / len(window), sum(n >= 2 for n in window) / len(window)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._client.close()
        self._engine.dispose()


def reference_design_ids(database_url: str) -> list[int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as c:
            return list(
                c.execute(
                    sa.text("SELECT id FROM designs WHERE reference_id IS NOT NULL ORDER BY id")
                ).scalars()
            )
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------------- CPU


def tree_cpu_s(procs: list[subprocess.Popen]) -> float:
    """CPU seconds (user + system) of ``procs`` and their descendants, children already
    waited for included (psutil's ``children_user``/``children_system``)."""
    total = 0.0
    for p in procs:
        try:
            root = psutil.Process(p.pid)
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for m in members:
            try:
                t = m.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


# ----------------------------------------------------------------------------------- one run


@dataclass
class Outcome:
    name: str
    description: str
    revision: str
    results: list[tuple[str, dict]]
    load_s: float
    jobs_mean: float
    jobs_two_share: float
    jobs_done: int
    jobs_failed: int
    cpu_api_s: float
    cpu_workers_s: float | None
    cpu_machine_s: float
    loadavg: tuple[float, float]


def build(src: Path, database_url: str, data_dir: Path, designs: int, tests: int) -> None:
    """Migrate, seed and fill the database with the code in ``src`` (its own process)."""
    cmd = [
        sys.executable,
        __file__,
        "--populate-only",
        "--database",
        database_url,
        "--data-dir",
        str(data_dir),
        "--designs",
        str(designs),
        "--tests",
        str(tests),
    ]
    env = {**os.environ, "PYTHONPATH": str(src), "CASIP_DEMO_JOBS": "0"}
    subprocess.run(cmd, env=env, check=True)
    # a platform's database is in a steady state, not freshly bulk-loaded: without this,
    # PostgreSQL's autovacuum and analyze of the 10,000 new rows ran during the first
    # configuration's load and showed up as its p95 (the first variant measured on a fresh
    # database was the noisy one in every run)
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(sa.text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def run_configuration(name: str, src: Path, server_url: str, args, tmp: Path) -> list[Outcome]:
    """Build a database with the code in ``src`` and measure the configuration ``name`` on it
    (``after`` with the workers' default priority, ``CASIP_WORKER_NICE`` unset, i.e. nice 10,
    and again with ``CASIP_WORKER_NICE=--worker-nice`` unless it is negative); drop the
    database at the end."""
    print(f"\n=== configuration {name!r} (code: {src}) ===", flush=True)
    with fresh_database(server_url) as url:
        data_dir = tmp / name / "data"
        t0 = time.perf_counter()
        build(src, url, data_dir, args.designs, args.tests)
        print(f"  database built in {time.perf_counter() - t0:.0f} s", flush=True)
        if name == "before":
            return [run_variant("before", None, src, url, data_dir, args, tmp)]
        out = [run_variant("after", None, src, url, data_dir, args, tmp)]
        if args.worker_nice >= 0:
            label = f"after, CASIP_WORKER_NICE={args.worker_nice}"
            out.append(run_variant(label, args.worker_nice, src, url, data_dir, args, tmp))
        return out


def run_variant(
    label: str, nice: int | None, src: Path, url: str, data_dir: Path, args, tmp: Path
) -> Outcome:
    """Start the servers (and workers) of ``label`` on ``url``, keep two jobs running, load
    the four endpoints, stop every process started here."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(src), "CASIP_LOG_LEVEL": "warning"}
    env["CASIP_DEMO_JOBS"] = "0"  # only the benchmark's jobs run
    common = ["--data-dir", str(data_dir), "--database", url]
    serve = [sys.executable, "-m", "casip", "serve", "--port", str(port), *common]
    logs = Path(tempfile.gettempdir())
    tag = label.split(",")[0]
    before = label == "before"
    if before:
        # the old server's --workers is its number of job threads
        api = [launch([*serve, "--workers", "2"], env, logs / "casip-scale-before.log")]
        description = "1 API process, jobs on 2 threads of the same process"
    else:
        api = [
            launch(
                [*serve, "--workers", "2", "--embedded-workers", "0"],
                env,
                logs / f"casip-scale-{tag}.log",
            )
        ]
        description = "2 API processes, 2 'casip worker' processes (1 job slot each)"
        if nice is not None:
            description += f" with CASIP_WORKER_NICE={nice}"
        else:
            description += " at their default priority (CASIP_WORKER_NICE unset: nice 10)"
    workers: list[subprocess.Popen] = []
    keeper = None
    print(f"  {label}: {description}", flush=True)
    try:
        wait_healthy(base, api[0])
        revision = str(httpx.get(base + "/api/health").json().get("revision"))
        wenv = {**env, "CASIP_WORKER_NICE": str(nice)} if nice is not None else env
        for i in range(0 if before else 2):
            cmd = [sys.executable, "-m", "casip", "worker", "--slots", "1", *common]
            workers.append(launch(cmd, wenv, logs / f"casip-scale-worker{i}.log"))
        targets, bearer, _ = login_targets(base)
        ids = reference_design_ids(url)
        keeper = JobKeeper(base, bearer, url, ids, c_rate=args.c_rate, backlog=2)
        keeper.start()
        keeper.wait_running(2)
        print("  two fast-charge jobs running; loading the endpoints ...", flush=True)
        counts0 = keeper.counts()
        cpu_api0, cpu_w0 = tree_cpu_s(api), tree_cpu_s(workers)
        cpu_m0 = sum(psutil.cpu_times()[:3])  # user, nice, system of every core
        t_load0 = time.perf_counter()
        results = measure(base, targets, args.requests, args.seconds, tmp)
        t_load1 = time.perf_counter()
        cpu_api, cpu_w = tree_cpu_s(api) - cpu_api0, tree_cpu_s(workers) - cpu_w0
        cpu_m = sum(psutil.cpu_times()[:3]) - cpu_m0
        counts1 = keeper.counts()
        mean, two = keeper.running_between(t_load0, t_load1)
        if keeper.errors:
            print(f"  job keeper: {keeper.errors[:3]}", flush=True)
        la = os.getloadavg()
        return Outcome(
            name=label,
            description=description,
            revision=revision,
            results=results,
            load_s=t_load1 - t_load0,
            jobs_mean=mean,
            jobs_two_share=two,
            jobs_done=counts1.get("done", 0) - counts0.get("done", 0),
            jobs_failed=counts1.get("failed", 0) - counts0.get("failed", 0),
            cpu_api_s=cpu_api,
            cpu_workers_s=None if before else cpu_w,
            cpu_machine_s=cpu_m,
            loadavg=(la[0], la[1]),
        )
    finally:
        if keeper is not None:
            keeper.close()
        for p in [*workers, *api]:
            stop(p, timeout=30)


# ----------------------------------------------------------------------------------- report


def report(outcomes: list[Outcome], args) -> None:
    print(
        f"\n{CLIENTS} concurrent clients ({generator()}), {args.seconds:g} s per endpoint, "
        f"{args.designs} designs, {args.tests} tests, PostgreSQL, "
        f"{os.cpu_count()} cores; {args.c_rate:g}C fast-charge jobs kept running"
    )
    for o in outcomes:
        print(f"  {o.name}: {o.description} (schema {o.revision})")
    cols = "".join(
        f"{'req/s':>8}{'p50':>7}{'p95':>7}{'p99':>7}{'p95/st':>8} |" for _ in outcomes
    )
    print(f"\n{'':<24}|" + "".join(f"{o.name[:37]:^38}|" for o in outcomes))
    print(f"{'endpoint (ms)':<24}|{cols}")
    labels = [label for label, _ in outcomes[0].results]
    for i, label in enumerate(labels):
        row = f"{label:<24}|"
        for o in outcomes:
            r = o.results[i][1]
            static = o.results[0][1]["p95_ms"]
            bad = f" ({r['errors']} non-200)" if r["errors"] else ""
            row += (
                f"{r['requests'] / r['wall_s']:>8.0f}{r['p50_ms']:>7.1f}{r['p95_ms']:>7.1f}"
                f"{r['p99_ms']:>7.1f}{r['p95_ms'] / static:>7.1f}x |{bad}"
            )
        print(row)
    base = next((o for o in outcomes if o.name == "before"), None)
    if base is not None and len(outcomes) > 1:
        print(f"\n{'p95 against before':<24}|" + "".join(f"{o.name[:22]:>24}|" for o in outcomes))
        for i, label in enumerate(labels):
            ref = base.results[i][1]["p95_ms"]
            print(
                f"{label:<24}|"
                + "".join(f"{o.results[i][1]['p95_ms'] / ref:>23.2f}x|" for o in outcomes)
            )
    print()
    for o in outcomes:
        cpu = f"API processes {o.cpu_api_s:.0f} s"
        if o.cpu_workers_s is not None:
            cpu += f", workers and their jobs {o.cpu_workers_s:.0f} s"
        else:
            cpu += " (requests and jobs in the one process)"
        print(
            f"{o.name}: during the {o.load_s:.0f} s of load, jobs running {o.jobs_mean:.2f} on "
            f"average (2 or more in {100 * o.jobs_two_share:.0f} % of samples), "
            f"{o.jobs_done} done, {o.jobs_failed} failed; CPU: {cpu}, whole machine "
            f"{o.cpu_machine_s:.0f} s of {o.load_s * (os.cpu_count() or 1):.0f} core-s; "
            f"load average at the end {o.loadavg[0]:.2f} (1 min), {o.loadavg[1]:.2f} (5 min)"
        )
    for o in outcomes:
        worst_label, worst = max(
            ((label, r["p95_ms"] / o.results[0][1]["p95_ms"]) for label, r in o.results[1:]),
            key=lambda x: x[1],
        )
        verdict = "met" if worst <= GOAL_RATIO else "NOT met"
        print(
            f"{o.name}: worst p95/static {worst:.1f}x ({worst_label}); goal within "
            f"{GOAL_RATIO:g}x: {verdict}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--designs", type=int, default=10_000)
    ap.add_argument("--tests", type=int, default=1_000)
    ap.add_argument(
        "--requests", type=int, default=2_000, help="requests per endpoint (Python client only)"
    )
    ap.add_argument("--seconds", type=float, default=15.0, help="load time per endpoint")
    ap.add_argument("--c-rate", type=float, default=3.0, help="C-rate of the fast-charge jobs")
    ap.add_argument(
        "--before-dir",
        type=Path,
        default=Path("/tmp/casip-before"),
        help=f"the tree of commit {BEFORE_COMMIT} (git archive {BEFORE_COMMIT} | tar -x -C DIR)",
    )
    ap.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="also measure 'after' with CASIP_WORKER_NICE=N (default 0: the workers at the API's "
        "priority, as before the default of 10; negative: skip that variant)",
    )
    ap.add_argument(
        "--only", choices=("before", "after"), default=None, help="run one configuration"
    )
    ap.add_argument("--populate-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--database", default="", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.populate_only:  # the child of build(): the code on PYTHONPATH fills the database
        from casip.platform.settings import Settings

        populate(Settings(data_dir=args.data_dir, database_url=args.database), args.designs,
                 args.tests)
        return

    server = os.environ.get("CASIP_TEST_POSTGRES_URL")
    if not server:
        sys.exit("bench_platform_scale: set CASIP_TEST_POSTGRES_URL (bash .ci/services.sh)")
    if make_url(server).host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("bench_platform_scale: the PostgreSQL server must be on 127.0.0.1")
    before_src = args.before_dir / "src"
    names = [args.only] if args.only else ["before", "after"]
    if "before" in names and not (before_src / "casip" / "platform" / "app.py").is_file():
        sys.exit(
            f"bench_platform_scale: no tree of {BEFORE_COMMIT} at {args.before_dir}; run "
            f"git archive {BEFORE_COMMIT} | (mkdir -p {args.before_dir} && tar -x -C "
            f"{args.before_dir})"
        )
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="casip-scale-") as tmp:
        for name in names:
            src = before_src if name == "before" else REPO / "src"
            outcomes += run_configuration(name, src.resolve(), server, args, Path(tmp))
    report(outcomes, args)


if __name__ == "__main__":
    main()
