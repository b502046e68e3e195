"""The consortium benchmark and the roadmap, served from the scheduled differentially private
releases (rules in :mod:`casip.platform.benchmarking`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from casip.platform import benchmarking as bm
from casip.platform import releases
from casip.platform.data_version import VersionedCache, json_bytes
from casip.platform.deps import CommitRoute, CurrentActor, DbSession, platform_of
from casip.platform.problems import ApiProblem

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["benchmark"])

#: answers per (organisation, sponsor or not, query, latest release) while the data do not
#: change: the released part is the same for everyone and the own part is the organisation's.
#: Every finished simulation moves the ``items`` version and a rebuild runs about ten queries
#: (20-40 ms, more under load), so requests arriving during a rebuild get the previous answer
#: rather than queueing behind it (bench_platform_scale.py: p95 of this endpoint 2.5x the
#: static file's while jobs finish every few seconds, without it)
_ANSWERS = VersionedCache(max_age_s=30.0, stale_while_building=True)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


OwnLimit = Annotated[
    int,
    Query(
        ge=0, le=bm.OWN_LIMIT_MAX, description="at most this many own items per KPI, newest first"
    ),
]

IncludeFlagged = Annotated[
    bool,
    Query(
        description="list your flagged test datasets among your own items too (they never "
        "count in the releases); by default they are left out and `flagged_left_out` counts them"
    ),
]


def _settings(request: Request):
    return platform_of(request).settings


def _unknown(exc: bm.UnknownKpi, status: int) -> ApiProblem:
    return ApiProblem(
        status,
        str(exc),
        errors=[
            {
                "field": "kpi",
                "message": "unknown KPI",
                "value": exc.name[:100],
                "expected": "one of " + ", ".join(exc.allowed),
            }
        ],
    )


@router.get(
    "/benchmark",
    summary="The latest private releases of every KPI, with your own items placed",
)
def get_benchmark(
    request: Request,
    actor: CurrentActor,
    s: DbSession,
    kpi: Annotated[
        list[str] | None,
        Query(max_length=len(bm.KPIS), description="only these KPIs (repeat the parameter)"),
    ] = None,
    own_limit: OwnLimit = bm.OWN_LIMIT,
    include_flagged: IncludeFlagged = False,
) -> dict:
    names = tuple(kpi) if kpi else None
    settings = _settings(request)
    key = (
        "benchmark",
        actor.org_id,
        actor.is_sponsor,
        releases.latest_id(s),
        names,
        own_limit,
        include_flagged,
    )
    try:
        return _json(
            _ANSWERS.get(
                s,
                key,
                lambda: json_bytes(
                    bm.benchmark(s, actor, settings, names, own_limit, include_flagged)
                ),
            )
        )
    except bm.UnknownKpi as exc:
        raise _unknown(exc, 422) from None


@router.get("/benchmark/{kpi}", summary="The latest private release of one KPI")
def get_benchmark_kpi(
    request: Request,
    actor: CurrentActor,
    s: DbSession,
    kpi: Annotated[str, Path(max_length=64, description="one of " + ", ".join(bm.KPIS))],
    own_limit: OwnLimit = bm.OWN_LIMIT,
    include_flagged: IncludeFlagged = False,
) -> dict:
    try:
        out = bm.benchmark(s, actor, _settings(request), [kpi], own_limit, include_flagged)
    except bm.UnknownKpi as exc:
        raise _unknown(exc, 404) from None
    return {"k": out["k"], "privacy": out["privacy"], **out["kpis"][0]}


@router.get("/roadmap", summary="Consortium progress per quarter against the CASIP stages")
def get_roadmap(request: Request, actor: CurrentActor, s: DbSession) -> Response:
    key = ("roadmap", releases.latest_id(s))
    return _json(_ANSWERS.get(s, key, lambda: json_bytes(bm.roadmap(s, actor, _settings(request)))))
