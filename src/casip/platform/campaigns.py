"""Closed-loop campaigns in the platform (issue 18): proposals become planned tests.

A member posts a ``casip.campaign/1`` document (validated by :mod:`casip.campaign.spec`, the
same checks as ``casip campaign init``); ``propose`` runs :func:`casip.campaign.propose` over
the campaign's observations and stores the batch as planned tests ``PT-<id>`` (the id is the
row's, unique in the platform, so an upload names it without its campaign). An upload names
the planned test it answers (``planned_test``, :func:`check_planned_test`); once the linked
test dataset has the cycles the early predictor needs, an early prediction job stores the
prediction as ``early`` evidence (its interval as observation noise,
:func:`casip.campaign.sigma_from_interval`) and applies :func:`casip.campaign.early_stop`.
A measured end of life is entered with :func:`record_result`. Simulation evidence: after a
batch is stored (in the proposal job) and on demand (:func:`simulate`), the open planned tests
of a campaign with design parameters are evaluated with the function behind ``casip campaign
simulate`` (:func:`simulate_points`) and stored as ``simulation`` observations without sigma
(:mod:`casip.campaign.evidence` adds the offset or model error); a protocol-only campaign gets
none (:data:`NO_SIMULATION`, in the detail's ``simulation.note``).

Rules, on top of :mod:`casip.platform.access`:

* a campaign, its planned tests and its observations are private to the owner organisation,
  always (they have no visibility of their own and are never counted in an aggregate); any
  other organisation gets 404, as for a missing id;
* writes (create, propose, simulate, result, cancel) need an engineer or admin of the owner
  (403 for a viewer of the owner);
* the test datasets that answer planned tests are ordinary test datasets: private unless the
  member shares them or opts them in to the benchmark, like any other upload;
* every write is in the audit log (``campaign_create``, ``campaign_propose``,
  ``campaign_link_test``, ``campaign_early``, ``campaign_result``, ``campaign_cancel_test``,
  ``campaign_simulate``; item kind ``campaign``).

Proposals and early predictions run as jobs (kinds ``campaign_propose`` and
``campaign_early``, :mod:`casip.platform.jobs`): a proposal fits Gaussian processes and takes
0.05 s (space-filling first batch) to over a second (batch 8 after 12 results) on this
machine, too long for a request. Asking to propose again while a batch is open (a planned test
without early or measured evidence) or while the proposal job runs returns that batch or
job: nothing new is proposed (``more=True`` proposes beside the open tests, which count as
pending points).

The early-life model is the operator's: a model saved by ``casip life train`` named by
``CASIP_EARLY_LIFE_MODEL`` (read by the job); a campaign document may not name a file
(``evidence.model`` and a file ``design`` are refused: they would read the server's files).
The model's own N (``casip life train --cycles N``; 100 by default) decides when a linked
test is predicted (it has the discharges of cycles 2..N) and is the ``cycles`` of the early
observation (:func:`early_cycles_needed`); a campaign whose ``evidence.early_cycles`` differs
is not refused, its predictions say which N they used.
"""

from __future__ import annotations

import functools
import math
import os
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.platform import audit
from casip.platform.access import AccessDenied, Actor, NotFound, load
from casip.platform.jobs import JobContext, job_dict, register
from casip.platform.models import (
    Campaign,
    CampaignObservation,
    Job,
    JobStatus,
    PlannedTest,
    TestDataset,
    utcnow,
)

#: statuses of a planned test
STATUSES = ("proposed", "testing", "stopped", "done", "cancelled")
#: planned tests an upload may no longer name
CLOSED_STATUSES = ("done", "cancelled")
#: N of the early predictor when the server has no (readable) model: the paper's models use the
#: discharges of cycles 2..100 (casip.life.from_hub.hub_features). With a model, N is the
#: model's own (:func:`early_cycles_needed`).
EARLY_CYCLES_NEEDED = 100
#: cycles a linked test must have before a prediction is tried, for that default N: 2..100
#: (cycle 1, a formation or check-up cycle, may be absent from a file); N - 1 in general
EARLY_MIN_CYCLES = EARLY_CYCLES_NEEDED - 1
#: environment variable naming the operator's early-life model (``casip life train``)
MODEL_ENV = "CASIP_EARLY_LIFE_MODEL"
_PT = re.compile(r"^\s*(?:PT-)?(\d{1,10})\s*$", re.IGNORECASE)
_PT_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])PT-(\d{1,10})(?![0-9])", re.IGNORECASE)


def pt_label(pt_id: int) -> str:
    """The planned test's id as shown and accepted: ``PT-<row id>``."""
    return f"PT-{pt_id}"


# ------------------------------------------------------------------------------ documents


def check_document(document: Any):
    """Validate a posted ``casip.campaign/1`` document for the platform.

    Parameters
    ----------
    document : dict
        The campaign document (the fields of a campaign file).

    Returns
    -------
    casip.campaign.spec.Campaign
        The validated campaign.

    Raises
    ------
    CasipInputError
        Every check of ``casip campaign init`` (field, value, what was expected), plus: a
        ``design`` that is a file path and ``evidence.model`` (both would read the server's
        files; the early-life model is the operator's, ``CASIP_EARLY_LIFE_MODEL``).
    """
    from casip.campaign.spec import campaign_from_data

    if not isinstance(document, dict):
        raise CasipInputError(
            Problem(
                "campaign", "not an object", type(document).__name__, "a casip.campaign/1 object"
            )
        )
    design = document.get("design")
    if isinstance(design, str) and not design.startswith("ref:"):
        raise CasipInputError(
            Problem(
                "campaign.design",
                "file paths are not accepted on the platform",
                design,
                "ref:<reference cell> or an inline design document",
            )
        )
    evidence = document.get("evidence")
    if isinstance(evidence, dict) and evidence.get("model") is not None:
        raise CasipInputError(
            Problem(
                "campaign.evidence.model",
                "the platform uses its operator's early-life model; a campaign may not name a file",
                evidence.get("model"),
                "no evidence.model (leave it out)",
            )
        )
    try:
        return campaign_from_data(document, source="campaign")
    except CasipInputError as exc:
        raise CasipInputError(
            [
                Problem(
                    f"campaign.{p.field}" if p.field else "campaign", p.message, p.value, p.expected
                )
                for p in exc.problems
            ],
            source="campaign",
        ) from None


def spec_of(row: Campaign):
    """The stored document as a :class:`casip.campaign.spec.Campaign`."""
    from casip.campaign.spec import campaign_from_data

    return campaign_from_data(row.document, source=f"campaign {row.id}")


# ------------------------------------------------------------------------------ access


def get_campaign(s: Session, actor: Actor, campaign_id: Any, write: bool = False) -> Campaign:
    """The campaign if ``actor``'s organisation owns it, else :class:`NotFound` (404, as for
    a missing id); with ``write``, :class:`AccessDenied` (403) for a viewer of the owner."""
    row = load(s, Campaign, campaign_id)
    if row is None or row.owner_org_id != actor.org_id:
        raise NotFound("campaign", campaign_id)
    if write and not actor.can_create:
        raise AccessDenied(f"your role ({actor.role}) may not change campaign {row.id}")
    return row


def get_planned_test(s: Session, actor: Actor, campaign: Campaign, pt: Any) -> PlannedTest:
    """Planned test ``pt`` (``PT-12`` or ``12``) of ``campaign``, else :class:`NotFound`."""
    m = _PT.match(str(pt))
    row = load(s, PlannedTest, int(m.group(1))) if m else None
    if row is None or row.campaign_id != campaign.id:
        raise NotFound("planned test", pt)
    return row


def _audit(s: Session, action: str, actor: Actor | None, campaign: Campaign, detail: dict) -> None:
    audit.record(
        s,
        action,
        actor_user_id=actor.user_id if actor else None,
        actor_org_id=actor.org_id if actor else campaign.owner_org_id,
        item_kind="campaign",
        item_id=campaign.id,
        item_owner_org_id=campaign.owner_org_id,
        detail=detail,
    )


# ------------------------------------------------------------------------------ create/list


def create(s: Session, actor: Actor, document: Any) -> Campaign:
    """Create a campaign from a posted ``casip.campaign/1`` document (audited).

    Raises :class:`AccessDenied` for sponsors and viewers, :class:`CasipInputError` (422)
    naming the bad field of the document."""
    from casip.platform.access import require_create

    require_create(actor)
    spec = check_document(document)
    row = Campaign(
        owner_org_id=actor.org_id,
        created_by_id=actor.user_id or None,
        name=spec.name,
        document=spec.to_dict(),
        status="open",
        seed=spec.optimizer.seed,
    )
    s.add(row)
    s.flush()
    _audit(s, "campaign_create", actor, row, {"name": row.name})
    return row


def list_campaigns(s: Session, actor: Actor) -> list[dict]:
    """The actor's organisation's campaigns, newest first, with counts per status."""
    rows = (
        s.execute(
            sa.select(Campaign)
            .where(Campaign.owner_org_id == actor.org_id)
            .order_by(Campaign.id.desc())
        )
        .scalars()
        .all()
    )
    counts: dict[int, dict[str, int]] = {}
    if rows:
        for cid, status, n in s.execute(
            sa.select(PlannedTest.campaign_id, PlannedTest.status, sa.func.count())
            .where(PlannedTest.campaign_id.in_([r.id for r in rows]))
            .group_by(PlannedTest.campaign_id, PlannedTest.status)
        ):
            counts.setdefault(cid, {})[status] = n
    return [summary(r, counts.get(r.id, {})) for r in rows]


def summary(row: Campaign, counts: dict[str, int] | None = None) -> dict:
    """A campaign as lists show it."""
    return {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "closed_reason": row.closed_reason,
        "seed": row.seed,
        "planned_tests": dict(counts or {}),
        "created_at": row.created_at.isoformat() + "Z",
        "updated_at": row.updated_at.isoformat() + "Z",
        "links": {"api": f"/api/campaigns/{row.id}", "page": f"/campaigns/{row.id}"},
    }


# ------------------------------------------------------------------------------ evidence


def planned_tests(s: Session, campaign: Campaign) -> list[PlannedTest]:
    return list(
        s.execute(
            sa.select(PlannedTest)
            .where(PlannedTest.campaign_id == campaign.id)
            .order_by(PlannedTest.id)
        ).scalars()
    )


def observation_rows(s: Session, campaign: Campaign) -> list[CampaignObservation]:
    return list(
        s.execute(
            sa.select(CampaignObservation)
            .where(CampaignObservation.campaign_id == campaign.id)
            .order_by(CampaignObservation.id)
        ).scalars()
    )


def _observations(tests: list[PlannedTest], obs: list[CampaignObservation]):
    """The rows as :class:`casip.campaign.Observation` (for the optimiser)."""
    from casip.campaign import Observation

    by_id = {t.id: t for t in tests}
    return [
        Observation(
            point=dict(by_id[o.planned_test_id].point),
            values={k: float(v) for k, v in o.values.items()},
            sigma={k: float(v) for k, v in (o.sigma or {}).items()},
            kind=o.kind,
            candidate_id=pt_label(o.planned_test_id),
            cycles=o.cycles,
        )
        for o in obs
        if o.planned_test_id in by_id
    ]


def _is_open(t: PlannedTest, obs: list[CampaignObservation]) -> bool:
    """Still waiting for test evidence (as in the campaign journal: simulation evidence
    alone does not answer a planned test; stopped and cancelled tests are not open)."""
    if t.status not in ("proposed", "testing"):
        return False
    return not any(o.planned_test_id == t.id and o.kind != "simulation" for o in obs)


def _cycles_spent(tests: list[PlannedTest], obs: list[CampaignObservation]) -> int:
    per: dict[int, int] = {}
    for o in obs:
        if o.kind != "simulation":
            per[o.planned_test_id] = max(per.get(o.planned_test_id, 0), int(o.cycles or 0))
    return sum(per.values())


def _budget_closure(campaign: Campaign, spec, tests, obs) -> str | None:
    """Why the campaign's budget is spent (as the CLI journal decides), or None."""
    b = spec.budget
    if b.channels is not None and len(tests) >= b.channels:
        return f"channel budget spent ({len(tests)} of {b.channels} planned tests)"
    spent = _cycles_spent(tests, obs)
    if b.cycles is not None and spent >= b.cycles:
        return f"cycle budget spent ({spent} of {b.cycles} cycles)"
    days = (utcnow() - campaign.created_at).total_seconds() / 86400.0
    if b.days is not None and days >= b.days:
        return f"time budget spent ({days:.1f} of {b.days:g} days)"
    return None


def _key(point: dict) -> str:
    return repr(sorted((k, round(float(v), 9)) for k, v in point.items()))


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


# ------------------------------------------------------------------------------ simulation

#: where simulation evidence comes from (the models of ``casip explore`` studies)
SIMULATION_SOURCE = "casip.explore.objectives"
#: why a campaign gets no simulation evidence (the CLI's ``casip campaign simulate`` says so too)
NO_SIMULATION = (
    "no design parameters: the models have nothing to evaluate (charging-protocol parameters "
    "have no physics model here), so this campaign gets no simulation evidence"
)


def simulation_info(spec) -> dict:
    """What the models simulate for a campaign: ``quantities`` (the objectives and
    constraints the models give, not computed from the point itself) and ``note`` (why
    nothing is simulated, or None)."""
    from casip.campaign.spec import quantity_name

    wanted = [quantity_name(n) for n in [*spec.objectives, *spec.constraints]]
    wanted = [q for q in dict.fromkeys(wanted) if q not in spec.known_names()]
    if not spec.design_parameters() or spec.design is None:
        return {"quantities": [], "note": NO_SIMULATION}
    return {"quantities": wanted, "note": None}


def simulate_points(spec, points: list[dict]) -> tuple[list[dict | str], str | None]:
    """Evaluate points with the function behind ``casip campaign simulate``
    (:func:`casip.explore.objectives.evaluate_points` on the campaign's study: design
    quantities from the design engine, ``cycle_life`` as the ageing model's ``cycles_to_80``
    under the campaign's ``life`` duty).

    Parameters
    ----------
    spec : casip.campaign.spec.Campaign
        The campaign.
    points : list of dict
        Planned-test points (design and, possibly, protocol parameters).

    Returns
    -------
    (list, str or None)
        Per point the values ``{quantity: value}`` (finite ones only; a life > 0) or the reason
        there is none; and a note when the campaign gets no simulation at all (then the list
        is empty). No sigma: :mod:`casip.campaign.evidence` gives simulation evidence its
        noise (the offset to other evidence, or an assumed model error).
    """
    from casip.campaign.spec import LIFE, study_from_campaign
    from casip.explore.objectives import evaluate_points, study_payload

    info = simulation_info(spec)
    if info["note"] is not None:
        return [], info["note"]
    if not points:
        return [], None
    dparams = spec.design_parameters()
    try:
        rows = evaluate_points(
            study_payload(study_from_campaign(spec)),
            [{n: p[n] for n in dparams} for p in points],
        )
    except CasipInputError as exc:  # the problems only (a source may name server paths)
        why = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in exc.problems)
        return [f"the models cannot evaluate this campaign: {why}"] * len(points), None
    out: list[dict | str] = []
    for row in rows:
        if row.get("error"):
            out.append(str(row["error"]))
            continue
        vals = {}
        for q in info["quantities"]:
            v = row.get("cycles_to_80" if q == LIFE else q)
            if v is not None and math.isfinite(float(v)) and not (q == LIFE and v <= 0):
                vals[q] = float(v)
        out.append(vals if vals else "no finite value")
    return out, None


def _same_values(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(
        math.isclose(float(a[k]), float(b[k]), rel_tol=1e-12, abs_tol=0.0) for k in a
    )


def _store_simulations(
    s: Session,
    campaign: Campaign,
    tests: list[PlannedTest],
    results: list[dict | str],
    obs: list[CampaignObservation],
    actor: Actor | None = None,
) -> dict:
    """Store each planned test's simulated values as ``simulation`` evidence unless the same
    values are stored already (idempotent). Returns ``stored``, ``unchanged``, ``skipped``."""
    stored: dict[str, dict] = {}
    unchanged: list[str] = []
    skipped: dict[str, str] = {}
    for t, res in zip(tests, results, strict=True):
        label = pt_label(t.id)
        if isinstance(res, str):
            skipped[label] = res
            continue
        if any(
            o.planned_test_id == t.id and o.kind == "simulation" and _same_values(o.values, res)
            for o in obs
        ):
            unchanged.append(label)
            continue
        s.add(
            CampaignObservation(
                campaign_id=campaign.id,
                planned_test_id=t.id,
                kind="simulation",
                values=res,
                sigma={},  # the optimiser adds the offset / model error (casip.campaign.evidence)
                cycles=None,
                source_kind="simulation",
                source_id=None,
                created_by_id=actor.user_id if actor and actor.user_id else None,
            )
        )
        stored[label] = res
    s.flush()
    return {"stored": stored, "unchanged": unchanged, "skipped": skipped}


def simulate(s: Session, actor: Actor, campaign: Campaign) -> dict:
    """(Re)evaluate the campaign's open planned tests with the models and store the values as
    ``simulation`` evidence (audited when something is stored; idempotent: values already
    stored for a planned test are not stored again).

    Returns
    -------
    dict
        ``stored`` (planned test -> values), ``unchanged`` (planned tests whose values were
        stored already), ``skipped`` (planned test -> why not), ``quantities`` and ``note``
        (why a campaign gets no simulation evidence, e.g. a protocol-only one).
    """
    spec = spec_of(campaign)
    tests = planned_tests(s, campaign)
    obs = observation_rows(s, campaign)
    todo = [t for t in tests if _is_open(t, obs)]
    results, note = simulate_points(spec, [dict(t.point) for t in todo])
    out = {"stored": {}, "unchanged": [], "skipped": {}}
    if note is None:
        out = _store_simulations(s, campaign, todo, results, obs, actor)
        if out["stored"]:
            campaign.updated_at = utcnow()
            _audit(
                s, "campaign_simulate", actor, campaign, {"planned_tests": list(out["stored"])}
            )
    return {**out, "quantities": simulation_info(spec)["quantities"], "note": note}


# ------------------------------------------------------------------------------ propose


def propose(s: Session, actor: Actor, campaign: Campaign, more: bool = False) -> tuple[int, dict]:
    """Ask for the next batch (audited when a proposal job is queued).

    Returns
    -------
    (int, dict)
        HTTP status and body: 200 with the open batch (``new: false``) when planned tests
        still wait for evidence (unless ``more``); 202 with the proposal job (queued now, or
        the one already queued or running); 200 with ``closed`` when the budget is spent.
    """
    from casip.platform import runs

    spec = spec_of(campaign)
    tests = planned_tests(s, campaign)
    obs = observation_rows(s, campaign)
    if campaign.propose_job_id is not None:
        job = s.get(Job, campaign.propose_job_id)
        if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            return 202, {"new": False, "job": job_dict(job), "planned_tests": []}
    if campaign.status == "closed":
        return 200, {"new": False, "closed": campaign.closed_reason, "planned_tests": []}
    open_tests = [t for t in tests if _is_open(t, obs)]
    if open_tests and not more:
        return 200, {
            "new": False,
            "batch": open_tests[-1].batch,
            "planned_tests": [planned_test_dict(t) for t in open_tests],
            "note": f"{len(open_tests)} planned tests still wait for early or measured "
            "evidence: returned, not proposed again (more=true proposes beside them)",
        }
    reason = _budget_closure(campaign, spec, tests, obs)
    if reason is None and spec.pool is not None:
        planned = {_key(t.point) for t in tests}
        if not [p for p in spec.pool if _key(p) not in planned]:
            reason = f"every one of the {len(spec.pool)} pool candidates is planned"
    if reason is not None:
        campaign.status, campaign.closed_reason = "closed", reason
        s.flush()
        _audit(s, "campaign_close", actor, campaign, {"reason": reason})
        return 200, {"new": False, "closed": reason, "planned_tests": []}
    batch_no = max((t.batch for t in tests), default=0) + 1
    job = runs.new_job(
        s,
        actor.org_id,
        actor.user_id or None,
        "campaign_propose",
        {"campaign_id": campaign.id, "batch": batch_no, "more": bool(more)},
    )
    campaign.propose_job_id = job.id
    s.flush()
    _audit(s, "campaign_propose", actor, campaign, {"batch": batch_no, "job_id": job.id})
    return 202, {"new": True, "job": job_dict(job), "planned_tests": []}


@register("campaign_propose")
def run_propose(ctx: JobContext) -> tuple[str, int]:
    """Propose the batch and store it as planned tests (fenced: once per job)."""
    from casip.campaign import propose as propose_points

    cid, batch_no = int(ctx.params["campaign_id"]), int(ctx.params["batch"])
    with ctx.db.session() as s:
        campaign = s.get(Campaign, cid)
        if campaign is None:
            raise ValueError(f"campaign {cid} no longer exists")
        spec = spec_of(campaign)
        tests = planned_tests(s, campaign)
        obs = observation_rows(s, campaign)
        if any(t.batch >= batch_no for t in tests):  # stored by an earlier attempt
            ctx.done_message = f"done: batch {batch_no} was already stored"
            with ctx.fenced() as fs:
                ctx.complete(fs, "campaign", cid)
            return "campaign", cid
        observations = _observations(tests, obs)
        open_tests = [t for t in tests if _is_open(t, obs)]
        k = spec.batch
        if spec.budget.channels is not None:
            k = min(k, spec.budget.channels - len(tests))
        candidates = None
        if spec.pool is not None:
            planned = {_key(t.point) for t in tests}
            candidates = [p for p in spec.pool if _key(p) not in planned]
            k = min(k, len(candidates))
        seed = campaign.seed + batch_no  # a seed per batch, as the CLI journal
    ctx.progress(0.1, f"proposing batch {batch_no} from {len(observations)} observations")
    proposals = []
    if k > 0:
        proposals = propose_points(
            spec.space(),
            spec.objective_list(),
            spec.constraint_list(),
            observations,
            batch=k,
            pending=[dict(t.point) for t in open_tests],
            candidates=candidates,
            known_constraints=spec.known_constraints(),
            seed=seed,
            backend=spec.optimizer.backend,
        )
    # simulation evidence of the new planned tests (design campaigns; milliseconds a point)
    sims, sim_note = simulate_points(
        spec, [{k2: float(v) for k2, v in p.point.items()} for p in proposals]
    )
    with ctx.fenced() as s:
        campaign = s.get(Campaign, cid)
        new_tests = []
        for p in proposals:
            new_tests.append(
                PlannedTest(
                    campaign_id=cid,
                    owner_org_id=campaign.owner_org_id,
                    batch=batch_no,
                    point={k2: float(v) for k2, v in p.point.items()},
                    predicted={k2: [_num(m), _num(sd)] for k2, (m, sd) in p.predicted.items()},
                    acquisition=_num(p.acquisition),
                    reason=p.reason,
                    status="proposed",
                )
            )
        s.add_all(new_tests)
        campaign.updated_at = utcnow()
        s.flush()
        sim = {"stored": {}}
        if sim_note is None and new_tests:
            sim = _store_simulations(s, campaign, new_tests, sims, [])
        ctx.done_message = (
            f"done: batch {batch_no}, {len(proposals)} planned tests"
            + (f", {len(sim['stored'])} simulated" if sim_note is None else "")
        )
        ctx.complete(s, "campaign", cid)
    return "campaign", cid


# ------------------------------------------------------------------------------ uploads


def check_planned_test(s: Session, actor: Actor, value: Any) -> PlannedTest:
    """The planned test an upload names, checked before the file is received.

    Accepts ``PT-12`` or ``12``. Raises :class:`CasipInputError` (422) naming
    ``planned_test`` when it is malformed, does not exist or belongs to another organisation
    (the same message: nothing tells the two apart), or is done or cancelled."""
    m = _PT.match(str(value))
    row = load(s, PlannedTest, int(m.group(1))) if m else None
    if m is None:
        raise CasipInputError(
            Problem("planned_test", "not a planned-test id", value, "PT-<number>, e.g. PT-12")
        )
    if row is None or row.owner_org_id != actor.org_id:
        raise CasipInputError(
            Problem(
                "planned_test",
                "no such planned test in your organisation's campaigns",
                value,
                "the id of an open planned test (GET /api/campaigns/{id}/planned-tests)",
            )
        )
    if row.status in CLOSED_STATUSES:
        raise CasipInputError(
            Problem(
                "planned_test",
                f"planned test {pt_label(row.id)} is {row.status}: it takes no more test data",
                value,
                "a planned test that is not done or cancelled",
            )
        )
    return row


def suggest_planned_test(s: Session, actor: Actor, *texts: str | None) -> dict | None:
    """A planned test of the actor's organisation named in a file name, dataset name or cell
    barcode (``PT-<n>`` anywhere in it), that is not done or cancelled; never applied by
    itself (the upload answer and the form show it). None when there is none."""
    for text in texts:
        for m in _PT_IN_TEXT.finditer(text or ""):
            row = load(s, PlannedTest, int(m.group(1)))
            if (
                row is not None
                and row.owner_org_id == actor.org_id
                and row.status not in CLOSED_STATUSES
            ):
                return {
                    "planned_test": pt_label(row.id),
                    "campaign_id": row.campaign_id,
                    "from": text,
                }
    return None


def link_test(s: Session, actor: Actor, pt: PlannedTest, test: TestDataset) -> dict:
    """Link an uploaded test dataset to the planned test it answers (audited); queue an early
    prediction when it has the cycles the predictor needs.

    Returns the planned test as listed, with ``early_job`` (the queued job or None) and
    ``early_note`` (why no prediction was queued)."""
    from casip.platform import runs

    campaign = s.get(Campaign, pt.campaign_id)
    pt.test_id = test.id
    if pt.status == "proposed":
        pt.status = "testing"
    s.flush()
    _audit(
        s,
        "campaign_link_test",
        actor,
        campaign,
        {"planned_test": pt_label(pt.id), "test_id": test.id, "cycles": test.cycles},
    )
    job, note = None, None
    n = early_cycles_needed()
    if pt.status != "testing":
        note = f"{pt_label(pt.id)} is {pt.status}: no early prediction"
    elif test.cycles < n - 1:  # cycles 2..N (cycle 1 may be absent from a file)
        note = (
            f"{test.cycles} cycles: the early prediction needs the discharges of cycles "
            f"2 to {n}; upload the test again when it has them"
        )
    else:
        job = runs.new_job(
            s,
            actor.org_id,
            actor.user_id or None,
            "campaign_early",
            {"campaign_id": campaign.id, "planned_test_id": pt.id, "test_id": test.id},
        )
    return {
        **planned_test_dict(pt),
        "early_job": job_dict(job) if job else None,
        "early_note": note,
    }


def _early_model():
    """The operator's early-life model, or (None, why not)."""
    from casip.campaign.journal import load_early_model

    path = os.environ.get(MODEL_ENV, "")
    if not path:
        return None, (
            f"no early-life model on this server (the operator sets {MODEL_ENV} to a "
            "model saved by casip life train)"
        )
    try:
        return load_early_model(path), None
    except CasipInputError:
        return None, f"the server's early-life model ({MODEL_ENV}) cannot be read"


@functools.lru_cache(maxsize=4)
def _model_cycles(path: str, mtime_ns: int, size: int) -> int | None:
    """N of the model file at ``path`` (cached per file version), None if unreadable."""
    from casip.campaign.journal import load_early_model

    try:
        return load_early_model(path).last_cycle
    except CasipInputError:
        return None


def early_cycles_needed() -> int:
    """N of the server's early-life model: a linked test is predicted once it has the
    discharges of cycles 2..N (N - 1 cycles or more). The model's ``last_cycle`` (``casip life
    train --cycles N``), :data:`EARLY_CYCLES_NEEDED` (100) without a readable model."""
    path = os.environ.get(MODEL_ENV, "")
    try:
        st = os.stat(path) if path else None
    except OSError:
        st = None
    n = _model_cycles(path, st.st_mtime_ns, st.st_size) if st is not None else None
    return EARLY_CYCLES_NEEDED if n is None else n


@register("campaign_early")
def run_early(ctx: JobContext) -> tuple[str, int]:
    """Early-life prediction of a planned test's linked test dataset; early stop."""
    from casip.campaign import early_stop, sigma_from_interval
    from casip.campaign.spec import LIFE
    from casip.data.store import Store
    from casip.life.from_hub import predict_stored

    pid, tid = int(ctx.params["planned_test_id"]), int(ctx.params["test_id"])
    with ctx.db.session() as s:
        pt = s.get(PlannedTest, pid)
        test = s.get(TestDataset, tid)
        if pt is None or test is None:
            raise ValueError(f"planned test {pid} or test {tid} no longer exists")
        campaign = s.get(Campaign, pt.campaign_id)
        spec = spec_of(campaign)
        store_test_id = test.store_test_id
    coverage = spec.evidence.coverage
    model, why = _early_model()
    early: dict[str, Any]
    if model is None:
        early = {"error": why, "test_id": tid}
    else:
        ctx.progress(0.2, f"predicting the life of test {tid}")
        try:
            # the model's own N (never another): features from cycles 2..N
            r = predict_stored(Store(ctx.store_dir), store_test_id, model, coverage=coverage)
            early = {
                "cycle_life": r["cycle_life"],
                "low": r["low"],
                "high": r["high"],
                "coverage": coverage,
                "cycles": r["cycles"],
                "model": r["model"],
                "test_id": tid,
            }
            if r["cycles"] != spec.evidence.early_cycles:
                early["note"] = (
                    f"predicted from cycles 2..{r['cycles']}: the server's early-life model is "
                    f"trained at N = {r['cycles']}, the campaign plans early_cycles = "
                    f"{spec.evidence.early_cycles}"
                )
        except CasipInputError as exc:  # the problems only: the source names server paths
            why = "; ".join(
                f"{p.field}: {p.message}" if p.field else p.message for p in exc.problems
            )
            early = {"error": why.replace(store_test_id, f"test {tid}"), "test_id": tid}
    with ctx.fenced() as s:
        pt = s.get(PlannedTest, pid)
        campaign = s.get(Campaign, pt.campaign_id)
        pt.early = early
        stop = None
        if "error" not in early:
            logs = {o.name: o.log for o in spec.objective_list()}
            sigma = sigma_from_interval(
                early["low"], early["high"], level=coverage, log=logs.get(LIFE, True)
            )
            s.add(
                CampaignObservation(
                    campaign_id=campaign.id,
                    planned_test_id=pt.id,
                    kind="early",
                    values={LIFE: early["cycle_life"]},
                    sigma={LIFE: sigma},
                    cycles=early["cycles"],
                    source_kind="test",
                    source_id=tid,
                )
            )
            early["sigma"] = sigma
            pt.early = dict(early)
            if spec.evidence.early_stopping and pt.status == "testing":
                threshold = next((c.min for c in spec.constraint_list() if c.name == LIFE), None)
                others = [life_bounds(t) for t in planned_tests(s, campaign) if t.id != pt.id]
                lows = [b[0] for b in others if b is not None]
                stop_it, reason = early_stop(
                    early["low"],
                    early["high"],
                    incumbent_low=max(lows) if lows else None,
                    threshold=threshold,
                )
                if stop_it:
                    pt.status, pt.stop_reason, stop = "stopped", reason, reason
        s.flush()
        _audit(
            s,
            "campaign_early",
            None,
            campaign,
            {
                "planned_test": pt_label(pid),
                "test_id": tid,
                "cycle_life": early.get("cycle_life"),
                "error": early.get("error"),
                "stopped": stop,
            },
        )
        ctx.done_message = (
            f"done: {pt_label(pid)} "
            + (
                f"early life {early['cycle_life']:.0f} cycles "
                f"({early['low']:.0f}-{early['high']:.0f})"
                if "error" not in early
                else "no prediction"
            )
            + (f"; stopped: {stop}" if stop else "")
        )
        ctx.complete(s, "campaign", campaign.id)
    return "campaign", campaign.id


def life_bounds(t: PlannedTest) -> tuple[float, float] | None:
    """(low, high) of a planned test's life: its measured life, else its early interval."""
    if t.measured_life is not None:
        return float(t.measured_life), float(t.measured_life)
    e = t.early or {}
    if "low" in e and "high" in e:
        return float(e["low"]), float(e["high"])
    return None


# ------------------------------------------------------------------------------ results


def record_result(
    s: Session,
    actor: Actor,
    campaign: Campaign,
    pt: PlannedTest,
    cycle_life: float | None,
    values: dict[str, float] | None = None,
    cycles: int | None = None,
) -> PlannedTest:
    """Enter a measured result: the end of life (``cycle_life``) and/or other objective or
    constraint values; the planned test is ``done`` (audited).

    Raises :class:`CasipInputError` (422) naming the field: no value, a quantity the
    campaign does not have, a non-finite or non-positive life, a cancelled test."""
    from casip.campaign.spec import LIFE, result_quantity

    spec = spec_of(campaign)
    vals: dict[str, float] = {}
    for name, v in (values or {}).items():
        q = result_quantity(spec, name)
        if v is None or not math.isfinite(float(v)):
            raise CasipInputError(
                Problem(f"values.{name}", "not a finite number", v, "a finite number")
            )
        vals[q] = float(v)
    if cycle_life is not None:
        if not math.isfinite(float(cycle_life)) or cycle_life <= 0:
            raise CasipInputError(
                Problem(
                    "cycle_life", "not a positive number", cycle_life, "cycles to end of life, > 0"
                )
            )
        vals[LIFE] = float(cycle_life)
    if not vals:
        raise CasipInputError(
            Problem(
                "cycle_life", "no result given", None, "cycle_life and/or values {quantity: value}"
            )
        )
    if pt.status == "cancelled":
        raise CasipInputError(
            Problem(
                "planned_test",
                f"{pt_label(pt.id)} is cancelled",
                pt_label(pt.id),
                "a planned test that is not cancelled",
            )
        )
    if cycles is None and LIFE in vals:
        cycles = round(vals[LIFE])
    s.add(
        CampaignObservation(
            campaign_id=campaign.id,
            planned_test_id=pt.id,
            kind="measured",
            values=vals,
            sigma={},
            cycles=cycles,
            source_kind="test" if pt.test_id else "entered",
            source_id=pt.test_id,
            created_by_id=actor.user_id or None,
        )
    )
    if LIFE in vals:
        pt.measured_life = vals[LIFE]
    pt.status = "done"
    campaign.updated_at = utcnow()
    s.flush()
    _audit(
        s,
        "campaign_result",
        actor,
        campaign,
        {"planned_test": pt_label(pt.id), "values": vals, "cycles": cycles},
    )
    return pt


def cancel(s: Session, actor: Actor, campaign: Campaign, pt: PlannedTest) -> PlannedTest:
    """Cancel a planned test that is not done (audited); it no longer counts as open."""
    if pt.status == "done":
        raise CasipInputError(
            Problem(
                "planned_test",
                f"{pt_label(pt.id)} is done",
                pt_label(pt.id),
                "a planned test that is not done",
            )
        )
    pt.status = "cancelled"
    s.flush()
    _audit(s, "campaign_cancel_test", actor, campaign, {"planned_test": pt_label(pt.id)})
    return pt


# ------------------------------------------------------------------------------ views


def planned_test_dict(t: PlannedTest) -> dict:
    return {
        "id": pt_label(t.id),
        "campaign_id": t.campaign_id,
        "batch": t.batch,
        "point": t.point,
        "predicted": t.predicted,
        "acquisition": t.acquisition,
        "reason": t.reason,
        "status": t.status,
        "stop_reason": t.stop_reason,
        "test_id": t.test_id,
        "early": t.early,
        "measured_life": t.measured_life,
        "created_at": t.created_at.isoformat() + "Z" if t.created_at else None,
    }


def observation_dict(o: CampaignObservation) -> dict:
    return {
        "id": o.id,
        "planned_test": pt_label(o.planned_test_id),
        "kind": o.kind,
        "values": o.values,
        "sigma": o.sigma,
        "cycles": o.cycles,
        "source": {"kind": o.source_kind, "id": o.source_id},
        "created_at": o.created_at.isoformat() + "Z",
    }


def best_of(campaign: Campaign, tests: list[PlannedTest], obs: list[CampaignObservation]) -> dict:
    """The current best (noisy incumbent, :func:`casip.campaign.best`) with +-1 sd.

    ``best``: a list of ``planned_test``, ``point``, ``posterior`` (name -> [mean, sd] in the
    modelled space) and ``value`` (name -> [mean, low, high] in the quantity's units; for a
    log objective ``10**(mean -+ sd)``); None before any evidence on the objectives."""
    from casip.campaign import best

    spec = spec_of(campaign)
    objectives = spec.objective_list()
    observations = _observations(tests, obs)
    names = {o.name for o in objectives}
    if not any(names & set(o.values) for o in observations):
        return {"best": None, "note": "no evidence on the objectives yet"}
    try:
        found = best(
            spec.space(),
            objectives,
            observations,
            constraints=spec.constraint_list(),
            known_constraints=spec.known_constraints(),
            seed=spec.optimizer.seed,
        )
    except CasipInputError as exc:
        return {"best": None, "note": str(exc)}
    found = found if isinstance(found, list) else [found]
    logs = {o.name: o.log for o in objectives}
    rows = []
    for inc in found:
        pt = next((t for t in tests if _key(t.point) == _key(inc.point)), None)
        value = {}
        for k, m in inc.mean.items():
            m, sd = float(m), float(inc.sd[k])
            value[k] = (
                [10**m, 10 ** (m - sd), 10 ** (m + sd)] if logs.get(k) else [m, m - sd, m + sd]
            )
        rows.append(
            {
                "planned_test": pt_label(pt.id) if pt else None,
                "point": {k: float(v) for k, v in inc.point.items()},
                "posterior": {k: [float(inc.mean[k]), float(inc.sd[k])] for k in inc.mean},
                "value": value,
            }
        )
    return {"best": rows}


def detail(s: Session, campaign: Campaign) -> dict:
    """Everything about a campaign: document, planned tests, observations, current best."""
    tests = planned_tests(s, campaign)
    obs = observation_rows(s, campaign)
    counts: dict[str, int] = {}
    for t in tests:
        counts[t.status] = counts.get(t.status, 0) + 1
    job = s.get(Job, campaign.propose_job_id) if campaign.propose_job_id else None
    spec = spec_of(campaign)
    sims = {o.planned_test_id: o.values for o in obs if o.kind == "simulation"}
    return {
        **summary(campaign, counts),
        "document": campaign.document,
        "parameters": list(spec.parameters),
        "objectives": [
            {"name": o.name, "sense": o.sense, "log": o.log} for o in spec.objective_list()
        ],
        "batch_size": spec.batch,
        "budget": spec.budget.model_dump(),
        "cycles_spent": _cycles_spent(tests, obs),
        "early_cycles": early_cycles_needed(),  # N of the server's early-life model
        "propose_job": job_dict(job) if job else None,
        # the latest simulated values of each planned test beside its early and measured ones
        "planned_tests_list": [
            {**planned_test_dict(t), "simulation": sims.get(t.id)} for t in tests
        ],
        "simulation": simulation_info(spec),
        "observations": [observation_dict(o) for o in obs],
        **best_of(campaign, tests, obs),
    }


__all__ = [
    "EARLY_CYCLES_NEEDED",
    "MODEL_ENV",
    "STATUSES",
    "best_of",
    "cancel",
    "check_document",
    "check_planned_test",
    "create",
    "detail",
    "early_cycles_needed",
    "get_campaign",
    "get_planned_test",
    "link_test",
    "list_campaigns",
    "planned_test_dict",
    "propose",
    "pt_label",
    "record_result",
    "simulate",
    "simulate_points",
    "simulation_info",
    "suggest_planned_test",
]
