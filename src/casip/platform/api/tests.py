"""Test datasets (uploaded cycler files): upload, list, read, share, delete, cycles, curves.

Upload: ``POST /api/tests?filename=<URL-encoded name>`` with the file's bytes as the raw
request body (``Content-Type: application/octet-stream``, no multipart); optional query
parameters ``name``, ``visibility`` (default ``private``), ``benchmark_opt_in`` and, for lab
cells judged per gram and per area, ``active_mass_g`` and ``electrode_area_cm2`` (stored in the
dataset's ``details["cell"]``; they override what the file itself records). A browser
sends it with ``XMLHttpRequest`` to show progress::

    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/tests?filename=" + encodeURIComponent(file.name)
                     + "&visibility=private");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken);          // cookie sessions
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => show(e.loaded / e.total);
    xhr.send(file);                                           // a File from <input type=file>

Answers 201 with the dataset (200 with ``"duplicate": true`` when the organisation already has
the same file). See :mod:`casip.platform.uploads` for the checks.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from casip.data import plots
from casip.data.store import Store
from casip.errors import CasipInputError, Problem
from casip.platform import access, campaigns, design_tests, uploads
from casip.platform.deps import CommitRoute, CurrentActor, DbSession, platform_of
from casip.platform.models import TestDataset
from casip.platform.pagination import PageParams, page_params, paginate
from casip.platform.problems import ApiProblem

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["test data"])

VisibilityName = Literal["private", "consortium", "public"]
#: Most points per curve (one cycle, one branch) sent to the browser.
MAX_CURVE_POINTS = 500
#: Most cycles in one curves request.
MAX_CURVE_CYCLES = 20
#: A cycle lasting, or moving charge, less than this fraction of the median cycle is a stub.
STUB_FRACTION = 0.02
#: A cycle moving less than this fraction of the median cycle's charge is incomplete.
INCOMPLETE_FRACTION = 0.25
#: Below this fraction of the median, a cycle has no charge (or no discharge) at all.
NONE_FRACTION = 1e-3
#: Largest accepted active mass [g] and electrode area [cm2] (a large pouch cell's stack).
MAX_ACTIVE_MASS_G = 10_000.0
MAX_ELECTRODE_AREA_CM2 = 1_000_000.0
#: Highest cells-in-series an upload may declare (a 1000 V string of 1 V cells; an assumption).
MAX_CELLS_IN_SERIES = 1000
_CURVE_COLUMNS = (
    "cycle_count",
    "current_ampere",
    "voltage_volt",
    "charging_capacity_ah",
    "discharging_capacity_ah",
)


class VisibilityIn(BaseModel):
    visibility: VisibilityName
    benchmark_opt_in: bool | None = None


def _store(request: Request) -> Store:
    return Store(platform_of(request).settings.store_dir)


def _stored(request: Request, row: TestDataset):
    """The stored folder of a dataset (a 404 problem if it has gone missing)."""
    folder = _store(request).tests_dir / f"test_id={row.store_test_id}"
    if not folder.is_dir():
        raise ApiProblem(404, f"the stored data of test {row.id} is missing; ask an administrator")
    return folder


@router.post(
    "/tests",
    status_code=201,
    summary="Upload a cycler file (raw request body; see the description)",
    description=(
        "Send the file's bytes as the request body (`Content-Type: application/octet-stream`) "
        "and its name in `?filename=`. A `.zip` holding exactly one cycler file is accepted. "
        "Answers 201 with the dataset, or 200 with `duplicate: true` when your organisation "
        "already uploaded the same file."
    ),
)
async def upload_test(
    request: Request,
    response: Response,
    actor: CurrentActor,
    s: DbSession,
    filename: str = Query(..., description="the file's name (a display label only)"),
    name: str | None = Query(None, description="dataset name (default: the file name)"),
    visibility: VisibilityName = Query("private"),
    benchmark_opt_in: bool = Query(False),
    active_mass_g: float | None = Query(
        None,
        gt=0,
        le=MAX_ACTIVE_MASS_G,
        description="active material mass of the cell's working electrode [g] (optional)",
    ),
    electrode_area_cm2: float | None = Query(
        None,
        gt=0,
        le=MAX_ELECTRODE_AREA_CM2,
        description="electrode area of the cell [cm2] (optional)",
    ),
    cell_configuration: Literal["full", "half", "symmetric"] | None = Query(
        None, description="full, half (against lithium) or symmetric cell (optional): what "
        "the voltage range is judged against (a flag, never a refusal)"
    ),
    cells_in_series: int | None = Query(
        None, ge=1, le=MAX_CELLS_IN_SERIES,
        description="cells in series in the tested unit (optional, default 1): the "
        "plausible voltage is up to 5 V per cell",
    ),
    planned_test: str | None = Query(
        None, max_length=40,
        description="the campaign's planned test this file answers (PT-<n>, optional; "
        "checked before the file is received: 422 naming planned_test when it is not an open "
        "planned test of your organisation). Without it, a PT-<n> in the file name, dataset "
        "name or cell barcode is returned as `planned_test_suggestion`, never applied",
    ),
) -> dict:
    access.require_create(actor)
    uploads.check_filename(filename)
    label = uploads.check_label(name, "name") if name is not None else None
    if planned_test is not None:  # issue 18: checked before the body is received
        campaigns.check_planned_test(s, actor, planned_test)
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise ApiProblem(
            415,
            "send the file as the raw request body (application/octet-stream) with "
            "?filename=..., not as a multipart form",
        )
    settings = platform_of(request).settings
    await run_in_threadpool(s.commit)  # release the connection while the body arrives
    received = await uploads.receive(
        request.stream(), filename, settings, request.headers.get("content-length")
    )
    try:
        row, created = await run_in_threadpool(
            uploads.ingest,
            s,
            actor,
            settings,
            received,
            name=label,
            visibility=visibility,
            benchmark_opt_in=benchmark_opt_in,
            metadata={k: v for k, v in (("cell_configuration", cell_configuration),
                                        ("cells_in_series", cells_in_series)) if v is not None},
        )
    finally:
        received.discard()
    if created and (active_mass_g is not None or electrode_area_cm2 is not None):
        await run_in_threadpool(_store_cell, s, row, active_mass_g, electrode_area_cm2)
    if not created:
        response.status_code = 200
    out = {**uploads.full(row), "duplicate": not created}
    out.update(await run_in_threadpool(_campaign_link, s, actor, row, planned_test, filename,
                                       label))
    return out


def _campaign_link(s, actor, row: TestDataset, planned_test: str | None, filename: str,
                   label: str | None) -> dict:
    """Link the dataset to the planned test the upload names (issue 18), or suggest one."""
    if planned_test is None:
        meta = (row.details or {}).get("metadata") or {}
        hint = campaigns.suggest_planned_test(
            s, actor, filename, label, *(str(meta.get(k) or "") for k in ("cell_id", "barcode"))
        )
        return {"planned_test": None, "planned_test_suggestion": hint}
    pt = campaigns.check_planned_test(s, actor, planned_test)  # again: it may have changed
    linked = campaigns.link_test(s, actor, pt, row)
    s.commit()
    return {"planned_test": linked, "planned_test_suggestion": None}


def _store_cell(
    s, row: TestDataset, active_mass_g: float | None, electrode_area_cm2: float | None
) -> None:
    """Record the cell's active mass and electrode area given at upload in ``details``."""
    cell = {"active_mass_g": active_mass_g, "electrode_area_cm2": electrode_area_cm2}
    row.details = {**(row.details or {}), "cell": cell}  # a new dict: the change is tracked
    s.commit()


def cell_basis(row: TestDataset) -> dict:
    """The active mass [g] and electrode area [cm2] of a dataset's cell, where known.

    What was given at upload (``details["cell"]``) wins over what the cycler file records
    (``details["metadata"]``).

    Returns
    -------
    dict
        ``active_mass_g``, ``electrode_area_cm2`` (float or None) and ``active_mass_source``,
        ``electrode_area_source`` (``"upload"``, ``"file"`` or None).
    """
    details = row.details or {}
    out: dict = {}
    for key, source_key in (
        ("active_mass_g", "active_mass_source"),
        ("electrode_area_cm2", "electrode_area_source"),
    ):
        out[key], out[source_key] = None, None
        for where, part in (("upload", details.get("cell")), ("file", details.get("metadata"))):
            v = (part or {}).get(key)
            if isinstance(v, (int, float)) and np.isfinite(v) and v > 0:
                out[key], out[source_key] = float(v), where
                break
    return out


def classify_cycles(df) -> list[tuple[str | None, str | None]]:
    """Mark stub and incomplete cycles of a cycle table: one ``(flag, reason)`` per row.

    The median cycle (over the cycles that move charge) is the yardstick:

    - ``"stub"``: lasts less than :data:`STUB_FRACTION` of the median cycle's duration or moves
      less than that fraction of its charge (charge plus discharge capacity), e.g. a 15 ms
      cycle left by a step change;
    - ``"incomplete"``: no discharge, no charge while the median cycle has some (a half
      cycle), or less than :data:`INCOMPLETE_FRACTION` of the median cycle's charge throughput
      (an interrupted cycle).

    Full cycles get ``(None, None)``. Duration alone never makes a cycle incomplete (rate
    tests have short fast cycles); capacity fade down to a quarter of the median is not
    flagged.

    Parameters
    ----------
    df : pandas.DataFrame
        The store's cycle table (``duration_second``, ``charge_capacity_ah``,
        ``discharge_capacity_ah``).

    Returns
    -------
    list of (str or None, str or None)
        The flag and a human-readable reason, in the table's row order.
    """

    def col(name: str) -> np.ndarray:
        if name not in df:
            return np.full(len(df), np.nan)
        return np.abs(df[name].to_numpy(dtype=float))

    dur, qc, qd = col("duration_second"), col("charge_capacity_ah"), col("discharge_capacity_ah")
    through = np.nan_to_num(qc) + np.nan_to_num(qd)
    moving = through > 0

    def median(a: np.ndarray) -> float:
        a = a[moving & np.isfinite(a)]
        return float(np.median(a)) if len(a) else float("nan")

    m_dur, m_thr, m_qc, m_qd = median(dur), median(through), median(qc), median(qd)
    out: list[tuple[str | None, str | None]] = []
    for i in range(len(df)):
        if len(df) > 1 and m_dur > 0 and np.isfinite(dur[i]) and dur[i] < STUB_FRACTION * m_dur:
            out.append(
                (
                    "stub",
                    f"lasts {_duration_text(dur[i])}, the median cycle {_duration_text(m_dur)}",
                )
            )
        elif len(df) > 1 and m_thr > 0 and through[i] < STUB_FRACTION * m_thr:
            if through[i] > 0:
                reason = f"moves {100 * through[i] / m_thr:.1f} % of the median cycle's charge"
            else:
                reason = "moves no charge"
            out.append(("stub", reason))
        elif not np.isfinite(qd[i]) or qd[i] <= NONE_FRACTION * (m_qd if m_qd > 0 else 0):
            out.append(("incomplete", "no discharge"))
        elif m_qc > 0 and not (qc[i] > NONE_FRACTION * m_qc):
            out.append(("incomplete", "no charge (a discharge only)"))
        elif len(df) > 1 and m_thr > 0 and through[i] < INCOMPLETE_FRACTION * m_thr:
            out.append(
                (
                    "incomplete",
                    f"moves {100 * through[i] / m_thr:.0f} % of the median cycle's charge",
                )
            )
        else:
            out.append((None, None))
    return out


def _duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


@router.get("/tests", summary="Test datasets you may read")
def list_tests(
    actor: CurrentActor,
    s: DbSession,
    q: str | None = Query(None, max_length=100, description="text in the name"),
    mine: bool = Query(False, description="only your organisation's"),
    page: PageParams = Depends(page_params),
) -> dict:
    stmt = access.readable(actor, "test")
    if q:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(TestDataset.name.ilike(f"%{like}%", escape="\\"))
    if mine:
        stmt = stmt.where(TestDataset.owner_org_id == actor.org_id)
    return paginate(s, stmt.order_by(TestDataset.id), page, uploads.summary)


@router.get("/tests/{test_id}", summary="One dataset with its metadata, warnings and provenance")
def get_test(test_id: int, actor: CurrentActor, s: DbSession) -> dict:
    row = access.get_for_read(s, actor, "test", test_id)
    # the designs it is attached to that the reader may read (casip.platform.design_tests)
    return {**uploads.full(row), "designs": design_tests.attached_designs(s, actor, row.id)}


@router.patch("/tests/{test_id}/visibility", summary="Share or unshare a dataset (audited)")
def test_visibility(test_id: int, body: VisibilityIn, actor: CurrentActor, s: DbSession) -> dict:
    return uploads.summary(
        access.set_visibility(s, actor, "test", test_id, body.visibility, body.benchmark_opt_in)
    )


@router.delete("/tests/{test_id}", summary="Delete a dataset (and its stored data if unused)")
def delete_test(test_id: int, request: Request, actor: CurrentActor, s: DbSession) -> dict:
    uploads.delete(s, actor, platform_of(request).settings, test_id)
    return {"deleted": test_id}


@router.get("/tests/{test_id}/cycles", summary="The cycle summary table (one record per cycle)")
def test_cycles(test_id: int, request: Request, actor: CurrentActor, s: DbSession) -> dict:
    row = access.get_for_read(s, actor, "test", test_id)
    _stored(request, row)
    df = _store(request).table(row.store_test_id, "cycles")
    records = uploads.records(df)
    for rec, (flag, reason) in zip(records, classify_cycles(df), strict=True):
        rec["flag"] = flag
        rec["flag_reason"] = reason
    return {
        "test_id": row.id,
        "columns": list(df.columns),
        "cycles": records,
        **cell_basis(row),
    }


def _parse_cycles(spec: str) -> list[int]:
    try:
        wanted = plots.parse_cycles(spec)
    except CasipInputError as exc:
        p = exc.problems[0]
        raise CasipInputError(Problem("cycles", p.message, p.value, p.expected)) from None
    if not wanted or len(wanted) > MAX_CURVE_CYCLES:
        raise CasipInputError(
            Problem("cycles", f"{len(wanted)} cycles", spec, f"1 to {MAX_CURVE_CYCLES} cycles")
        )
    return wanted


@router.get(
    "/tests/{test_id}/curves",
    summary=f"Voltage against capacity of some cycles (at most {MAX_CURVE_POINTS} points each)",
)
def test_curves(
    test_id: int,
    request: Request,
    actor: CurrentActor,
    s: DbSession,
    cycles: str | None = Query(
        None,
        max_length=200,
        description="e.g. 1,10,50 or 1-5; default: the 1st, 2nd, 10th, 100th and last full cycle",
    ),
) -> dict:
    row = access.get_for_read(s, actor, "test", test_id)
    folder = _stored(request, row)
    wanted = _parse_cycles(cycles) if cycles else None
    path = folder / "timeseries.parquet"
    present = pq.read_table(path, columns=["cycle_count"]).column(0).to_numpy()
    import pandas as pd

    candidates = np.unique(present)
    if wanted is None:  # the default picks leave out stub and incomplete cycles
        table = _store(request).table(row.store_test_id, "cycles")
        full = [
            int(c)
            for c, (flag, _) in zip(table["cycle_count"], classify_cycles(table), strict=True)
            if flag is None
        ]
        if full and set(full) & set(candidates.tolist()):
            candidates = np.array([c for c in candidates if int(c) in set(full)])
    chosen = plots.select_cycles(pd.DataFrame({"cycle_count": candidates}), wanted)
    ts = pq.read_table(
        path,
        columns=list(_CURVE_COLUMNS),
        filters=[("cycle_count", "in", chosen)] if chosen else None,
    ).to_pandas()
    table = plots.voltage_capacity_curves(ts, chosen, max_points=MAX_CURVE_POINTS)
    curves = []
    for (cycle, branch), part in table.groupby(["cycle_count", "branch"], sort=False):
        x: list[float | None] = []
        y: list[float | None] = []
        prev = None
        for seg, cap, v in zip(
            part["segment"].to_numpy(),
            part["capacity_ah"].to_numpy(dtype=float),
            part["voltage_volt"].to_numpy(dtype=float),
            strict=True,
        ):
            if prev is not None and seg != prev:  # a break between runs: not drawn
                x.append(None)
                y.append(None)
            prev = seg
            x.append(float(cap) if np.isfinite(cap) else None)
            y.append(float(v) if np.isfinite(v) else None)
        curves.append({"cycle": int(cycle), "branch": branch, "capacity_ah": x, "voltage_volt": y})
    curves.sort(key=lambda c: (chosen.index(c["cycle"]), c["branch"]))
    return {"test_id": row.id, "cycles": chosen, "curves": curves}


@router.get("/tests/{test_id}/export", summary="The cycle table as CSV (audited as an export)")
def export_test(test_id: int, request: Request, actor: CurrentActor, s: DbSession) -> Response:
    row = access.get_for_read(s, actor, "test", test_id, purpose="export")
    _stored(request, row)
    df = _store(request).table(row.store_test_id, "cycles")
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="test-{row.id}-cycles.csv"'},
    )
