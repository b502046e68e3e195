"""Micro-benchmark: what journaling an audited read costs the request that makes it.

A design comparison of 4 other organisations' designs queues 4 read entries
(``casip.platform.audit.defer``). Before issue 11 they were only put on the background
writer's queue; now they are written to the read journal and ``fdatasync``'d (group commit)
before the answer leaves. This times that call from 1 and from 8 threads at once (the
server's request threads), on a real SQLite database in a temporary folder, for:

* ``queue only``: the background writer without a journal (the previous behaviour),
* ``journal``: journal + ``fdatasync`` (the default),
* ``journal, no fsync``: ``CASIP_AUDIT_JOURNAL_FSYNC=0``.

Usage::

    .venv/bin/python benchmarks/bench_audit_journal.py --calls 2000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from casip.platform import audit
from casip.platform.db import Database, upgrade


def entries() -> list[dict]:
    return [
        {
            "action": "read",
            "actor_user_id": 7,
            "actor_org_id": 2,
            "item_kind": "design",
            "item_id": 100 + i,
            "item_owner_org_id": 3,
            "detail": {"owner_org_id": 3, "visibility": "consortium"},
        }
        for i in range(4)
    ]


def run(writer: audit._DeferredWriter, threads: int, calls: int) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        mine = []
        for _ in range(calls // threads):
            t = time.perf_counter()
            writer.put(entries())
            mine.append((time.perf_counter() - t) * 1e3)
        with lock:
            times.extend(mine)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    writer.flush()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per configuration")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="casip-bench-audit-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'a.db'}")
        upgrade(db.engine)
        print(f"{'configuration':<20}{'threads':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
        for label, journal in (
            ("queue only", None),
            ("journal", lambda: audit.Journal(Path(tmp) / "j", fsync=True)),
            ("journal, no fsync", lambda: audit.Journal(Path(tmp) / "j", fsync=False)),
        ):
            for threads in (1, 8):
                j = journal() if journal else None
                w = audit._DeferredWriter(db.engine, j)
                run(w, threads, 200)  # warm-up
                t = sorted(run(w, threads, args.calls))
                q = statistics.quantiles(t, n=100)
                print(f"{label:<20}{threads:>8}{q[49]:>9.3f}{q[94]:>9.3f}{q[98]:>9.3f}")
                if j is not None:
                    j.close()
        db.dispose()


if __name__ == "__main__":
    main()
