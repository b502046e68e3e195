"""A campaign folder: the campaign file's copy and an append-only journal, replayed into state.

Layout of ``DIR``::

    campaign.yaml     the campaign file, copied verbatim at ``init`` (the source is never touched)
    journal.jsonl     one JSON record per line, appended, never rewritten
    journal.torn      the bytes of torn last lines that were cut off (kept for inspection)
    .lock             an advisory lock (fcntl.flock) held while a command reads and appends

Records (``type``): ``init`` (the campaign's fingerprint and the folder its relative paths are
read from), ``batch`` (proposed planned tests ``PT-<id>-<n>`` with their points and the model's
predictions), ``observation`` (``kind`` simulation/early/measured, ``values``, ``sigma`` in the
modelled space, ``cycles``, ``source``), ``early_stop`` and ``close``. Every record carries
``seq`` (its line number from 0) and ``time`` (UTC).

Durability: a record is one ``write`` of a whole line, then ``flush`` and ``os.fsync``. A kill
can leave at most a torn last line (no newline at the end). Reading detects it, reports it in
:attr:`State.notes` and ignores it; the next append first moves the torn bytes to
``journal.torn`` and truncates the journal to its last whole line, so a torn line is never
merged with a new record. A malformed line *before* the last one cannot come from a kill and
is an error. The state is nothing but the replay of the whole lines, so every command resumes
after a kill at any point; commands that append are idempotent (re-proposing while a batch is
open returns it; re-recording an identical observation writes nothing; same seed and same
journal give the same proposals). Written by hand because it is 100 lines of standard
write-ahead-log practice on the standard library, and it must stay readable as text.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from casip.campaign.spec import (
    LIFE,
    Campaign,
    campaign_from_data,
    quantity_name,
    result_quantity,
)
from casip.errors import CasipInputError, Problem

CAMPAIGN_FILE = "campaign.yaml"
JOURNAL_FILE = "journal.jsonl"
TORN_FILE = "journal.torn"
LOCK_FILE = ".lock"
KINDS = ("simulation", "early", "measured")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ journal I/O


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the folder's advisory lock (one writer at a time; released when a process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking, single user assumed
        yield
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_records(path: Path) -> tuple[list[dict], bytes]:
    """The whole records of a journal and the torn tail (``b""`` when there is none).

    Raises
    ------
    CasipInputError
        A malformed whole line, or records out of sequence.
    """
    data = path.read_bytes() if path.exists() else b""
    cut = data.rfind(b"\n") + 1
    whole, torn = data[:cut], data[cut:]
    records = []
    for i, line in enumerate(whole.splitlines()):
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CasipInputError(
                Problem(
                    f"line {i + 1}",
                    f"malformed journal record ({exc})",
                    line[:80].decode("utf-8", "replace"),
                    "one JSON record per line",
                ),
                source=str(path),
            ) from None
        if not isinstance(rec, dict) or rec.get("seq") != i:
            raise CasipInputError(
                Problem(
                    f"line {i + 1}",
                    "journal record out of sequence",
                    rec.get("seq") if isinstance(rec, dict) else rec,
                    f"seq {i}",
                ),
                source=str(path),
            )
        records.append(rec)
    return records, torn


def append_record(folder: Path, record: dict) -> dict:
    """Append one record (whole line, flushed and fsynced); the caller holds the lock."""
    path = folder / JOURNAL_FILE
    records, torn = read_records(path)
    if torn:
        with open(folder / TORN_FILE, "ab") as f:
            f.write(torn + b"\n")
            f.flush()
            os.fsync(f.fileno())
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size - len(torn))
            f.flush()
            os.fsync(f.fileno())
    rec = {"seq": len(records), "time": _now(), **record}
    line = (json.dumps(rec, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return rec


# ---------------------------------------------------------------------------------- state


@dataclass
class Test:
    """A planned test (one proposal on one channel) and what is known of it."""

    id: str
    batch: int
    point: dict
    predicted: dict = field(default_factory=dict)
    acquisition: float | None = None
    reason: str = ""
    observations: list[dict] = field(default_factory=list)
    stopped: str | None = None

    @property
    def status(self) -> str:
        """planned, predicted (early evidence), measured or stopped."""
        kinds = {o["kind"] for o in self.observations}
        if "measured" in kinds:
            return "measured"
        if self.stopped:
            return "stopped"
        if "early" in kinds:
            return "predicted"
        return "planned"

    @property
    def open(self) -> bool:
        """No test evidence yet (simulation alone does not answer a planned test)."""
        return self.status == "planned"

    def cycles_spent(self) -> int:
        return max(
            (int(o.get("cycles") or 0) for o in self.observations if o["kind"] != "simulation"),
            default=0,
        )

    def life_bounds(self) -> tuple[float, float] | None:
        """(low, high) of the test's life: measured value, else the latest early interval."""
        for o in reversed(self.observations):
            if o["kind"] == "measured" and LIFE in o["values"]:
                v = float(o["values"][LIFE])
                return v, v
        for o in reversed(self.observations):
            if o["kind"] == "early" and "low" in o:
                return float(o["low"]), float(o["high"])
        return None


@dataclass
class State:
    """The replay of a campaign's journal."""

    folder: Path
    campaign: Campaign
    created: str
    tests: dict[str, Test] = field(default_factory=dict)
    batches: list[dict] = field(default_factory=list)
    closed: str | None = None
    notes: list[str] = field(default_factory=list)
    records: int = 0

    def open_tests(self) -> list[Test]:
        return [t for t in self.tests.values() if t.open]

    def cycles_spent(self) -> int:
        return sum(t.cycles_spent() for t in self.tests.values())

    def days_elapsed(self) -> float:
        t0 = datetime.fromisoformat(self.created)
        return (datetime.now(UTC) - t0).total_seconds() / 86400.0

    def observations(self):
        """Every observation as :class:`casip.campaign.Observation` (for the optimiser)."""
        from casip.campaign import Observation

        out = []
        for t in self.tests.values():
            for o in t.observations:
                out.append(
                    Observation(
                        point=dict(t.point),
                        values=dict(o["values"]),
                        sigma=dict(o.get("sigma") or {}),
                        kind=o["kind"],
                        candidate_id=t.id,
                        cycles=o.get("cycles"),
                    )
                )
        return out


def load_campaign(folder: Path) -> tuple[Campaign, dict]:
    """The campaign of a folder (its copy, relative paths read from the original folder)."""
    from casip.io import parse_yaml, read_text_file

    folder = Path(folder)
    path = folder / JOURNAL_FILE
    if not path.exists() or not (folder / CAMPAIGN_FILE).exists():
        raise CasipInputError(
            Problem(
                "DIR", "not a campaign folder", str(folder), "a folder made by casip campaign init"
            )
        )
    records, _ = read_records(path)
    if not records or records[0].get("type") != "init":
        raise CasipInputError(
            Problem(
                "DIR",
                "the journal has no init record",
                str(folder),
                "a folder made by casip campaign init",
            ),
            source=str(path),
        )
    init = records[0]
    text = read_text_file(folder / CAMPAIGN_FILE, "campaign file", 1_000_000)
    c = campaign_from_data(
        parse_yaml(text, str(folder / CAMPAIGN_FILE)),
        str(folder / CAMPAIGN_FILE),
        base_dir=init.get("base_dir"),
    )
    if c.fingerprint() != init.get("fingerprint"):
        raise CasipInputError(
            Problem(
                CAMPAIGN_FILE,
                "the campaign file was changed after init",
                c.fingerprint(),
                f"fingerprint {init.get('fingerprint')} (start a new campaign folder for a new "
                "campaign)",
            ),
            source=str(folder),
        )
    return c, init


def replay(folder: str | Path) -> State:
    """The state of a campaign folder: the replay of its journal's whole records."""
    folder = Path(folder)
    c, init = load_campaign(folder)
    records, torn = read_records(folder / JOURNAL_FILE)
    st = State(folder=folder, campaign=c, created=init["time"], records=len(records))
    if torn:
        st.notes.append(
            f"the journal ends with a torn record ({len(torn)} bytes, from an "
            "interrupted write); it is ignored and moved to journal.torn on the "
            "next write"
        )
    for rec in records[1:]:
        kind = rec.get("type")
        if kind == "batch":
            st.batches.append(
                {k: rec[k] for k in ("n", "seed", "time")}
                | {"tests": [p["id"] for p in rec["proposals"]]}
            )
            for p in rec["proposals"]:
                st.tests[p["id"]] = Test(
                    id=p["id"],
                    batch=rec["n"],
                    point=p["point"],
                    predicted=p.get("predicted", {}),
                    acquisition=p.get("acquisition"),
                    reason=p.get("reason", ""),
                )
        elif kind == "observation":
            st.tests[rec["planned_test"]].observations.append(rec)
        elif kind == "early_stop":
            st.tests[rec["planned_test"]].stopped = rec["reason"]
        elif kind == "close":
            st.closed = rec["reason"]
    return st


# ------------------------------------------------------------------------------ commands


def init(campaign_file: str | Path, folder: str | Path) -> State:
    """Start a campaign in ``folder`` (created) from ``campaign_file`` (validated first).

    Running it again with the same file is a no-op; a different campaign is refused.
    """
    from casip.campaign.spec import read_campaign
    from casip.io import read_text_file, write_text_atomic

    c = read_campaign(campaign_file)  # bad input: raised before anything is written
    folder = Path(folder)
    text = read_text_file(campaign_file, "campaign file", 1_000_000)
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder):
        copy = folder / CAMPAIGN_FILE
        if copy.exists() and copy.read_text(encoding="utf-8") != text:
            raise CasipInputError(
                Problem("--dir", "holds another campaign", str(folder), "an empty or new folder")
            )
        if not copy.exists():
            write_text_atomic(copy, text, overwrite=False)
        records, _ = read_records(folder / JOURNAL_FILE)
        if not records:
            append_record(
                folder,
                {
                    "type": "init",
                    "campaign": c.campaign_id,
                    "fingerprint": c.fingerprint(),
                    "base_dir": c.base_dir,
                    "source": str(Path(campaign_file).resolve()),
                },
            )
    return replay(folder)


def _budget_closure(st: State) -> str | None:
    b = st.campaign.budget
    if b.channels is not None and len(st.tests) >= b.channels:
        return f"channel budget spent ({len(st.tests)} of {b.channels} planned tests)"
    if b.cycles is not None and st.cycles_spent() >= b.cycles:
        return f"cycle budget spent ({st.cycles_spent()} of {b.cycles} cycles)"
    if b.days is not None and st.days_elapsed() >= b.days:
        return f"time budget spent ({st.days_elapsed():.1f} of {b.days:g} days)"
    return None


def propose(folder: str | Path, batch: int | None = None, more: bool = False) -> dict:
    """Propose the next batch of planned tests (or return the open one).

    Parameters
    ----------
    folder : path
        The campaign folder.
    batch : int, optional
        Tests in the batch (default: the campaign's ``batch``), within the channel budget.
    more : bool
        Propose a new batch even though tests are still open (they count as pending).

    Returns
    -------
    dict
        ``batch`` (its number), ``new`` (False when the open batch is returned), ``tests``
        (id, point, predicted, acquisition, reason), ``closed`` (the reason, if closed) and
        ``notes``.
    """
    from casip.campaign import propose as propose_points

    folder = Path(folder)
    if batch is not None and batch < 1:
        raise CasipInputError(Problem("--batch", "must be at least 1", batch, ">= 1"))
    with locked(folder):
        st = replay(folder)
        c = st.campaign
        if st.closed:
            return {
                "batch": None,
                "new": False,
                "tests": [],
                "closed": st.closed,
                "notes": st.notes,
            }
        open_tests = st.open_tests()
        if open_tests and not more:
            return {
                "batch": open_tests[0].batch,
                "new": False,
                "tests": [_test_row(t, _logs(c)) for t in open_tests],
                "closed": None,
                "notes": [
                    *st.notes,
                    f"{len(open_tests)} planned tests are still open "
                    "(no early or measured result): returned, not proposed again; "
                    "--more proposes more",
                ],
            }
        reason = _budget_closure(st)
        k = batch or c.batch
        if c.budget.channels is not None:
            k = min(k, c.budget.channels - len(st.tests))
        candidates = None
        if c.pool is not None:
            planned = {_key(t.point) for t in st.tests.values()}
            candidates = [p for p in c.pool if _key(p) not in planned]
            if not candidates and reason is None:
                reason = f"every one of the {len(c.pool)} pool candidates is planned"
            k = min(k, len(candidates))
        if reason is not None:
            append_record(folder, {"type": "close", "reason": reason})
            return {"batch": None, "new": False, "tests": [], "closed": reason, "notes": st.notes}
        n = len(st.batches) + 1
        seed = c.optimizer.seed + n  # a seed per batch: same seed + same journal, same batch
        proposals = propose_points(
            c.space(),
            c.objective_list(),
            c.constraint_list(),
            st.observations(),
            batch=k,
            pending=[dict(t.point) for t in open_tests],
            candidates=candidates,
            known_constraints=c.known_constraints(),
            seed=seed,
            backend=c.optimizer.backend,
        )
        first = len(st.tests) + 1
        rows = [
            {
                "id": f"PT-{c.campaign_id}-{first + i}",
                "point": _plain(p.point),
                "predicted": {k2: [_num(m), _num(s)] for k2, (m, s) in p.predicted.items()},
                "acquisition": _num(p.acquisition),
                "reason": p.reason,
            }
            for i, p in enumerate(proposals)
        ]
        append_record(folder, {"type": "batch", "n": n, "seed": seed, "proposals": rows})
    st = replay(folder)
    return {
        "batch": n,
        "new": True,
        "tests": [_test_row(st.tests[r["id"]], _logs(c)) for r in rows],
        "closed": None,
        "notes": st.notes,
    }


def _logs(c: Campaign) -> dict[str, bool]:
    return {o.name: o.log for o in c.objective_list()}


def _key(point: dict) -> str:
    return json.dumps({k: round(float(v), 9) for k, v in point.items()}, sort_keys=True)


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _plain(point: dict) -> dict:
    return {k: (float(v) if not isinstance(v, str) else v) for k, v in point.items()}


def _test_row(t: Test, logs: dict[str, bool] | None = None) -> dict:
    """A planned test as plain data; ``predicted`` is in the modelled space (log10 for log
    objectives), ``predicted_value`` in the quantity's units: [mean, mean - sd, mean + sd]."""
    logs = logs or {}
    shown = {}
    for k, ms in t.predicted.items():
        if ms[0] is None or ms[1] is None:
            continue
        m, sd = ms
        shown[k] = [10**m, 10 ** (m - sd), 10 ** (m + sd)] if logs.get(k) else [m, m - sd, m + sd]
    return {
        "id": t.id,
        "batch": t.batch,
        "status": t.status,
        "point": t.point,
        "predicted": t.predicted,
        "predicted_value": shown,
        "acquisition": t.acquisition,
        "reason": t.reason,
        "stopped": t.stopped,
        "cycles": t.cycles_spent(),
        "evidence": [
            {
                k: o.get(k)
                for k in ("kind", "values", "sigma", "cycles", "low", "high", "coverage", "source")
                if o.get(k) is not None
            }
            for o in t.observations
        ],
    }


def observe(
    folder: str | Path,
    test_id: str,
    kind: str,
    values: dict[str, float],
    *,
    sigma: dict[str, float] | None = None,
    cycles: int | None = None,
    interval: tuple[float, float] | None = None,
    source: str = "cli",
) -> dict:
    """Record evidence for a planned test; after an early prediction, maybe stop the test.

    Parameters
    ----------
    folder : path
        The campaign folder.
    test_id : str
        ``PT-<id>-<n>``.
    kind : {"simulation", "early", "measured"}
    values : dict
        Quantity -> value (raw units, e.g. cycles); names as in the campaign file.
    sigma : dict, optional
        Quantity -> 1-sd noise in the modelled space (log10 for log objectives). For an early
        prediction it is computed from ``interval`` at the campaign's coverage.
    cycles : int, optional
        Cycles of testing behind the evidence (the end of life for a measured life).
    interval : (low, high), optional
        The early prediction's interval of ``cycle_life``.
    source : str
        Where the evidence came from (a file, a hub test id, a command).

    Returns
    -------
    dict
        ``recorded`` (False when the identical observation was already in the journal),
        ``test`` (its row) and ``early_stop`` (the reason, or None).
    """
    from casip.campaign import early_stop
    from casip.campaign.evidence import sigma_from_interval

    folder = Path(folder)
    if kind not in KINDS:
        raise CasipInputError(Problem("kind", "unknown evidence kind", kind, ", ".join(KINDS)))
    with locked(folder):
        st = replay(folder)
        c = st.campaign
        if test_id not in st.tests:
            known = ", ".join(list(st.tests)[-8:]) or "none yet (run casip campaign propose)"
            raise CasipInputError(
                Problem("--planned-test", "no such planned test", test_id, f"one of {known}"),
                source=str(folder),
            )
        names = {o.name: o for o in c.objective_list()}
        vals: dict[str, float] = {}
        for name, v in values.items():
            q = result_quantity(c, name)
            v = float(v)
            if not math.isfinite(v) or (q == LIFE and v <= 0):
                raise CasipInputError(
                    Problem(
                        f"values.{name}",
                        "not a valid value",
                        v,
                        "a finite number (> 0 for cycle_life)",
                    )
                )
            vals[q] = v
        if not vals:
            raise CasipInputError(Problem("values", "no value given", expected="at least one"))
        sig = {quantity_name(k): float(s) for k, s in (sigma or {}).items()}
        rec: dict = {
            "type": "observation",
            "planned_test": test_id,
            "kind": kind,
            "values": vals,
            "source": source,
        }
        if kind == "early":
            if interval is None or LIFE not in vals:
                raise CasipInputError(
                    Problem(
                        "--low/--high",
                        "an early prediction needs its interval",
                        expected="--low L --high H",
                    )
                )
            lo, hi = float(interval[0]), float(interval[1])
            if not 0 < lo <= vals[LIFE] <= hi:
                raise CasipInputError(
                    Problem(
                        "--low/--high",
                        "the interval must contain the prediction",
                        f"{lo:g} <= {vals[LIFE]:g} <= {hi:g}",
                        "0 < low <= predicted life <= high",
                    )
                )
            log = names[LIFE].log if LIFE in names else True
            sig[LIFE] = sigma_from_interval(lo, hi, level=c.evidence.coverage, log=log)
            rec.update(low=lo, high=hi, coverage=c.evidence.coverage)
            cycles = cycles if cycles is not None else c.evidence.early_cycles
        if kind == "measured" and cycles is None and LIFE in vals:
            cycles = round(vals[LIFE])
        rec["sigma"] = sig
        rec["cycles"] = cycles
        t = st.tests[test_id]
        same = [
            o
            for o in t.observations
            if {k: o.get(k) for k in rec if k not in ("seq", "time")} == json.loads(json.dumps(rec))
        ]
        stop = None
        if not same:
            append_record(folder, rec)
        # evaluated whenever an early prediction is (re-)recorded, so that a kill between the
        # observation and its early stop is repaired by running the same command again
        if kind == "early" and c.evidence.early_stopping and not t.stopped:
            threshold = next((k.min for k in c.constraint_list() if k.name == LIFE), None)
            others = [o.life_bounds() for o in st.tests.values() if o.id != test_id]
            lows = [b[0] for b in others if b is not None]
            stop_it, why = early_stop(
                rec["low"],
                rec["high"],
                incumbent_low=max(lows) if lows else None,
                threshold=threshold,
            )
            if stop_it:
                append_record(
                    folder, {"type": "early_stop", "planned_test": test_id, "reason": why}
                )
                stop = why
    st = replay(folder)
    return {
        "recorded": not same,
        "test": _test_row(st.tests[test_id], _logs(st.campaign)),
        "early_stop": stop,
        "notes": st.notes,
    }


def load_early_model(path: str | Path):
    """A saved early-life model (``casip life train``) of any kind."""
    from casip.life import DischargeModel, FullModel, VarianceModel

    classes = {c.__name__: c for c in (VarianceModel, DischargeModel, FullModel)}
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CasipInputError(
            Problem(
                "--model",
                f"cannot read the model: {exc}",
                str(path),
                "a model saved by casip life train",
            )
        ) from None
    cls = classes.get(d.get("model") if isinstance(d, dict) else None)
    if cls is None:
        raise CasipInputError(
            Problem("--model", "not a saved early-life model", str(path), ", ".join(classes))
        )
    return cls.load(path)


def predict_from_test(
    test: str, model_path: str | Path, coverage: float, store: str | Path | None = None
) -> dict:
    """Early prediction of a cycler test: a cycler file (any format ``casip data`` reads) or
    the id of a test in a data-hub store. See :func:`casip.life.from_hub.predict_test`."""
    from casip.life.from_hub import predict_stored, predict_test

    model = load_early_model(model_path)
    if Path(test).is_file():
        from casip.data import read

        r = predict_test(read(test), model, coverage=coverage, source=str(test))
        r["source"] = f"file {test}"
    else:
        from casip.data.store import Store

        root = Path(store) if store is not None else Path("casip-data")
        if not root.is_dir():
            raise CasipInputError(
                Problem(
                    "--test",
                    "neither a file nor a test of a store",
                    test,
                    f"a cycler file, or a test id in {root}",
                )
            )
        r = predict_stored(Store(root), test, model, coverage=coverage)
        r["source"] = f"hub test {r['test_id']}"
    return r


def simulate(folder: str | Path, test_ids: list[str] | None = None) -> dict:
    """Evaluate planned tests with the project's models; recorded as ``simulation`` evidence.

    Design quantities (and ``cycle_life`` as the ageing model's ``cycles_to_80`` under the
    campaign's ``life`` duty) come from :func:`casip.explore.objectives.evaluate_points` at the
    design parameters of each test; protocol parameters have no physics model here, so a
    protocol-only campaign gets only its known quantities (not recorded: they are computed
    from the point whenever needed).

    Returns
    -------
    dict
        ``simulated`` (test id -> values), ``skipped`` (id -> reason), ``not_modelled``.
    """
    from casip.campaign.spec import study_from_campaign
    from casip.explore.objectives import evaluate_points, study_payload

    folder = Path(folder)
    st = replay(folder)
    c = st.campaign
    ids = test_ids or [
        t.id
        for t in st.tests.values()
        if not any(o["kind"] == "simulation" for o in t.observations)
    ]
    unknown = [i for i in ids if i not in st.tests]
    if unknown:
        raise CasipInputError(
            Problem(
                "--planned-test",
                "no such planned test",
                unknown[0],
                "an id from casip campaign status",
            )
        )
    wanted = [quantity_name(n) for n in [*c.objectives, *c.constraints]]
    wanted = [q for q in dict.fromkeys(wanted) if q not in c.known_names()]
    dparams = c.design_parameters()
    if not dparams or c.design is None:
        return {
            "simulated": {},
            "skipped": {},
            "not_modelled": wanted,
            "notes": ["no design parameters: the models have nothing to evaluate"],
        }
    study = study_from_campaign(c)
    rows = evaluate_points(
        study_payload(study), [{n: st.tests[i].point[n] for n in dparams} for i in ids]
    )
    done, skipped = {}, {}
    with locked(folder):
        for i, row in zip(ids, rows, strict=True):
            if row.get("error"):
                skipped[i] = row["error"]
                continue
            vals = {}
            for q in wanted:
                v = row.get("cycles_to_80" if q == LIFE else q)
                if v is not None and math.isfinite(float(v)) and not (q == LIFE and v <= 0):
                    vals[q] = float(v)
            if not vals:
                skipped[i] = "no finite value"
                continue
            append_record(
                folder,
                {
                    "type": "observation",
                    "planned_test": i,
                    "kind": "simulation",
                    "values": vals,
                    "sigma": {},
                    "cycles": None,
                    "source": "casip.explore.objectives",
                },
            )
            done[i] = vals
    return {
        "simulated": done,
        "skipped": skipped,
        "not_modelled": [],
        "notes": replay(folder).notes,
    }


def best(folder: str | Path) -> dict:
    """The current best planned test(s) with the posterior mean and sd (noisy incumbent).

    Returns
    -------
    dict
        ``best``: a list (one entry per objective-space non-dominated incumbent; one entry for
        a single objective) of ``planned_test``, ``point``, ``posterior`` (name -> [mean, sd]
        in the modelled space) and ``value`` (name -> [mean, low, high] in the quantity's own
        units, +-1 sd; for a log objective ``10**(mean -+ sd)``); None before any evidence.
    """
    from casip.campaign import best as best_point

    st = replay(folder)
    c = st.campaign
    obs = st.observations()
    objectives = c.objective_list()
    names = {o.name for o in objectives}
    if not any(names & set(o.values) for o in obs):
        return {"best": None, "notes": [*st.notes, "no evidence on the objectives yet"]}
    found = best_point(c.space(), objectives, obs, constraints=c.constraint_list(),
                       known_constraints=c.known_constraints(), seed=c.optimizer.seed)
    found = found if isinstance(found, list) else [found]
    logs = {o.name: o.log for o in objectives}
    rows = []
    for inc in found:
        tid = next((t.id for t in st.tests.values() if _key(t.point) == _key(inc.point)), None)
        value = {}
        for k, m in inc.mean.items():
            sd = inc.sd[k]
            value[k] = ([10**m, 10 ** (m - sd), 10 ** (m + sd)] if logs.get(k)
                        else [m, m - sd, m + sd])
        rows.append({"planned_test": tid, "point": _plain(inc.point),
                     "posterior": {k: [inc.mean[k], inc.sd[k]] for k in inc.mean},
                     "value": value})
    return {"best": _jsonable(rows), "notes": st.notes}


def _jsonable(x):
    """Core's answers (dataclasses, tuples, numpy numbers) as plain JSON values."""
    import dataclasses

    import numpy as np

    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _jsonable(dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def status(folder: str | Path) -> dict:
    """What was proposed, tested, predicted, stopped and learned; budget; current best."""
    st = replay(folder)
    c = st.campaign
    tests = [_test_row(t, _logs(c)) for t in st.tests.values()]
    counts = {
        s: sum(1 for t in tests if t["status"] == s)
        for s in ("planned", "predicted", "measured", "stopped")
    }
    b = c.budget
    out = {
        "campaign": c.name,
        "id": c.campaign_id,
        "folder": str(st.folder),
        "created": st.created,
        "closed": st.closed,
        "batches": len(st.batches),
        "tests": tests,
        "counts": counts,
        "budget": {
            "channels": [len(st.tests), b.channels],
            "cycles": [st.cycles_spent(), b.cycles],
            "days": [round(st.days_elapsed(), 3), b.days],
        },
        "observations": sum(len(t.observations) for t in st.tests.values()),
        "notes": list(st.notes),
    }
    out["best"] = best(folder)["best"]
    return out


__all__ = [
    "CAMPAIGN_FILE",
    "JOURNAL_FILE",
    "State",
    "Test",
    "append_record",
    "best",
    "init",
    "observe",
    "predict_from_test",
    "propose",
    "read_records",
    "replay",
    "simulate",
    "status",
]
