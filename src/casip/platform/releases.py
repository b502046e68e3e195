"""The release schedule and the privacy-loss ledger of the consortium benchmark.

Nothing the benchmark or the roadmap publishes is computed at request time. Releases are made
on a schedule and stored in ``privacy_releases`` (:class:`~casip.platform.models.PrivacyRelease`);
every request is answered from the latest stored release of each KPI, the same for everyone,
until the next one. So

* a write (a new design, an opt-in toggled, a deletion) never changes what is published before
  the next scheduled release, and never triggers one: nobody can force fresh noise to average
  it away, nor spend the budget to freeze the benchmark for others;
* repeated queries return the same bytes: they cost no privacy;
* each KPI is released at most once per *release slot* (``day``, ``week``, ``month`` or
  ``quarter``; unique ``(kpi, slot)`` in the database, whatever the number of processes);
* every release is charged to the *budget period* (``month``, ``quarter`` or ``year``) in which
  it is made; a release that would take the period's total above the operator's budget is not
  made, and the last release of that KPI is served with its date. Two processes that read the
  same spent budget cannot both spend it: ``(budget_period, seq)`` is unique, so the second
  insert fails and that process re-reads the ledger.

The guarantee per organisation is the sum of the epsilons in the ledger of a budget period
(basic composition of pure-DP releases), at most the budget; over several periods the
epsilons add up (the data persist from one period to the next), which ``docs/security.md``
states plainly.

The scheduler is :class:`ReleaseScheduler`: a daemon thread of the server that checks the
schedule every ``Settings.privacy_check_s`` seconds and at start-up.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casip.platform import audit
from casip.platform.data_version import VersionedCache
from casip.platform.models import PrivacyRelease, utcnow

log = logging.getLogger(__name__)

#: release slots, shortest first
RELEASE_SLOTS = ("day", "week", "month", "quarter")
#: budget periods, shortest first
BUDGET_PERIODS = ("month", "quarter", "year")
_LENGTH = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}


def check_privacy_settings(
    epsilon: float, budget: float, release_every: str, budget_period: str
) -> None:
    """Raise ``ValueError`` naming the setting when the privacy settings cannot work."""
    if release_every not in RELEASE_SLOTS:
        raise ValueError(
            f"privacy_release_every={release_every!r}: expected one of {', '.join(RELEASE_SLOTS)}"
        )
    if budget_period not in BUDGET_PERIODS:
        raise ValueError(
            f"privacy_budget_period={budget_period!r}: expected one of {', '.join(BUDGET_PERIODS)}"
        )
    if _LENGTH[release_every] > _LENGTH[budget_period]:
        raise ValueError(
            f"privacy_release_every={release_every!r} is longer than privacy_budget_period="
            f"{budget_period!r}: expected a release slot no longer than the budget period"
        )
    if not (0 < epsilon <= 10):
        raise ValueError(f"privacy_epsilon={epsilon!r}: expected a number in (0, 10]")
    if not (budget >= epsilon):
        raise ValueError(
            f"privacy_budget={budget!r}: expected at least privacy_epsilon={epsilon!r} "
            "(otherwise nothing can ever be released)"
        )


def period_key(t: dt.datetime, period: str) -> str:
    """The label of the calendar period containing ``t`` (UTC): ``2026-12-06``, ``2026-W49``,
    ``2026-12``, ``2026-Q4`` or ``2026``."""
    if period == "day":
        return t.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = t.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return t.strftime("%Y-%m")
    if period == "quarter":
        return f"{t.year}-Q{(t.month - 1) // 3 + 1}"
    if period == "year":
        return str(t.year)
    raise ValueError(f"period={period!r}: expected one of day, week, month, quarter, year")


def next_start(t: dt.datetime, period: str) -> dt.datetime:
    """The start (UTC midnight) of the calendar period after the one containing ``t``."""
    day = dt.datetime(t.year, t.month, t.day)
    if period == "day":
        return day + dt.timedelta(days=1)
    if period == "week":
        return day + dt.timedelta(days=7 - day.weekday())
    if period in ("month", "quarter", "year"):
        step = {"month": 1, "quarter": 3, "year": 12}[period]
        first = {"month": t.month, "quarter": (t.month - 1) // 3 * 3 + 1, "year": 1}[period]
        m = first - 1 + step
        return dt.datetime(t.year + m // 12, m % 12 + 1, 1)
    raise ValueError(f"period={period!r}: expected one of day, week, month, quarter, year")


@dataclass(frozen=True)
class Policy:
    """The operator's privacy settings (from :class:`~casip.platform.settings.Settings`)."""

    epsilon: float
    budget: float
    release_every: str
    budget_period: str
    k: int

    @classmethod
    def of(cls, settings) -> Policy:
        return cls(
            settings.privacy_epsilon,
            settings.privacy_budget,
            settings.privacy_release_every,
            settings.privacy_budget_period,
            settings.k_anonymity,
        )


def spent(session: Session, budget_period: str) -> tuple[float, int]:
    """(epsilon spent, number of releases) in the budget period labelled ``budget_period``."""
    total, n = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(PrivacyRelease.epsilon), 0.0), sa.func.count()
        ).where(PrivacyRelease.budget_period == budget_period)
    ).one()
    return float(total), int(n)


def status(session: Session, policy: Policy, now: dt.datetime | None = None) -> dict:
    """The privacy parameters and the ledger of the current budget period (shown to users)."""
    now = now or utcnow()
    key = period_key(now, policy.budget_period)
    used, n = spent(session, key)
    return {
        "unit": "organisation",
        "definition": (
            "pure epsilon-differential privacy with respect to adding or removing all the items "
            "of one organisation"
        ),
        "epsilon_per_release": policy.epsilon,
        "release_every": policy.release_every,
        "budget_epsilon": policy.budget,
        "budget_period": policy.budget_period,
        "period": key,
        "spent_epsilon": round(used, 9),
        "remaining_epsilon": round(max(policy.budget - used, 0.0), 9),
        "releases_this_period": n,
        "next_release_at": next_start(now, policy.release_every).isoformat() + "Z",
        "budget_renews_at": next_start(now, policy.budget_period).isoformat() + "Z",
    }


def latest(session: Session, kpis: list[str] | tuple[str, ...]) -> dict[str, PrivacyRelease]:
    """The latest release of each KPI that has one."""
    newest = (
        sa.select(sa.func.max(PrivacyRelease.id))
        .where(PrivacyRelease.kpi.in_(list(kpis)))
        .group_by(PrivacyRelease.kpi)
    )
    rows = session.execute(sa.select(PrivacyRelease).where(PrivacyRelease.id.in_(newest)))
    return {r.kpi: r for r in rows.scalars()}


def history(session: Session, kpis: tuple[str, ...]) -> list[PrivacyRelease]:
    """Every release of ``kpis``, oldest first (the roadmap's series)."""
    return list(
        session.execute(
            sa.select(PrivacyRelease)
            .where(PrivacyRelease.kpi.in_(list(kpis)))
            .order_by(PrivacyRelease.released_at, PrivacyRelease.id)
        ).scalars()
    )


#: the newest release's id per database, kept while the ``releases`` data version is unchanged
#: (a release by any process moves it; see casip.platform.data_version)
_LATEST = VersionedCache(max_age_s=30.0, max_entries=8, topics=("releases",))


def latest_id(session: Session) -> int:
    """The id of the newest release (0 if none): a cache key that moves with every release.
    Read from the database once per ``releases`` data version (not on every request)."""
    return _LATEST.get(
        session,
        ("latest",),
        lambda: int(session.execute(sa.select(sa.func.max(PrivacyRelease.id))).scalar() or 0),
    )


def run_due(
    sessions: Callable[[], Session],
    policy: Policy,
    kpis: list[str],
    rows_of: Callable[[Session, str], list[tuple]],
    measure: Callable[[list[tuple], str, float, int], dict],
    now: dt.datetime | None = None,
    shares: Mapping[str, float] | None = None,
) -> list[str]:
    """Make the releases that are due now, in the order of ``kpis``; return the KPIs released.

    Parameters
    ----------
    sessions : callable
        A session factory (each release is one transaction).
    policy : Policy
        Epsilon per release, budget, slot and period.
    kpis : list of str
        The KPIs to release, in priority order (when the budget runs out, the later ones wait
        for the next budget period).
    rows_of : callable
        ``rows_of(session, kpi)``: the counted ``(value, organisation id, ...)`` rows of a KPI.
    measure : callable
        ``measure(rows, kpi, epsilon, k)``: the release payload (see
        :func:`casip.platform.privacy.release`); its ``epsilon`` is what the ledger is charged.
    now : datetime, optional
        The clock (UTC, naive); tests move it to reach the next slot.
    shares : mapping, optional
        KPI -> share of the policy's epsilon its releases get (1 for KPIs not named): a KPI
        released at a share spends that share of epsilon per release, and its release is
        noisier in proportion.
    """
    now = now or utcnow()
    shares = shares or {}
    slot = period_key(now, policy.release_every)
    budget_period = period_key(now, policy.budget_period)
    released = []
    for kpi in kpis:
        epsilon = policy.epsilon * float(shares.get(kpi, 1.0))
        if not (0 < epsilon <= policy.epsilon):
            raise ValueError(f"{kpi}: epsilon share {shares.get(kpi)!r} not in (0, 1]")
        for _attempt in range(5):  # retried only when another process inserted meanwhile
            s = sessions()
            try:
                exists = s.execute(
                    sa.select(PrivacyRelease.id).where(
                        PrivacyRelease.kpi == kpi, PrivacyRelease.slot == slot
                    )
                ).first()
                if exists is not None:
                    break
                used, n = spent(s, budget_period)
                if used + epsilon > policy.budget * (1 + 1e-9):
                    log.warning(
                        "privacy budget of %s spent (%.3g of %.3g): %s not released in %s",
                        budget_period,
                        used,
                        policy.budget,
                        kpi,
                        slot,
                    )
                    break
                payload = measure(rows_of(s, kpi), kpi, epsilon, policy.k)
                cost = float(payload["epsilon"])
                if cost > epsilon * (1 + 1e-9):  # pragma: no cover - a broken measure
                    raise RuntimeError(f"{kpi}: release cost {cost} > epsilon {epsilon}")
                rel = PrivacyRelease(
                    kpi=kpi,
                    slot=slot,
                    budget_period=budget_period,
                    seq=n + 1,
                    released_at=now,
                    epsilon=cost,
                    payload=payload,
                )
                s.add(rel)
                s.flush()
                # the ledger entry also enters the hash-chained audit log, so that a release
                # removed from the table later is detectable
                audit.record(
                    s,
                    "privacy_release",
                    item_owner_org_id=None,
                    detail={
                        "release_id": rel.id,
                        "kpi": kpi,
                        "slot": slot,
                        "budget_period": budget_period,
                        "seq": n + 1,
                        "epsilon": cost,
                    },
                )
                s.commit()
                released.append(kpi)
                break
            except IntegrityError:
                s.rollback()  # another process released this KPI or spent this ledger slot
            finally:
                s.close()
    return released


class ReleaseScheduler:
    """A daemon thread calling ``tick()`` at start and every ``interval_s`` seconds."""

    def __init__(self, tick: Callable[[], object], interval_s: float):
        self.tick, self.interval_s = tick, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="casip-releases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # pragma: no cover - logged, retried at the next tick
                log.exception("scheduled privacy release failed")

    def stop(self) -> None:
        self._stop.set()
