"""Run a study: sweeps and NSGA-II on any executor, with a journal that survives a kill.

Methods
-------
* ``factorial``: every combination of the parameters' levels.
* ``lhs``: a seeded Latin hypercube (McKay, Beckman & Conover 1979, *Technometrics* 21:239;
  :class:`scipy.stats.qmc.LatinHypercube`).
* ``nsga2``: NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002, *IEEE Trans. Evol. Comput.*
  6:182) from pymoo (Blank & Deb 2020, "pymoo: Multi-objective optimization in Python",
  *IEEE Access* 8:89497), driven through its ask-and-tell interface and seeded, with the
  constraints as inequality constraints (normalised violations, feasible when all are 0).

Journal and resume
------------------
``out_dir/journal/`` holds ``manifest.json`` (the study's fingerprint) and one small Parquet
file per finished task, each written atomically (temporary file + rename). A row is keyed by
``point_id``, a hash of the point's parameter values. On resume every journalled point is
reused instead of evaluated; NSGA-II is re-run from its seed and, because the values it is told
are the journalled ones bit for bit, replays the same generations to the same final result.
A resume against a journal of a different study is refused.

Outputs
-------
``points.parquet`` (every point: ``generation``, ``position``, ``point_id``, parameters,
quantities, ``cv`` (total normalised constraint violation), ``feasible``, ``error``,
``eval_time_s``), ``pareto.parquet`` (the feasible non-dominated points) and ``study.json``
(the study, the CASIP version and the git commit when known).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.explore.objectives import (
    PENALTY,
    canonical,
    evaluate_task,
    study_payload,
    violation,
)
from casip.explore.study import (
    INTEGER_TARGETS,
    Study,
    bounds,
    parameter_values,
    read_study,
)

JOURNAL_SCHEMA = "casip.study-journal/1"

#: ``progress(done, total, message)``.
Progress = Callable[[int, int, str], None]


#: default points per task of a study whose costly quantities are all charge times
CHARGE_CHUNK = 16


class StudyCancelled(Exception):
    """Raised inside :func:`run_study` when ``cancel`` is set; caught there."""


@dataclass
class StudyResult:
    """What :func:`run_study` returns.

    ``points``/``pareto`` as written to ``points.parquet``/``pareto.parquet`` (partial when
    ``cancelled``: nothing is written then, the journal keeps the finished work).
    ``evaluated`` counts new evaluations, ``reused`` points taken from the journal.
    """

    points: pd.DataFrame
    pareto: pd.DataFrame
    out_dir: Path
    cancelled: bool = False
    evaluated: int = 0
    reused: int = 0
    files: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------ helpers


def point_id(point: Mapping[str, float]) -> str:
    """A stable key of a point: a hash of its parameter names and exact values."""
    text = json.dumps({k: float(v).hex() for k, v in sorted(point.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event) or hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def _snap(study: Study, name: str, value: float) -> float:
    """A raw value to what is evaluated: the nearest listed value, integers rounded."""
    from casip.explore.study import resolve_parameter

    r = study.parameters[name]
    v = float(value)
    if r.values is not None:
        vals = np.asarray(r.values, dtype=float)
        v = float(vals[np.argmin(np.abs(vals - v))])
    if resolve_parameter(name) in INTEGER_TARGETS:
        v = float(round(v))
    return v


def factorial_points(study: Study) -> list[dict[str, float]]:
    """Every combination of the parameters' levels (the first parameter varies slowest)."""
    names = list(study.parameters)
    levels = [parameter_values(study, n) for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*levels)]


def lhs_points(study: Study) -> list[dict[str, float]]:
    """``method.samples`` points of a seeded Latin hypercube over the parameters' bounds."""
    from scipy.stats import qmc

    names = list(study.parameters)
    u = qmc.LatinHypercube(d=len(names), seed=study.method.seed).random(study.method.samples)
    lo = np.array([bounds(study, n)[0] for n in names])
    hi = np.array([bounds(study, n)[1] for n in names])
    x = lo + u * (hi - lo)
    return [{n: _snap(study, n, row[j]) for j, n in enumerate(names)} for row in x]


def _git_commit() -> str | None:
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def _write_parquet(df: pd.DataFrame, path: Path) -> Path:
    from casip.io import write_bytes_atomic

    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return write_bytes_atomic(path, buf.getvalue())


# ------------------------------------------------------------------------------------ journal


class Journal:
    """Append-only store of finished evaluations in ``out_dir/journal``."""

    def __init__(self, out_dir: Path, fingerprint: str, resume: bool):
        from casip.io import ensure_dir, write_text_atomic

        self.dir = ensure_dir(out_dir / "journal")
        manifest = self.dir / "manifest.json"
        if manifest.exists() and resume:
            try:
                m = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                m = {}
            if m.get("fingerprint") != fingerprint:
                raise CasipInputError(
                    Problem(
                        "out_dir",
                        "this folder holds the journal of a different study (or of this "
                        "study before an edit)",
                        str(out_dir),
                        "another folder, or --no-resume to start over",
                    )
                )
        else:
            for f in self.dir.glob("*.parquet"):
                f.unlink()
            write_text_atomic(
                manifest,
                json.dumps({"schema": JOURNAL_SCHEMA, "fingerprint": fingerprint}, indent=2),
            )
        self.rows: dict[str, dict] = {}
        files = sorted(self.dir.glob("*.parquet"))
        for f in files:
            try:
                df = pd.read_parquet(f)
            except Exception:
                continue
            for r in df.to_dict(orient="records"):
                self.rows[r["point_id"]] = _clean_row(r)
        self.count = len(files)

    def add(self, rows: Sequence[dict]) -> None:
        if not rows:
            return
        name = f"t{self.count:06d}-{rows[0]['point_id'][:10]}.parquet"
        self.count += 1
        _write_parquet(pd.DataFrame(list(rows)), self.dir / name)
        for r in rows:
            self.rows[r["point_id"]] = r


def _clean_row(r: dict) -> dict:
    out = {}
    for k, v in r.items():
        if isinstance(v, np.generic):
            v = v.item()
        if k == "error" and isinstance(v, float) and math.isnan(v):
            v = None
        out[k] = v
    return out


# ------------------------------------------------------------------------------------- runner


class _Runner:
    def __init__(self, study, executor, out_dir, progress, cancel, resume):
        self.study = study
        self.executor = executor
        self.out = Path(out_dir)
        self.progress = progress
        self.cancel = cancel
        self.payload = study_payload(study)
        self.journal = Journal(self.out, study.fingerprint(), resume)
        self.names = list(study.parameters)
        self.objectives = [(canonical(n), g) for n, g in study.objectives.items()]
        self.constraints = [(canonical(n), b.min, b.max) for n, b in study.constraints.items()]
        self.evaluated = 0
        self.reused = 0
        self.done = 0
        self.total = 0
        self.records: list[dict] = []
        self.transient: dict[str, dict] = {}
        ex = study.execution.chunk_size
        from casip.explore.objectives import CHARGE, CHEAP, stage_of

        stages = {stage_of(n) for n in [*study.objectives, *study.constraints]}
        if ex is not None:
            self.chunk = ex
        elif stages <= {CHEAP}:
            self.chunk = 256
        elif stages <= {CHEAP, CHARGE}:
            # charge-time studies: a task's points share PyBaMM builds where their geometry
            # agrees (casip.physics.batch; 7x on 200 designs, docs/physics-batch.md)
            self.chunk = CHARGE_CHUNK
        else:
            self.chunk = 1

    def _tick(self, k: int, msg: str) -> None:
        self.done += k
        if self.progress is not None:
            self.progress(self.done, self.total, msg)

    def evaluate(self, points: list[dict[str, float]], generation: int) -> list[dict]:
        """Rows for ``points`` (journalled or new), in order; records them."""
        ids = [point_id(p) for p in points]
        todo: dict[str, dict] = {}
        for pid, p in zip(ids, points, strict=True):
            if pid not in self.journal.rows and pid not in self.transient and pid not in todo:
                todo[pid] = p
        reused = len(points) - len(todo)
        self.reused += reused
        if reused:
            self._tick(reused, f"generation {generation}: {reused} from the journal")
        if _is_cancelled(self.cancel):
            raise StudyCancelled
        if todo:
            items = list(todo.items())
            chunks = [items[i : i + self.chunk] for i in range(0, len(items), self.chunk)]
            tasks = [(self.payload, [p for _, p in c]) for c in chunks]
            it = self.executor.map_unordered(evaluate_task, tasks, chunksize=1)
            try:
                for idx, result in it:
                    if _is_cancelled(self.cancel):
                        # a task interrupted by the cancel (e.g. Ctrl-C reaching a worker)
                        # must not be journalled as a failure: drop it, redo it on resume
                        raise StudyCancelled
                    chunk = chunks[idx]
                    task_failed = isinstance(result, BaseException)
                    if task_failed:
                        msg = f"{type(result).__name__}: {result}"
                        result = [{"error": f"task: {msg}", "eval_time_s": math.nan} for _ in chunk]
                    rows = []
                    for (pid, p), r in zip(chunk, result, strict=True):
                        rows.append(
                            {"point_id": pid, **{f"param:{k}": v for k, v in p.items()}, **r}
                        )
                    if task_failed:
                        # the whole task failed (a worker died, a pickling error): recorded in
                        # this run's results but not journalled, so that a resume retries it
                        self.transient.update((r["point_id"], r) for r in rows)
                    else:
                        self.journal.add(rows)
                    self.evaluated += len(rows)
                    self._tick(len(rows), f"generation {generation}")
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
        out = []
        for pos, (pid, p) in enumerate(zip(ids, points, strict=True)):
            row = dict(self.journal.rows.get(pid) or self.transient[pid])
            rec = {"generation": generation, "position": pos, "point_id": pid, **p}
            for k, v in row.items():
                if k == "point_id" or k.startswith("param:"):
                    continue
                rec[k] = v
            rec["cv"], rec["feasible"] = self._feasibility(rec)
            out.append(rec)
        self.records.extend(out)
        return out

    def _feasibility(self, rec: dict) -> tuple[float, bool]:
        if rec.get("error"):
            return 1e6, False
        cv = sum(violation(q, rec.get(q, math.nan), lo, hi) for q, lo, hi in self.constraints)
        for q, _ in self.objectives:
            v = rec.get(q, math.nan)
            if v is None or not math.isfinite(v):
                cv += 1e6
        return float(cv), bool(cv == 0)

    def FG(self, recs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        F = np.empty((len(recs), len(self.objectives)))
        G = np.empty((len(recs), len(self.constraints) + 1))
        for i, r in enumerate(recs):
            for j, (q, goal) in enumerate(self.objectives):
                v = r.get(q, math.nan)
                v = math.nan if v is None else float(v)
                F[i, j] = PENALTY if not math.isfinite(v) else (-v if goal == "max" else v)
            for j, (q, lo, hi) in enumerate(self.constraints):
                G[i, j] = 1e6 if r.get("error") else violation(q, r.get(q, math.nan), lo, hi)
            G[i, -1] = 1e6 if r.get("error") or not np.all(F[i] < PENALTY) else 0.0
        return F, G

    # ------------------------------------------------------------------------------ methods
    def run_points(self, points: list[dict[str, float]]) -> None:
        self.total = len(points)
        self.evaluate(points, 0)

    def run_nsga2(self) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.evaluator import Evaluator
        from pymoo.core.problem import Problem as PymooProblem
        from pymoo.problems.static import StaticProblem

        m = self.study.method
        lo = np.array([bounds(self.study, n)[0] for n in self.names])
        hi = np.array([bounds(self.study, n)[1] for n in self.names])
        problem = PymooProblem(
            n_var=len(self.names),
            n_obj=len(self.objectives),
            n_ieq_constr=len(self.constraints) + 1,
            xl=lo,
            xu=hi,
        )
        algorithm = NSGA2(pop_size=m.population, eliminate_duplicates=True)
        algorithm.setup(problem, termination=("n_gen", m.generations), seed=m.seed, verbose=False)
        self.total = m.population * m.generations
        gen = 0
        while algorithm.has_next():
            pop = algorithm.ask()
            X = pop.get("X")
            points = [{n: _snap(self.study, n, x[j]) for j, n in enumerate(self.names)} for x in X]
            recs = self.evaluate(points, gen)
            F, G = self.FG(recs)
            Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
            algorithm.tell(infills=pop)
            gen += 1

    # ------------------------------------------------------------------------------ results
    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        points = pd.DataFrame(self.records)
        if points.empty:
            return points, points
        points = points.sort_values(["generation", "position"], kind="stable")
        points = points.reset_index(drop=True)
        return points, pareto_front(points, self.study)


def pareto_front(points: pd.DataFrame, study: Study) -> pd.DataFrame:
    """The feasible non-dominated points (each point once), sorted by the first objective."""
    objs = [(canonical(n), g) for n, g in study.objectives.items()]
    ok = points[points["feasible"]].drop_duplicates("point_id")
    if ok.empty:
        return ok.reset_index(drop=True)
    F = np.column_stack([(-ok[q] if g == "max" else ok[q]).to_numpy(dtype=float) for q, g in objs])
    keep = non_dominated(F)
    front = ok.iloc[keep]
    q0, g0 = objs[0]
    return front.sort_values(q0, ascending=(g0 == "min"), kind="stable").reset_index(drop=True)


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the rows of ``F`` (minimised) that no other row dominates.

    Rows are visited in lexicographic order, so a row can only be dominated by rows already
    visited, and (dominance being transitive) by one already on the front: the cost is
    O(n x front size), not O(n^2). Equal rows do not dominate each other and are all kept.
    """
    F = np.asarray(F, dtype=float)
    if len(F) == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort(F.T[::-1])
    front = np.empty((0, F.shape[1]))
    keep: list[int] = []
    for i in order:
        f = F[i]
        if len(front) and np.any(np.all(front <= f, axis=1) & np.any(front < f, axis=1)):
            continue
        keep.append(int(i))
        front = np.vstack([front, f])
    return np.sort(np.asarray(keep, dtype=int))


def run_study(
    study: Study | str | os.PathLike,
    executor=None,
    out_dir: str | os.PathLike = "study-output",
    progress: Progress | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    resume: bool = True,
) -> StudyResult:
    """Run a study and write its results in ``out_dir``.

    Parameters
    ----------
    study : Study or path
        A checked study (:func:`casip.explore.study.read_study`) or a study file.
    executor : Executor, optional
        From :func:`casip.explore.executors.get_executor`; in process by default. Not closed
        here when given.
    out_dir : path
        Results and the journal.
    progress : callable, optional
        ``progress(done, total, message)`` after every finished task.
    cancel : threading.Event or callable, optional
        Checked after every task; when set, the run stops, the journal is kept and the result
        has ``cancelled=True`` (nothing else written).
    resume : bool
        Reuse the journal in ``out_dir`` (False: clear it and start over).

    Returns
    -------
    StudyResult
    """
    if not isinstance(study, Study):
        study = read_study(study)
    out = Path(out_dir)
    own = executor is None
    if own:
        from casip.explore.executors import get_executor

        executor = get_executor("inprocess")
    try:
        runner = _Runner(study, executor, out, progress, cancel, resume)
        cancelled = False
        try:
            if study.method.kind == "nsga2":
                runner.run_nsga2()
            elif study.method.kind == "lhs":
                runner.run_points(lhs_points(study))
            else:
                runner.run_points(factorial_points(study))
        except StudyCancelled:
            cancelled = True
    finally:
        if own:
            executor.close()
    points, pareto = runner.frames()
    result = StudyResult(points, pareto, out, cancelled, runner.evaluated, runner.reused)
    if cancelled:
        return result
    import casip
    from casip.io import write_text_atomic

    result.files.append(_write_parquet(points, out / "points.parquet"))
    result.files.append(_write_parquet(pareto, out / "pareto.parquet"))
    meta = {
        "schema": "casip.study-result/1",
        "study": study.to_dict(),
        "fingerprint": study.fingerprint(),
        "casip_version": casip.__version__,
        "git_commit": _git_commit(),
        "executor": getattr(executor, "name", type(executor).__name__),
        "workers": getattr(executor, "workers", None),
        "points": len(points),
        "unique_points": int(points["point_id"].nunique()) if len(points) else 0,
        "pareto_points": len(pareto),
        "evaluated": runner.evaluated,
        "reused_from_journal": runner.reused,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    result.files.append(
        write_text_atomic(out / "study.json", json.dumps(meta, indent=2, default=str))
    )
    return result


def load_results(out_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """``points``, ``pareto`` and the ``study.json`` metadata of a finished study."""
    out = Path(out_dir)
    missing = [
        f for f in ("points.parquet", "pareto.parquet", "study.json") if not (out / f).exists()
    ]
    if missing:
        raise CasipInputError(
            Problem(
                "",
                "not the folder of a finished study (missing " + ", ".join(missing) + ")",
                str(out),
                "the --out folder of 'casip explore run'",
            )
        )
    meta = json.loads((out / "study.json").read_text(encoding="utf-8"))
    return pd.read_parquet(out / "points.parquet"), pd.read_parquet(out / "pareto.parquet"), meta


__all__ = [
    "Journal",
    "StudyCancelled",
    "StudyResult",
    "factorial_points",
    "lhs_points",
    "load_results",
    "non_dominated",
    "pareto_front",
    "point_id",
    "run_study",
]
