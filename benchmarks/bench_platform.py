"""Load benchmark of the consortium platform on 127.0.0.1.

Builds a database of 10,000 designs (variations of the reference cells, each evaluated by the
design engine) and 1,000 test datasets (real cycler files from the shared data, ingested once
and registered 1,000 times under the demo organisations), starts ``casip serve`` in its own
process, and sends a bounded load from 32 concurrent clients (asyncio + httpx, one process)
to:

* ``GET /`` — the dashboard page (cookie session),
* ``GET /api/benchmark`` — the anonymised consortium benchmark (API token),
* ``GET /api/designs/compare?ids=...`` — a comparison of 4 designs (API token),
* ``GET /static/app.css`` — a static file served by the same server: the baseline.

The server's log is kept in ``$TMPDIR/casip-bench-server.log``. The load generator is ``wrk``
(Debian package ``wrk``: C, one thread, 32 connections, so the
client takes little of the machine's 2 cores from the server) for a fixed time per endpoint
(``--seconds``), with a Lua script that reports the percentiles; without ``wrk`` on the PATH a
Python client (asyncio + httpx, much heavier on the CPU, so latencies read higher) stands in
and the output says so.

For each it prints throughput and latency percentiles, and the ratio of each endpoint's p95 to
the static file's p95 measured in the same run. Goal: p95 under 100 ms.

Every request goes to 127.0.0.1 only; each endpoint gets a fixed number of requests and a time
limit, whichever ends first.

Usage::

    .venv/bin/python benchmarks/bench_platform.py --designs 10000 --tests 1000 --requests 2000

``--database postgresql+psycopg://...`` runs it on PostgreSQL (an empty database).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import httpx

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 32
SHARED_FILES = (  # small real cycler files of different formats (../shared/data/cycler)
    "FastCharge_000025_CH8.csv",
    "arbin_example.csv",
    "cell-discharge-bitrode-1c.csv",
)


def shared_cycler() -> Path:
    env = os.environ.get("CASIP_SHARED_DATA")
    path = (Path(env) if env else REPO.parent / "shared" / "data") / "cycler"
    if not path.is_dir():
        sys.exit(f"bench_platform: shared cycler data not found at {path}; set CASIP_SHARED_DATA")
    return path


def populate(settings, n_designs: int, n_tests: int, seed: int = 7) -> None:
    """Seed the demo consortium, then add ``n_designs`` designs and ``n_tests`` datasets."""
    import sqlalchemy as sa

    from casip.cells import reference_designs
    from casip.data.store import Store
    from casip.design.api import with_updates
    from casip.errors import CasipInputError
    from casip.platform import designs as svc
    from casip.platform.app import prepare
    from casip.platform.models import Design, Organisation, TestDataset, User

    db = prepare(settings)
    rng = random.Random(seed)
    with db.session() as s:
        orgs = (
            s.execute(
                sa.select(Organisation.id).where(Organisation.kind.in_(("member", "institute")))
            )
            .scalars()
            .all()
        )
        users = {
            o: s.execute(sa.select(User.id).where(User.org_id == o)).scalars().first() for o in orgs
        }
    refs = list(reference_designs().values())
    t0 = time.perf_counter()
    made = 0
    batch: list[Design] = []
    while made < n_designs:
        base = rng.choice(refs)
        updates = {}
        if base.cathode.areal_capacity_mAh_cm2 is not None:
            updates["cathode.areal_capacity_mAh_cm2"] = round(
                base.cathode.areal_capacity_mAh_cm2 * rng.uniform(0.8, 1.05), 3
            )
        updates["separator.thickness_um"] = round(
            base.separator.thickness_um * rng.uniform(0.7, 1.2), 2
        )
        try:
            d = with_updates(base, updates)
            doc, metrics = svc.evaluate_document(
                d.model_dump(mode="json", by_alias=True, exclude_none=True)
            )
        except CasipInputError:
            continue
        org = rng.choice(orgs)
        when = dt.datetime(2025, 1, 1) + dt.timedelta(days=rng.uniform(0, 690))
        row = Design(
            owner_org_id=org,
            created_by_id=users[org],
            visibility=rng.choice(("private", "consortium", "consortium", "public")),
            benchmark_opt_in=rng.random() < 0.3,
            created_at=when,
            updated_at=when,
        )
        svc.apply_metrics(row, doc, metrics)
        row.name = f"{doc['name'][:150]} #{made}"
        batch.append(row)
        made += 1
        if len(batch) == 1000:
            with db.session() as s:
                s.add_all(batch)
            batch = []
    if batch:
        with db.session() as s:
            s.add_all(batch)
    print(f"  {n_designs} designs evaluated and stored in {time.perf_counter() - t0:.1f} s")

    store = Store(settings.store_dir)
    ingested = []
    for name in SHARED_FILES:
        res = store.add_file(shared_cycler() / name)
        info = store.info(res.test_id)
        cycles = len(store.table(res.test_id, "cycles"))
        ingested.append((name, res.test_id, info, cycles))
    with db.session() as s:
        for i in range(n_tests):
            name, tid, info, cycles = ingested[i % len(ingested)]
            org = rng.choice(orgs)
            src = info.get("provenance", {})
            s.add(
                TestDataset(
                    owner_org_id=org,
                    created_by_id=users[org],
                    visibility=rng.choice(("private", "consortium")),
                    name=f"{name} run {i}",
                    store_test_id=tid,
                    filename=name,
                    format=str(info.get("format") or src.get("reader") or "unknown"),
                    sha256=str(src.get("sha256", "")),
                    size_bytes=int(src.get("size_bytes") or src.get("size") or 0),
                    rows=int(info.get("rows", 0)),
                    cycles=cycles,
                    cycle_life=None,
                    details={"benchmark": "registered copy of a real shared file"},
                )
            )
    db.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


async def load(base: str, path: str, headers: dict, cookies: dict, n: int, seconds: float):
    """``n`` GETs of ``path`` from CLIENTS concurrent clients; latencies [s] and wall time."""
    lat: list[float] = []
    errors = 0
    remaining = n
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, cookies=cookies, limits=limits, timeout=30
    ) as c:

        async def worker():
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                t = time.perf_counter()
                r = await c.get(path)
                lat.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        wall = time.perf_counter() - t0
    return lat, wall, errors


WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("CASIP_RESULT %d %d %d %f %f %f\\n", summary.requests,
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


def run_wrk(url: str, headers: dict, cookies: dict, n: int, seconds: float, script: Path) -> dict:
    """Requests for ``seconds`` from wrk with CLIENTS connections on one thread (``n`` is
    unused: wrk is bounded by time)."""
    cmd = ["wrk", "-t1", f"-c{CLIENTS}", f"-d{max(1, int(seconds))}s", "-s", str(script)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if cookies:
        cmd += ["-H", "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())]
    out = subprocess.run(
        [*cmd, url],
        capture_output=True,
        text=True,
        env={**os.environ, "CASIP_BENCH_LIMIT": str(n)},
        check=True,
    ).stdout
    line = next((x for x in out.splitlines() if x.startswith("CASIP_RESULT")), None)
    if line is None or line.split()[1] == "0":
        sys.exit(f"bench_platform: no answer from {url}:\n{out}")
    req, errors, dur_us, p50, p95, p99 = line.split()[1:]
    return {
        "requests": int(req),
        "errors": int(errors),
        "wall_s": int(dur_us) / 1e6,
        "p50_ms": float(p50) / 1e3,
        "p95_ms": float(p95) / 1e3,
        "p99_ms": float(p99) / 1e3,
    }


def run_python(base: str, path: str, headers: dict, cookies: dict, n: int, seconds: float) -> dict:
    lat, wall, errors = asyncio.run(load(base, path, headers, cookies, n, seconds))
    return {
        "requests": len(lat),
        "errors": errors,
        "wall_s": wall,
        "p50_ms": pct(lat, 0.5) * 1e3,
        "p95_ms": pct(lat, 0.95) * 1e3,
        "p99_ms": pct(lat, 0.99) * 1e3,
    }


def launch(cmd: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    """Start ``cmd`` with its output in ``log_path``; the log file is closed by :func:`stop`."""
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` s; closes the log of :func:`launch`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log = getattr(proc, "log", None)
    if log is not None:
        log.close()


def wait_healthy(base: str, proc: subprocess.Popen | None = None, tries: int = 300) -> None:
    """Poll ``GET /api/health`` (0.2 s apart) until it answers 200; exit if it never does."""
    for _ in range(tries):
        try:
            if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc is not None and proc.poll() is not None:
            break
    sys.exit("bench_platform: the server did not start")


def login_targets(base: str) -> tuple[list[tuple[str, str, dict, dict]], dict, list[int]]:
    """Log in as the demo engineer of kestrel, create an API token, and name the four loaded
    endpoints: ``(targets, bearer headers, readable design ids)``; targets are ``(label, path,
    headers, cookies)``, the static file first."""
    from casip.platform.seed import DEMO_PASSWORD, demo_email

    c = httpx.Client(base_url=base)
    r = c.post(
        "/api/login",
        json={"email": demo_email("kestrel", "engineer"), "password": DEMO_PASSWORD},
    )
    r.raise_for_status()
    csrf = r.json()["csrf_token"]
    r = c.post("/api/tokens", json={"name": "bench"}, headers={"X-CSRF-Token": csrf})
    if r.status_code != 201:
        sys.exit(f"bench_platform: token not created: {r.status_code} {r.text}")
    tok = r.json()["token"]
    bearer = {"Authorization": f"Bearer {tok}"}
    all_ids = [d["id"] for d in c.get("/api/designs?limit=200", headers=bearer).json()["items"]]
    ids = ",".join(str(i) for i in random.Random(1).sample(all_ids, 4))
    cookies = dict(c.cookies)
    targets = [
        ("static file (baseline)", "/static/app.css", {}, {}),
        ("dashboard page", "/", {}, cookies),
        ("benchmark API", "/api/benchmark", bearer, {}),
        ("design compare API", f"/api/designs/compare?ids={ids}", bearer, {}),
    ]
    return targets, bearer, all_ids


def measure(
    base: str, targets: list[tuple[str, str, dict, dict]], requests: int, seconds: float, tmp: Path
) -> list[tuple[str, dict]]:
    """Load each target in turn (a short warm-up, then ``seconds`` of load) with wrk, or the
    Python client without it; ``[(label, result)]`` in the order of ``targets``."""
    wrk = shutil.which("wrk")
    script = Path(tmp) / "count.lua"
    script.write_text(WRK_SCRIPT)
    results = []
    for label, path, h, ck in targets:
        if wrk:
            run_wrk(base + path, h, ck, 0, 3, script)  # warm-up
            res = run_wrk(base + path, h, ck, requests, seconds, script)
        else:
            run_python(base, path, h, ck, 100, 10)
            res = run_python(base, path, h, ck, requests, seconds)
        results.append((label, res))
    return results


def generator() -> str:
    """Name of the load generator :func:`measure` uses."""
    return "wrk (1 thread)" if shutil.which("wrk") else "Python asyncio+httpx (wrk not found)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--designs", type=int, default=10_000)
    ap.add_argument("--tests", type=int, default=1_000)
    ap.add_argument(
        "--requests", type=int, default=2_000, help="requests per endpoint (Python client only)"
    )
    ap.add_argument("--seconds", type=float, default=15.0, help="load time per endpoint")
    ap.add_argument(
        "--database", default="", help="SQLAlchemy URL (default: SQLite in a temp folder)"
    )
    args = ap.parse_args()

    from casip.platform.settings import Settings

    with tempfile.TemporaryDirectory(prefix="casip-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", database_url=args.database)
        print(f"building the database ({settings.database_url.split('://')[0]}) ...")
        populate(settings, args.designs, args.tests)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CASIP_LOG_LEVEL": "warning", "CASIP_SQLITE_WRITE_WAIT_S": "5"}
        cmd = [
            sys.executable,
            "-m",
            "casip",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(settings.data_dir),
        ]
        if args.database:
            cmd += ["--database", args.database]
        proc = launch(cmd, env, Path(tempfile.gettempdir()) / "casip-bench-server.log")
        try:
            wait_healthy(base)
            targets, _, _ = login_targets(base)
            results = measure(base, targets, args.requests, args.seconds, Path(tmp))
        finally:
            stop(proc)

    gen = generator()
    static_p95 = results[0][1]["p95_ms"]
    print(f"\n{CLIENTS} concurrent clients ({gen}), {args.designs} designs, {args.tests} tests")
    print(
        f"{'endpoint':<24}{'requests':>9}{'non-200':>8}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'p95/static':>11}"
    )
    for label, r in results:
        print(
            f"{label:<24}{r['requests']:>9}{r['errors']:>8}{r['requests'] / r['wall_s']:>8.0f}"
            f"{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}{r['p99_ms']:>8.1f}"
            f"{r['p95_ms'] / static_p95:>10.1f}x"
        )
    worst = max(r["p95_ms"] for _, r in results[1:])
    verdict = "met" if worst < 100 else "NOT met"
    print(f"\nworst p95 of the three endpoints: {worst:.1f} ms (goal under 100 ms: {verdict})")


if __name__ == "__main__":
    main()
