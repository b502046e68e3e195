"""Tables of the platform (SQLAlchemy 2 declarative models).

Every shared item (design, simulation, lifetime result, test dataset) carries the columns of
:class:`OwnedMixin`: an owner organisation, the user who created it and a visibility. Who may
read or change an item is decided only in :mod:`casip.platform.access`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON}  # noqa: RUF012


class OrgKind(StrEnum):
    MEMBER = "member"  # a member company (cell maker, carmaker, materials supplier)
    INSTITUTE = "institute"  # a research institute
    SPONSOR = "sponsor"  # a government sponsor: aggregates only
    PLATFORM = "platform"  # the operator's reference library (reference cells, public data)


class Role(StrEnum):
    ADMIN = "admin"
    ENGINEER = "engineer"
    VIEWER = "viewer"


class Visibility(StrEnum):
    PRIVATE = "private"  # the owner organisation only
    CONSORTIUM = "consortium"  # every member and institute (never sponsors)
    PUBLIC = "public"  # everyone with an account, sponsors included


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="org")


class User(Base):
    __tablename__ = "users"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    org: Mapped[Organisation] = relationship(back_populates="users", lazy="joined")


class ApiToken(Base):
    """A token for scripts; only its SHA-256 is stored. Revoked tokens are kept (audit)."""

    __tablename__ = "api_tokens"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A browser login: the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "web_sessions"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class OwnedMixin:
    """Owner organisation, creator and visibility: what the access module decides on."""

    @declared_attr
    def owner_org_id(cls) -> Mapped[int]:
        return mapped_column(sa.ForeignKey("organisations.id"), index=True)

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(sa.ForeignKey("users.id"))

    visibility: Mapped[str] = mapped_column(sa.String(16), default=Visibility.PRIVATE, index=True)
    #: a private item still counts in anonymised aggregates (never shown raw) when True
    benchmark_opt_in: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Design(OwnedMixin, Base):
    """A cell design (the ``casip.design/1`` document) and its design-engine results."""

    __tablename__ = "designs"
    #: covering index of the summary columns: lists, the dashboard, own-item and benchmark
    #: queries read it instead of rows that carry the large JSON documents
    __table_args__ = (
        sa.Index(
            "ix_designs_summary",
            "owner_org_id",
            "id",
            "visibility",
            "benchmark_opt_in",
            "reference_id",
            "specific_energy_Wh_kg",
            "energy_density_Wh_L",
            "cost_usd_kWh",
            "capacity_Ah",
            "kind",
            "created_at",
            "updated_at",
            "created_by_id",
            "version",
            "name",
            "cell_cost_usd_kWh",
            "engine_version",
            "price_set",
            "pack_specific_energy_Wh_kg",
            "pack_energy_density_Wh_L",
            "pack_cost_usd_kWh",
        ),
        sa.Index("ix_designs_reference_id", "reference_id"),
        {"sqlite_autoincrement": True},  # ids never reused (see migration 0006)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    document: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    specific_energy_Wh_kg: Mapped[float | None]
    energy_density_Wh_L: Mapped[float | None]
    cost_usd_kWh: Mapped[float | None]
    capacity_Ah: Mapped[float | None]
    #: cell cost (materials + scrap + manufacturing, casip.cost.cell_cost) [$/kWh]
    cell_cost_usd_kWh: Mapped[float | None]
    #: the design in the benchmark's cell-to-pack template (casip.pack.templates, migration
    #: 0011): pack Wh/kg, Wh/L and $/kWh (cells at cell cost + pack materials + assembly)
    pack_specific_energy_Wh_kg: Mapped[float | None]
    pack_energy_density_Wh_L: Mapped[float | None]
    pack_cost_usd_kWh: Mapped[float | None]
    #: the design engine (casip.design.ENGINE_VERSION) and price set the results were computed
    #: with; NULL: computed before versioning (migration 0010)
    engine_version: Mapped[str | None] = mapped_column(sa.String(32))
    price_set: Mapped[str | None] = mapped_column(sa.String(100))
    #: why the stored results could not be recomputed with the current engine (then stale)
    stale_reason: Mapped[str | None] = mapped_column(sa.Text)
    reference_id: Mapped[str | None] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # type: ignore[dict-item]  # noqa: RUF012


class Simulation(OwnedMixin, Base):
    """A PyBaMM run on a design (fast charge or rate capability)."""

    __tablename__ = "simulations"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)

    id: Mapped[int] = mapped_column(primary_key=True)
    design_id: Mapped[int] = mapped_column(
        sa.ForeignKey("designs.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    parameters: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    #: 10-80 % charge time [min] of a fast-charge run (the benchmarking KPI)
    charge_time_min: Mapped[float | None]
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id"))


class LifetimeResult(OwnedMixin, Base):
    """A lifetime projection of a design under a duty cycle."""

    __tablename__ = "lifetime_results"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)

    id: Mapped[int] = mapped_column(primary_key=True)
    design_id: Mapped[int] = mapped_column(
        sa.ForeignKey("designs.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    duty: Mapped[dict[str, Any]]
    model: Mapped[str | None] = mapped_column(sa.String(64))
    result: Mapped[dict[str, Any] | None]
    years_to_80: Mapped[float | None]
    cycles_to_80: Mapped[float | None]
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id"))


class TestDataset(OwnedMixin, Base):
    """An uploaded cycler file, stored in the data hub's Parquet store."""

    __tablename__ = "test_datasets"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    store_test_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    format: Mapped[str] = mapped_column(sa.String(64))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    rows: Mapped[int] = mapped_column(sa.BigInteger)
    cycles: Mapped[int]
    cycle_life: Mapped[float | None]  # cycles to 80 % of the first discharge capacity, if reached
    details: Mapped[dict[str, Any]]
    design_id: Mapped[int | None] = mapped_column(sa.ForeignKey("designs.id", ondelete="SET NULL"))


class DesignTest(Base):
    """A hub test attached to the design it measures (migration 0007).

    Many-to-many: a test may measure several designs (variants) and a design have several
    tests. The attachment has no visibility of its own: it is shown only to someone who may
    read both the design and the test (:func:`casip.platform.design_tests.attached_tests`).
    Deleting either side deletes the attachment (``ON DELETE CASCADE``)."""

    __tablename__ = "design_tests"
    __table_args__ = (
        sa.UniqueConstraint("design_id", "test_id", name="uq_design_tests_design_id_test_id"),
        {"sqlite_autoincrement": True},
    )
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(primary_key=True)
    design_id: Mapped[int] = mapped_column(
        sa.ForeignKey("designs.id", ondelete="CASCADE"), index=True
    )
    test_id: Mapped[int] = mapped_column(
        sa.ForeignKey("test_datasets.id", ondelete="CASCADE"), index=True
    )
    #: e.g. which cell of the design, or the C-rate of the test
    note: Mapped[str | None] = mapped_column(sa.String(500))
    attached_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    attached_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Replay(OwnedMixin, Base):
    """A measured test replayed against a design (migration 0008; issue 14).

    The simulated curve and its error metrics of one replay job
    (:mod:`casip.platform.replays`): ``status`` is ``"done"`` or ``"impossible"`` (the replay
    could not be run, ``result["reason"]`` says why). Derived from both the design and the
    test: readable only while both are (:func:`casip.platform.replays.read_clause`), never
    shared wider than either; deleting either deletes it (``ON DELETE CASCADE``)."""

    __tablename__ = "replays"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    design_id: Mapped[int] = mapped_column(
        sa.ForeignKey("designs.id", ondelete="CASCADE"), index=True
    )
    test_id: Mapped[int] = mapped_column(
        sa.ForeignKey("test_datasets.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16))
    parameters: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"))


class Calibration(OwnedMixin, Base):
    """A calibration of a design to its attached tests (migration 0009; issue 14).

    One ``calibration`` job (:mod:`casip.platform.calibrations`): the fit and held-back cases
    (attached tests with their windows and rules), the fitted parameters and options, the
    progress while it runs, and the result (the ``casip.calibration/1`` record with its error
    tables and warnings, the BPX document or why there is none), or why it failed. Readable
    only while the design and every test it uses are (:func:`casip.platform.calibrations.
    read_clause`, through :class:`CalibrationTest`); deleting the design deletes it."""

    __tablename__ = "calibrations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    design_id: Mapped[int] = mapped_column(
        sa.ForeignKey("designs.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    #: queued, running, done, ill_posed, failed or cancelled
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    fit_cases: Mapped[list[Any]] = mapped_column(sa.JSON())
    held_back_cases: Mapped[list[Any]] = mapped_column(sa.JSON())
    #: keys of casip.physics.calibration.FITTABLE
    fit_parameters: Mapped[list[Any]] = mapped_column(sa.JSON())
    options: Mapped[dict[str, Any]]
    #: distinct tests used (a calibration is readable only while all of them are)
    test_count: Mapped[int]
    progress: Mapped[float] = mapped_column(default=0.0)
    evaluations: Mapped[int] = mapped_column(default=0)
    stage: Mapped[str | None] = mapped_column(sa.String(32))
    result: Mapped[dict[str, Any] | None]
    bpx: Mapped[dict[str, Any] | None]
    bpx_reason: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    error_field: Mapped[str | None] = mapped_column(sa.String(100))
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class CalibrationTest(Base):
    """A test a calibration uses (migration 0009): deleting the test deletes the link, after
    which the calibration (whose ``test_count`` no longer matches) is readable by no one."""

    __tablename__ = "calibration_tests"
    __table_args__ = (
        sa.UniqueConstraint("calibration_id", "test_id",
                            name="uq_calibration_tests_calibration_id_test_id"),
        {"sqlite_autoincrement": True},
    )
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(primary_key=True)
    calibration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("calibrations.id", ondelete="CASCADE"), index=True
    )
    test_id: Mapped[int] = mapped_column(
        sa.ForeignKey("test_datasets.id", ondelete="CASCADE"), index=True
    )


class Campaign(Base):
    """A closed-loop R&D campaign of one organisation (migration 0015; issue 18).

    ``document`` is the validated ``casip.campaign/1`` file (:mod:`casip.campaign.spec`).
    Private to its owner organisation, always (:mod:`casip.platform.campaigns`): no visibility
    of its own, never in an aggregate. ``status``: ``open`` or ``closed`` (``closed_reason``:
    a spent budget or an exhausted pool). ``propose_job_id``: the queued or running proposal
    job, so that asking again while it runs returns it (idempotence)."""

    __tablename__ = "campaigns"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    document: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    closed_reason: Mapped[str | None] = mapped_column(sa.Text)
    seed: Mapped[int] = mapped_column(default=0)
    propose_job_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PlannedTest(Base):
    """One proposal of a campaign on one tester channel: ``PT-<id>`` (migration 0015).

    ``status``: ``proposed`` (no data yet), ``testing`` (a test dataset names it), ``stopped``
    (early stop: ``stop_reason``), ``done`` (a measured end of life) or ``cancelled``.
    ``early``: the latest early-life prediction (``cycle_life``, ``low``, ``high``,
    ``coverage``, ``cycles``, ``model``, ``test_id``), or why none could be made."""

    __tablename__ = "campaign_planned_tests"
    __table_args__ = ({"sqlite_autoincrement": True},)
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    owner_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    batch: Mapped[int]
    point: Mapped[dict[str, Any]]
    predicted: Mapped[dict[str, Any]]
    acquisition: Mapped[float | None]
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="proposed")
    stop_reason: Mapped[str | None] = mapped_column(sa.Text)
    test_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("test_datasets.id", ondelete="SET NULL"), index=True
    )
    early: Mapped[dict[str, Any] | None]
    measured_life: Mapped[float | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignObservation(Base):
    """Evidence of a campaign (migration 0015): ``kind`` simulation, early or measured;
    ``values`` and ``sigma`` (1-sd noise in the modelled space) per quantity; ``source_kind``
    ``test`` (a test dataset id), ``simulation`` (a simulation id) or ``entered``."""

    __tablename__ = "campaign_observations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    planned_test_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaign_planned_tests.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    values: Mapped[dict[str, Any]]
    sigma: Mapped[dict[str, Any]]
    cycles: Mapped[int | None]
    source_kind: Mapped[str] = mapped_column(sa.String(16))
    source_id: Mapped[int | None]
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A background job (simulation, lifetime projection, study) with its progress."""

    __tablename__ = "jobs"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (migration 0006)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default=JobStatus.QUEUED, index=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    error: Mapped[str | None] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]]
    result_kind: Mapped[str | None] = mapped_column(sa.String(32))
    result_id: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    #: claims of the job by workers; every write of an attempt is fenced by it (migration 0012)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    #: the claim expires then unless the worker's supervisor renews it
    lease_until: Mapped[dt.datetime | None]
    worker_id: Mapped[str | None] = mapped_column(sa.String(100))


class Worker(Base):
    """A worker process (``casip worker``) and its heartbeat (:mod:`casip.platform.worker`)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]
    slots: Mapped[int]
    running: Mapped[int] = mapped_column(default=0, server_default="0")
    done: Mapped[int] = mapped_column(default=0, server_default="0")
    failed: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[str] = mapped_column(sa.String(32))
    started_at: Mapped[dt.datetime]
    last_seen: Mapped[dt.datetime]
    stopped_at: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """One entry of the append-only, hash-chained audit log (see :mod:`casip.platform.audit`).

    The database refuses UPDATE and DELETE on this table (triggers in the migration)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_item", "item_kind", "item_id"),
        sa.Index("ix_audit_events_actor_org_id", "actor_org_id"),
        #: a server run's journaled entries: unique, so a journal replay never doubles one
        sa.Index("ix_audit_events_journal", "journal_source", "journal_seq", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[str] = mapped_column(sa.String(32))
    actor_user_id: Mapped[int | None]
    actor_org_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    item_kind: Mapped[str | None] = mapped_column(sa.String(32))
    item_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(sa.Text)
    #: the organisation that owned the item (user, token, organisation) when the event
    #: happened: decides which organisation admin sees the event (access.audit_visible_clause)
    item_owner_org_id: Mapped[int | None] = mapped_column(index=True)
    #: the server run whose read journal held the entry, and its number in that run (1, 2,
    #: ...): a hole in the numbers is a missing entry (audit.verify)
    journal_source: Mapped[str | None] = mapped_column(sa.String(32))
    journal_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: canonical content hashed: 1 before migration 0006, 2 since (audit.entry_hash)
    hash_version: Mapped[int] = mapped_column(sa.SmallInteger, server_default="1")
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class PrivacyRelease(Base):
    """One scheduled, differentially private release of a benchmark KPI (and the ledger).

    Every row is both what is served until the next release and an entry of the privacy-loss
    ledger: ``epsilon`` is what the release cost each organisation. ``(kpi, slot)`` is unique,
    so a KPI is released at most once per release slot whatever the number of server
    processes; ``(budget_period, seq)`` is unique, so two processes that read the same spent
    budget cannot both spend it (the second insert fails and is retried). See
    :mod:`casip.platform.releases`."""

    __tablename__ = "privacy_releases"
    __table_args__ = (
        sa.UniqueConstraint("kpi", "slot", name="uq_privacy_releases_kpi_slot"),
        sa.UniqueConstraint("budget_period", "seq", name="uq_privacy_releases_period_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kpi: Mapped[str] = mapped_column(sa.String(64), index=True)
    #: the release slot (e.g. ``2026-Q4`` for quarterly releases)
    slot: Mapped[str] = mapped_column(sa.String(16))
    #: the budget period the release is charged to (e.g. ``2026`` for a yearly budget)
    budget_period: Mapped[str] = mapped_column(sa.String(16))
    #: 1, 2, ... within the budget period
    seq: Mapped[int]
    released_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    epsilon: Mapped[float]
    payload: Mapped[dict[str, Any]]


#: item kind (as used in URLs, the audit log and the access module) -> model
ITEM_MODELS: dict[str, type] = {
    "design": Design,
    "simulation": Simulation,
    "lifetime": LifetimeResult,
    "test": TestDataset,
}


class RateLimitCounter(Base):
    """One counter of the login throttle (see :mod:`casip.platform.throttle`).

    A row per rate-limit key and window, shared by every server process using this database;
    ``expires_at`` is a Unix time, after which the row counts as absent (and is purged)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer)
    expires_at: Mapped[float] = mapped_column(sa.Float, index=True)


class DataVersion(Base):
    """A counter per data topic (``items``, ``auth``), bumped in the same transaction as every
    write to the topic's tables, so that each server process sees other processes' writes,
    in-place updates included (:mod:`casip.platform.data_version`, migration 0013)."""

    __tablename__ = "data_versions"

    topic: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
