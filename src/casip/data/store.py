"""A folder of tests as Parquet files, queried with DuckDB.

Layout (every test is an immutable folder named by the content hash of its source file, so the
same layout works on object storage, where folders are key prefixes)::

    <store>/
      tests/
        test_id=<16 hex digits>/
          timeseries.parquet    BDF columns, zstd
          cycles.parquet        casip.data.summary.cycles
          steps.parquet         casip.data.summary.steps
          test.json             metadata, provenance, warnings
      .staging/                 work area; a test appears in tests/ only when complete

Ingestion is atomic: a test is written to ``.staging`` and moved into ``tests/`` with one
rename, so a failure leaves nothing in the store. Re-ingesting the same file is detected by its
sha256 (the folder already exists) and skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from casip.data import plausibility, summary
from casip.data.ingest import DEFAULT_BATCH_ROWS, file_digest, ingest_stream, read
from casip.data.schema import CyclerTest
from casip.errors import CasipInputError, Problem

DEFAULT_STORE = Path("casip-data")
TABLES = ("timeseries", "cycles", "steps")


@dataclass
class IngestResult:
    """What happened to one file in a batch."""

    path: str
    status: str  # "ingested", "duplicate" or "failed"
    test_id: str | None = None
    rows: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    #: the reasons the test was stored flagged (unusual but real, e.g. a failed capacity check)
    flags: tuple[str, ...] = ()


def flags(
    cycles: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    metadata: Any = None,
    warnings: Any = (),
) -> list[dict[str, str]]:
    """Why a test is unusual but real: stored with it (``test.json`` ``flags``), never refused.

    See :mod:`casip.data.plausibility` for the checks (capacity check, coulombic efficiency,
    time, declared configuration, rate against the declared capacity).
    """
    md = metadata.model_dump() if hasattr(metadata, "model_dump") else (metadata or {})
    return plausibility.flags(cycles, steps, md, list(warnings or ()))


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression="zstd")


class Store:
    """A local test store. ``Store("casip-data")`` creates the folder on first write."""

    def __init__(self, root: str | os.PathLike = DEFAULT_STORE):
        self.root = Path(root)

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    def _test_dir(self, test_id: str) -> Path:
        return self.tests_dir / f"test_id={test_id}"

    def __contains__(self, test_id: str) -> bool:
        return self._test_dir(test_id).is_dir()

    # ---------------------------------------------------------------- writing
    def add(self, test: CyclerTest) -> tuple[str, bool]:
        """Store a test read by :func:`casip.data.read`; returns (test_id, newly_added)."""

        def write(staging: Path) -> dict[str, Any]:
            _write_parquet(test.data, staging / "timeseries.parquet")
            _write_parquet(summary.cycles(test), staging / "cycles.parquet")
            _write_parquet(summary.steps(test), staging / "steps.parquet")
            return {
                "rows": len(test.data),
                "metadata": test.metadata,
                "provenance": test.provenance,
                "warnings": test.warnings,
                "reported_counters": test.reported_counters,
            }

        return self._commit(test.test_id, write)[:2]

    def _commit(
        self, tid: str, write: Callable[[Path], dict[str, Any]]
    ) -> tuple[str, bool, dict[str, Any] | None]:
        """Write a test into a staging folder and move it into place with one rename."""
        final = self._test_dir(tid)
        if final.exists():
            return tid, False, None
        staging = self.root / ".staging" / f"{tid}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True, exist_ok=False)
        try:
            facts = write(staging)
            facts["flags"] = flags(
                pd.read_parquet(staging / "cycles.parquet"),
                pd.read_parquet(staging / "steps.parquet"),
                facts.get("metadata"),
                facts.get("warnings", ()),
            )
            prov = facts["provenance"].model_copy(
                update={"ingested_at": dt.datetime.now(dt.UTC).replace(microsecond=0)}
            )
            doc = {
                "test_id": tid,
                "rows": facts["rows"],
                "metadata": facts["metadata"].model_dump(mode="json"),
                "provenance": prov.model_dump(mode="json"),
                "warnings": facts["warnings"],
                "reported_counters": facts["reported_counters"],
                "flags": facts["flags"],
            }
            (staging / "test.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
            self.tests_dir.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, final)
            except OSError:
                if final.exists():  # another process stored the same file meanwhile
                    return tid, False, facts
                raise
            return tid, True, facts
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def add_file(
        self,
        path: str | os.PathLike,
        format: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> IngestResult:
        """Read and store one file with memory bounded by ``batch_rows`` (streaming).

        Formats whose adapter streams (``iter_batches``) are read, normalised, summarised and
        written batch by batch (:func:`casip.data.ingest.ingest_stream`); the others are read
        whole (:func:`casip.data.read`, then :meth:`add`). The stored tables are the same
        either way. Where streaming cannot give the whole-file result (a whole-file decision
        contradicted by a later batch), or the file fails (its error is then the whole-file
        reader's), the file is read whole instead.
        """
        p = Path(path)
        tid = file_digest(p)[1][:16] if p.is_file() else None
        if tid is not None and tid in self:
            return IngestResult(str(path), "duplicate", tid, self.info(tid)["rows"])
        if tid is not None:
            try:
                _, added, facts = self._commit(
                    tid,
                    lambda staging: ingest_stream(
                        p, staging, format, metadata, batch_rows, streaming_only=True
                    ),
                )
            except (MemoryError, KeyboardInterrupt):
                raise
            except Exception:  # StreamFallback, or a bad file: the whole-file path decides
                pass
            else:
                if not added:
                    rows = facts["rows"] if facts else self.info(tid)["rows"]
                    return IngestResult(str(path), "duplicate", tid, rows)
                return IngestResult(
                    str(path), "ingested", tid, facts["rows"], warnings=tuple(facts["warnings"]),
                    flags=tuple(f["reason"] for f in facts["flags"]),
                )
        test = read(path, format=format, metadata=metadata)
        if test.test_id in self:
            return IngestResult(str(path), "duplicate", test.test_id, len(test.data))
        tid, _ = self.add(test)
        return IngestResult(
            str(path), "ingested", tid, len(test.data), warnings=tuple(test.warnings),
            flags=tuple(f["reason"] for f in self.info(tid).get("flags", [])),
        )

    def ingest(
        self,
        paths: Iterable[str | os.PathLike],
        format: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        progress: Callable[[IngestResult], None] | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> list[IngestResult]:
        """Read and store many files (see :meth:`add_file`); a bad file is reported and the
        batch goes on."""
        results = []
        for path in paths:
            try:
                res = self.add_file(path, format, metadata, batch_rows)
            except CasipInputError as exc:
                res = IngestResult(str(path), "failed", error=str(exc))
            except OSError as exc:
                res = IngestResult(str(path), "failed", error=f"{path}: {exc.strerror or exc}")
            results.append(res)
            if progress is not None:
                progress(res)
        return results

    def remove(self, test_id: str) -> None:
        """Delete a stored test (never its source file, which the store does not hold)."""
        d = self._resolve(test_id)
        shutil.rmtree(d)

    # ---------------------------------------------------------------- reading
    def _resolve(self, test_id: str) -> Path:
        if not self.tests_dir.is_dir():
            raise CasipInputError(Problem("test", "the store holds no tests"), str(self.root))
        matches = [p for p in self.tests_dir.iterdir() if p.name.startswith(f"test_id={test_id}")]
        if len(matches) != 1:
            raise CasipInputError(
                Problem(
                    "test",
                    "no stored test has this id" if not matches else "the id prefix is ambiguous",
                    test_id,
                    "an id (or unique prefix) from 'casip data list'",
                ),
                str(self.root),
            )
        return matches[0]

    def info(self, test_id: str) -> dict:
        """The stored metadata, provenance and warnings of a test."""
        return json.loads((self._resolve(test_id) / "test.json").read_text(encoding="utf-8"))

    def flags_of(self, test_id: str) -> list[str]:
        """The reasons a stored test was flagged at ingestion (``[]`` when it was not)."""
        return [str(f.get("reason", f)) for f in self.info(test_id).get("flags") or []]

    def usable(
        self, test_ids: Iterable[str] | None = None, include_flagged: bool = False
    ) -> tuple[list[str], dict[str, list[str]]]:
        """The tests a model may use: flagged tests are left out unless ``include_flagged``.

        Life prediction (and any calibration fed from a store) takes its tests through here,
        so that a test stored flagged (unusual but real, e.g. a failed capacity check) is used
        only when asked for explicitly; the platform's benchmark applies the same rule to its
        datasets (:func:`casip.platform.benchmarking.rows_of`).

        Parameters
        ----------
        test_ids : iterable of str, optional
            Ids (or unique prefixes); default every stored test.
        include_flagged : bool
            Keep flagged tests too.

        Returns
        -------
        (list of str, dict)
            The full ids kept, and the flagged tests left out (id -> reasons; empty when
            ``include_flagged``).
        """
        ids = list(self.list()["test_id"]) if test_ids is None else list(test_ids)
        kept: list[str] = []
        left_out: dict[str, list[str]] = {}
        for t in ids:
            info = self.info(t)
            reasons = [str(f.get("reason", f)) for f in info.get("flags") or []]
            if reasons and not include_flagged:
                left_out[info["test_id"]] = reasons
            else:
                kept.append(info["test_id"])
        return kept, left_out

    def list(self) -> pd.DataFrame:
        """One row per stored test: id, source file, format, rows, cell and ingestion time."""
        rows = []
        if self.tests_dir.is_dir():
            for d in sorted(self.tests_dir.iterdir()):
                f = d / "test.json"
                if not f.is_file():
                    continue
                doc = json.loads(f.read_text(encoding="utf-8"))
                md, pv = doc["metadata"], doc["provenance"]
                rows.append(
                    {
                        "test_id": doc["test_id"],
                        "source": pv["source_name"],
                        "format": pv["format"],
                        "rows": doc["rows"],
                        "cell_id": md.get("cell_id"),
                        "chemistry": md.get("chemistry"),
                        "ingested_at": pv.get("ingested_at"),
                    }
                )
        return pd.DataFrame(
            rows,
            columns=["test_id", "source", "format", "rows", "cell_id", "chemistry", "ingested_at"],
        )

    def table(self, test_id: str, name: str = "timeseries") -> pd.DataFrame:
        """A stored table of one test (``timeseries``, ``cycles`` or ``steps``)."""
        if name not in TABLES:
            raise CasipInputError(
                Problem("table", "unknown table", name, "one of: " + ", ".join(TABLES))
            )
        return pq.read_table(self._resolve(test_id) / f"{name}.parquet").to_pandas()

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL with DuckDB over views ``timeseries``, ``cycles`` and ``steps`` of all tests.

        Each view has a ``test_id`` column (from the folder names). The connection is
        sandboxed: DuckDB may read only the store's own folder, may not write files, and cannot
        load extensions or change these settings (so a query cannot read ``/etc/...`` or
        ``COPY ... TO`` anywhere).
        """
        import duckdb

        con = duckdb.connect(
            config={"autoload_known_extensions": False, "autoinstall_known_extensions": False}
        )
        try:
            for name in TABLES:
                files = sorted(self.tests_dir.glob(f"test_id=*/{name}.parquet"))
                if files:
                    pattern = str(self.tests_dir / "test_id=*" / f"{name}.parquet")
                    quoted = "'" + pattern.replace("'", "''") + "'"
                    con.execute(
                        f"CREATE VIEW {name} AS SELECT * FROM "
                        f"read_parquet({quoted}, hive_partitioning=true, union_by_name=true)"
                    )
            root = str(self.tests_dir.resolve()).replace("'", "''")
            con.execute(f"SET allowed_directories = ['{root}']")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            return con.execute(sql).fetchdf()
        except duckdb.Error as exc:
            raise CasipInputError(Problem("sql", str(exc).splitlines()[0], sql)) from None
        finally:
            con.close()
