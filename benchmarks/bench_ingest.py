"""Benchmark: end-to-end ingestion of real cycler files, CASIP against cellpy, same run.

Claim checked: CASIP ingests (reads, normalises, summarises and writes) real tester files at
least three times as fast as cellpy 1.0.3 doing the equivalent on the same files, and its
memory does not grow faster than the data it holds.

For each file that both can read, in a fresh process each time:

* CASIP: ``casip.data.store.Store(tmp).ingest([file])`` - read, normalise to the BDF schema,
  cycle and step summaries, three zstd Parquet tables and a JSON record;
* cellpy: ``cellpy.get(file, instrument=...)`` (read, normalise, step table and cycle
  summary) then ``CellpyCell.save(tmp/x.h5)`` (its own storage format).

Each runs in its own subprocess, so the numbers include neither's import time, and the peak
resident memory above the post-import baseline is read from ``/proc/self/status`` (VmHWM minus
the VmRSS after imports). cellpy is given a private temporary folder, because it copies raw files
into the temporary folder. Scaling: the Neware CSV and the Maccor text export are each repeated
1x, 4x, 16x and 64x (data rows appended, header once) to see how time and memory grow with file
size. ``Store.ingest`` streams text formats
(batches of ``casip.data.ingest.DEFAULT_BATCH_ROWS`` rows), so CASIP's peak memory should stay
flat; ``--whole`` adds the whole-file path (``read`` then ``Store.add``) to the scaling table
for comparison.

Chinese-locale and Excel exports (``--locale-only`` runs just this part): a profile from
``casip.data.synthetic.make_profile`` is written as a GB18030 Chinese Neware export
(``neware-table``), a decimal-comma semicolon-separated one (``neware-table-eu``) and, for
cellpy, as the English Neware CSV (``neware-csv``, cellpy instrument ``neware_txt``), at about
10k and 480k rows; the ratio is CASIP's rows/s on the localised file over cellpy's on the English
file of the same rows. The Excel export (``excel-table``, about 10k and 100k rows) has no cellpy
baseline: its rows/s are reported alone.

Run: ``python benchmarks/bench_ingest.py [--repeat 3]``. Needs cellpy 1.0.3 (``pip install
cellpy==1.0.3``) and, for Arbin .res files, mdbtools (``apt-get install mdbtools``), which cellpy
calls; the .res file is skipped where ``mdb-export`` is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED = Path(os.environ.get("CASIP_SHARED_DATA", _DEFAULT_SHARED))

FILES = [
    ("maccor_001.txt", "maccor_txt"),
    ("pec.csv", "pec_csv"),
    ("neware_uio.csv", "neware_txt"),
    ("biol.mpr", "biologics_mpr"),
    ("20160805_test001_45_cc_01.res", "arbin_res"),
    # read whole (NewareNDA returns a whole table); cellpy 1.0.3 reads no Neware binary file
    ("test.nda", None),
    ("20260302_IFE_BTS85_2_9_8_1.ndax", None),
]

CHILD = r"""
import json, os, resource, sys, tempfile, time, warnings
warnings.filterwarnings("ignore")
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024.0
which, path, instrument, workdir, batch_rows = sys.argv[1:6]
if which == "casip":
    from casip.data.store import Store
    import casip.data.readers as r; r.adapters()
    import pyarrow.parquet, duckdb  # noqa: F401  (imports before the baseline)
    base = rss("VmRSS:")
    t0, c0 = time.perf_counter(), cpu()
    res = Store(os.path.join(workdir, "store")).ingest([path], batch_rows=int(batch_rows))
    dt, dc = time.perf_counter() - t0, cpu() - c0
    assert res[0].status == "ingested", res[0]
    rows = res[0].rows
elif which == "casip-whole":
    from casip.data import read
    from casip.data.store import Store
    import casip.data.readers as r; r.adapters()
    import pyarrow.parquet, duckdb  # noqa: F401  (imports before the baseline)
    base = rss("VmRSS:")
    t0, c0 = time.perf_counter(), cpu()
    test = read(path)
    Store(os.path.join(workdir, "store")).add(test)
    dt, dc = time.perf_counter() - t0, cpu() - c0
    rows = len(test.data)
else:
    import logging
    logging.disable(logging.CRITICAL)
    tempfile.tempdir = workdir
    import cellpy
    base = rss("VmRSS:")
    t0, c0 = time.perf_counter(), cpu()
    c = cellpy.get(path, instrument=instrument)
    c.save(os.path.join(workdir, "cell.h5"))
    dt, dc = time.perf_counter() - t0, cpu() - c0
    rows = len(c.data.raw)
print(json.dumps({"seconds": dt, "cpu": dc, "rows": rows, "peak_mb": rss("VmHWM:") - base}))
"""


BATCH_ROWS = 16384


def run(which: str, path: Path, instrument: str) -> dict:
    work = tempfile.mkdtemp(prefix="casip-bench-")
    try:
        os.chmod(work, 0o700)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, which, str(path), instrument, work, str(BATCH_ROWS)],
            capture_output=True, text=True, cwd=work, check=False, timeout=900,
        )
        if out.returncode != 0:
            return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def median_run(which: str, path: Path, instrument: str, repeat: int) -> dict:
    runs = [run(which, path, instrument) for _ in range(repeat)]
    ok = [r for r in runs if "error" in r] or runs
    if "error" in ok[0]:
        return ok[0]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "rows": runs[0]["rows"],
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
    }


def repeated_csv(src: Path, times: int, folder: Path, header_bytes: int | None = None) -> Path:
    """``src`` with its data rows written ``times`` times (the header once).

    ``header_bytes``: where the data rows start (default: after the first line).
    """
    raw = src.read_bytes()
    cut = raw.find(b"\n") + 1 if header_bytes is None else header_bytes
    body = raw[cut:] if raw.endswith(b"\n") else raw[cut:] + b"\n"
    dst = folder / f"{src.stem}_x{times}{src.suffix}"
    with dst.open("wb") as fh:
        fh.write(raw[:cut])
        for _ in range(times):
            fh.write(body)
    return dst


def _maccor_data_offset(src: Path) -> int:
    from casip.data.readers.maccor_txt import probe

    with src.open("rb") as fh:
        layout = probe(fh.read(65536))
    assert layout is not None, src
    return layout.data_offset


#: The scaling series: (file, cellpy instrument, where its data rows start).
SCALING = [
    ("neware_uio.csv", "neware_txt", None),
    ("maccor_001.txt", "maccor_txt", _maccor_data_offset),
]


def scaling(name: str, instrument: str, offset, args) -> None:
    cycler = SHARED / "cycler"
    src = cycler / name
    print(f"\nscaling with file size ({name} repeated; casip streams, medians of "
          f"{args.repeat}):")
    print(f"{'copies':>6s} {'rows':>8s} {'casip s':>8s} {'casip MB':>9s} {'whole s':>8s} "
          f"{'whole MB':>9s} {'cellpy s':>9s} {'cellpy MB':>10s} {'ratio':>6s}")
    peaks = {}
    nan = {"seconds": float("nan"), "peak_mb": float("nan")}
    header_bytes = offset(src) if offset else None
    with tempfile.TemporaryDirectory(prefix="casip-bench-") as tmp:
        for k in (1, 4, 16, 64):
            f = repeated_csv(src, k, Path(tmp), header_bytes)
            ours = median_run("casip", f, instrument, args.repeat)
            whole = median_run("casip-whole", f, instrument, args.repeat) if args.whole else nan
            theirs = median_run("cellpy", f, instrument, 1) if not args.scaling_only else nan
            if "error" in ours:
                print(f"{k:6d} casip error: {ours['error']}")
                continue
            peaks[k] = ours["peak_mb"]
            w_s, w_mb = whole.get("seconds", float("nan")), whole.get("peak_mb", float("nan"))
            c_s = theirs.get("seconds", float("nan"))
            c_mb = theirs.get("peak_mb", float("nan"))
            print(f"{k:6d} {ours['rows']:8d} {ours['seconds']:8.2f} {ours['peak_mb']:9.1f} "
                  f"{w_s:8.2f} {w_mb:9.1f} {c_s:9.2f} {c_mb:10.1f} "
                  f"{c_s / ours['seconds']:5.1f}x")
            if k == 64 and c_s == c_s:
                print(f"casip/cellpy throughput at 64x ({name}): {c_s / ours['seconds']:.1f}x "
                      f"(goal >= 3x: {'met' if c_s >= 3 * ours['seconds'] else 'NOT met'}); "
                      f"CPU seconds {ours['cpu']:.2f} vs {theirs['cpu']:.2f}: "
                      f"{theirs['cpu'] / ours['cpu']:.1f}x")
            f.unlink()
    if 16 in peaks and 64 in peaks:
        # Flat memory means: once a file is longer than one batch (the 1x and 4x files are
        # shorter than 16,384 rows, so they are read in one batch), 4 times more rows must not
        # need more memory.
        growth = peaks[64] / peaks[16]
        print(f"casip peak memory 64x / 16x ({name}): {growth:.2f} "
              f"(flat, goal <= 1.2: {'met' if growth <= 1.2 else 'NOT met'})")


#: Chinese-locale exports against cellpy's English Neware CSV of the same profile:
#: (label, synthetic variant, its options).
LOCALE = [
    ("Neware zh GB18030 CSV", "neware-table", {"encoding": "gb18030"}),
    ("Neware decimal-comma CSV", "neware-table-eu", {}),
]
#: Cycles of the synthetic profile (about 870 rows each): ~10k and ~480k rows.
LOCALE_CYCLES = (11, 550)
#: Cycles of the Excel export (writing .xlsx is slow): ~10k and ~100k rows.
EXCEL_CYCLES = (11, 115)


def locale_section(args) -> None:
    """CASIP on Chinese-locale CSVs against cellpy on the English CSV; Excel alone."""
    import casip.data.synthetic_tables  # noqa: F401  (registers the table variants)
    from casip.data import synthetic

    print(f"\nChinese-locale exports (synthetic profile; medians of {args.repeat}; cellpy reads "
          "the English neware-csv file of the same rows):")
    print(f"{'file':30s} {'rows':>8s} {'casip rows/s':>13s} {'cellpy rows/s':>14s} "
          f"{'ratio':>6s} {'casip MB':>9s} {'cellpy MB':>10s}")
    with tempfile.TemporaryDirectory(prefix="casip-bench-") as tmp:
        for cycles in LOCALE_CYCLES:
            prof = synthetic.make_profile(n_cycles=cycles)
            english = synthetic.write("neware-csv", prof, Path(tmp) / f"en_{cycles}.csv")
            theirs = median_run("cellpy", english, "neware_txt", args.repeat)
            for label, variant, options in LOCALE:
                f = synthetic.write(variant, prof, Path(tmp) / f"{variant}_{cycles}.csv",
                                    **options)
                ours = median_run("casip", f, "-", args.repeat)
                if "error" in ours or "error" in theirs:
                    print(f"{label:30s} error: casip={ours.get('error')} "
                          f"cellpy={theirs.get('error')}")
                    continue
                r_ours = ours["rows"] / ours["seconds"]
                r_theirs = theirs["rows"] / theirs["seconds"]
                print(f"{label:30s} {ours['rows']:8d} {r_ours:13,.0f} {r_theirs:14,.0f} "
                      f"{r_ours / r_theirs:5.1f}x {ours['peak_mb']:9.1f} "
                      f"{theirs['peak_mb']:10.1f}")
                f.unlink()
            english.unlink()
        for cycles in EXCEL_CYCLES:
            prof = synthetic.make_profile(n_cycles=cycles)
            f = synthetic.write("excel-table", prof, Path(tmp) / f"excel_{cycles}.xlsx")
            ours = median_run("casip", f, "-", args.repeat)
            if "error" in ours:
                print(f"{'Excel (.xlsx, Neware zh)':30s} error: {ours['error']}")
                continue
            print(f"{'Excel (.xlsx, Neware zh)':30s} {ours['rows']:8d} "
                  f"{ours['rows'] / ours['seconds']:13,.0f} {'-':>14s} {'-':>6s} "
                  f"{ours['peak_mb']:9.1f} {'-':>10s}")
            f.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--whole", action="store_true",
                    help="also the whole-file path (read + Store.add) in the scaling table")
    ap.add_argument("--scaling-only", action="store_true",
                    help="only the scaling tables, without cellpy (the quickest run)")
    ap.add_argument("--locale-only", action="store_true",
                    help="only the Chinese-locale and Excel section")
    ap.add_argument("--no-locale", action="store_true",
                    help="skip the Chinese-locale and Excel section")
    ap.add_argument("--batch-rows", type=int, default=None,
                    help="rows per batch of the streaming ingestion (default: CASIP's)")
    args = ap.parse_args()
    global BATCH_ROWS
    from casip.data.ingest import DEFAULT_BATCH_ROWS

    BATCH_ROWS = args.batch_rows or DEFAULT_BATCH_ROWS
    cycler = SHARED / "cycler"
    if not cycler.is_dir():
        sys.exit(f"shared data not found at {cycler} (set CASIP_SHARED_DATA)")
    print(f"machine: {os.cpu_count()} cores; medians of {args.repeat} runs, one process each; "
          f"streaming batches of {BATCH_ROWS} rows")
    print(f"{'file':32s} {'rows':>8s} {'casip rows/s':>13s} {'cellpy rows/s':>14s} "
          f"{'ratio':>6s} {'casip MB':>9s} {'cellpy MB':>10s}")
    if args.locale_only:
        locale_section(args)
        return
    ratios = []
    for name, instrument in [] if args.scaling_only else FILES:
        path = cycler / name
        if name.endswith(".res") and shutil.which("mdb-export") is None:
            print(f"{name:32s} skipped: cellpy needs mdb-export (apt-get install mdbtools)")
            continue
        ours = median_run("casip", path, instrument or "-", args.repeat)
        if instrument is None:  # no cellpy baseline
            if "error" in ours:
                print(f"{name:32s} error: casip={ours['error']}")
                continue
            print(f"{name:32s} {ours['rows']:8d} {ours['rows'] / ours['seconds']:13,.0f} "
                  f"{'-':>14s} {'-':>6s} {ours['peak_mb']:9.1f} {'-':>10s}")
            continue
        theirs = median_run("cellpy", path, instrument, args.repeat)
        if "error" in ours or "error" in theirs:
            print(f"{name:32s} error: casip={ours.get('error')} cellpy={theirs.get('error')}")
            continue
        r_ours = ours["rows"] / ours["seconds"]
        r_theirs = theirs["rows"] / theirs["seconds"]
        ratios.append(r_ours / r_theirs)
        print(f"{name:32s} {ours['rows']:8d} {r_ours:13,.0f} {r_theirs:14,.0f} "
              f"{r_ours / r_theirs:5.1f}x {ours['peak_mb']:9.1f} {theirs['peak_mb']:10.1f}")
    if ratios:
        print(f"median throughput ratio casip/cellpy: {statistics.median(ratios):.1f}x "
              f"(goal >= 3x: {'met' if statistics.median(ratios) >= 3 else 'NOT met'})")

    for name, instrument, offset in SCALING:
        scaling(name, instrument, offset, args)
    if not (args.scaling_only or args.no_locale):
        locale_section(args)


if __name__ == "__main__":
    main()
