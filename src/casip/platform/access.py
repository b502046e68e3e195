"""The one place that decides who may read and change what.

Routes never filter by hand: they ask this module for a query of readable items
(:func:`readable`), for one item (:func:`get_for_read`, :func:`get_for_write`) or for a
permission (:func:`require`). The rules:

========================  ===============================================================
who                       may
========================  ===============================================================
anyone with an account    read public items; read anonymised aggregates (benchmark, roadmap)
member / institute user   read items of their own organisation and consortium items
engineer, admin           create items for their organisation; edit, delete and share
                          (change the visibility of) their organisation's items; run jobs
viewer                    read only
sponsor user              public items and aggregates only, never a member's raw items
organisation admin        manage the users of their organisation
========================  ===============================================================

A derived item (a simulation, lifetime result or test dataset with a ``design_id``) is never
more visible than its design: it is readable only while the design is readable too, may not be
shared wider than the design, and counts in aggregates only while the design could (see
:func:`read_clause`, :func:`check_derived_visibility`, :func:`aggregate_clause`).

An item that may not be read answers 404 (as if it did not exist), so that probing ids tells
nothing; an item that may be read but not changed answers 403. Reading another organisation's
item is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, object_session

from casip.errors import CasipInputError, Problem
from casip.platform import audit
from casip.platform.data_version import db_key
from casip.platform.models import (
    ITEM_MODELS,
    AuditEvent,
    Design,
    Job,
    Organisation,
    OrgKind,
    Role,
    User,
    Visibility,
)


@dataclass(frozen=True)
class Actor:
    """The authenticated user making a request."""

    user_id: int
    org_id: int
    org_kind: str
    role: str
    email: str = ""
    name: str = ""
    via_token: bool = False

    @classmethod
    def of(cls, user: User, via_token: bool = False) -> Actor:
        return cls(user.id, user.org_id, user.org.kind, user.role, user.email, user.name, via_token)

    @property
    def is_sponsor(self) -> bool:
        return self.org_kind == OrgKind.SPONSOR

    @property
    def can_create(self) -> bool:
        """May create items and run jobs (engineers and admins of members and institutes)."""
        return self.org_kind in (
            OrgKind.MEMBER,
            OrgKind.INSTITUTE,
            OrgKind.PLATFORM,
        ) and self.role in (
            Role.ENGINEER,
            Role.ADMIN,
        )

    @property
    def is_org_admin(self) -> bool:
        return self.role == Role.ADMIN


class AccessDenied(Exception):
    """The actor may see the item but not do this (HTTP 403)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(Exception):
    """No such item, or one the actor may not see (HTTP 404: the two are not told apart)."""

    def __init__(self, kind: str, item_id: object):
        super().__init__(f"no {kind} with id {item_id}")
        self.kind = kind
        self.item_id = item_id


#: ids are INTEGER columns: 32-bit on PostgreSQL (64-bit on SQLite); anything larger names no
#: row (and would make the drivers raise)
MAX_ID = 2**31 - 1


def load(session: Session, model: type, item_id, kind: str | None = None):
    """``session.get`` for an id from a request: an id no row can have (not a positive
    integer up to :data:`MAX_ID`: the drivers would raise on it) is simply not found."""
    if not isinstance(item_id, int) or not 0 < item_id <= MAX_ID:
        return None
    return session.get(model, item_id)


def model_of(kind: str) -> type:
    try:
        return ITEM_MODELS[kind]
    except KeyError:
        raise NotFound(kind, "?") from None


def _own_read_clause(actor: Actor, model) -> sa.ColumnElement[bool]:
    """The item's own owner/visibility rule (without its source design)."""
    if actor.is_sponsor:
        return sa.or_(model.visibility == Visibility.PUBLIC, model.owner_org_id == actor.org_id)
    return sa.or_(
        model.owner_org_id == actor.org_id,
        model.visibility.in_((Visibility.CONSORTIUM, Visibility.PUBLIC)),
    )


#: visibilities from the narrowest to the widest
VISIBILITY_ORDER = (Visibility.PRIVATE, Visibility.CONSORTIUM, Visibility.PUBLIC)


def is_derived(model: type) -> bool:
    """True for items derived from a design (simulations, lifetime results, test datasets
    attached to a design): they are never more visible than their design."""
    return model is not Design and hasattr(model, "design_id")


def read_clause(actor: Actor, model: type) -> sa.ColumnElement[bool]:
    """SQL condition selecting the rows of ``model`` that ``actor`` may read.

    A derived item (:func:`is_derived`) with a ``design_id`` is readable only while its design
    is readable too (an ``EXISTS`` on the design, evaluated at every query, so that unsharing
    or deleting the design hides its results at once, whoever owns them).
    """
    own = _own_read_clause(actor, model)
    if not is_derived(model):
        return own
    src = aliased(Design)
    source_readable = (
        sa.select(src.id).where(src.id == model.design_id, _own_read_clause(actor, src)).exists()
    )
    return sa.and_(own, sa.or_(model.design_id.is_(None), source_readable))


def readable(actor: Actor, kind: str) -> sa.Select:
    """``SELECT`` of the items of ``kind`` that ``actor`` may read (add filters and order)."""
    model = model_of(kind)
    return sa.select(model).where(read_clause(actor, model))


def _can_read_own(actor: Actor, item) -> bool:
    if item.owner_org_id == actor.org_id:
        return True
    if item.visibility == Visibility.PUBLIC:
        return True
    return item.visibility == Visibility.CONSORTIUM and not actor.is_sponsor


def source_design(item) -> Design | None:
    """The design a derived item was made from (``None`` for designs, items without a design
    and a deleted design); the item must be attached to a session."""
    design_id = getattr(item, "design_id", None)
    if isinstance(item, Design) or design_id is None:
        return None
    session = object_session(item)
    if session is None:
        raise RuntimeError(f"{type(item).__name__} {item.id}: not attached to a session")
    return session.get(Design, design_id)


def can_read(actor: Actor, item) -> bool:
    """The Python twin of :func:`read_clause`: the item's own rule and, for a derived item,
    its design's."""
    if not _can_read_own(actor, item):
        return False
    if getattr(item, "design_id", None) is None or isinstance(item, Design):
        return True
    design = source_design(item)
    return design is not None and _can_read_own(actor, design)


def max_derived_visibility(design: Design | None) -> str:
    """The widest visibility an item derived from ``design`` may have: the design's own."""
    return design.visibility if design is not None else Visibility.PUBLIC


def check_derived_visibility(item, visibility: str) -> None:
    """Refuse (:class:`~casip.errors.CasipInputError`, HTTP 422 naming ``visibility``) a
    visibility wider than the one of the design ``item`` is derived from."""
    design = source_design(item)
    if design is None:
        return
    allowed = max_derived_visibility(design)
    if VISIBILITY_ORDER.index(visibility) > VISIBILITY_ORDER.index(allowed):
        wider = [v.value for v in VISIBILITY_ORDER[: VISIBILITY_ORDER.index(allowed) + 1]]
        raise CasipInputError(
            Problem(
                "visibility",
                f"wider than the {allowed} design {design.id} it is derived from (a result is "
                "never more visible than its source)",
                visibility,
                f"at most {allowed}: one of " + ", ".join(wider),
            )
        )


def can_write(actor: Actor, item) -> bool:
    return item.owner_org_id == actor.org_id and actor.can_create


def _platform_orgs(session: Session) -> frozenset[int]:
    """Ids of the operator's reference-library organisations (reads of their public items are
    not audited: they are not a member's IP). Cached per database."""
    key = db_key(session)
    cached = _PLATFORM_ORGS.get(key)
    if cached is None:
        cached = frozenset(
            session.execute(
                sa.select(Organisation.id).where(Organisation.kind == OrgKind.PLATFORM)
            ).scalars()
        )
        _PLATFORM_ORGS[key] = cached
    return cached


_PLATFORM_ORGS: dict[str, frozenset[int]] = {}


def _audit_reads(session: Session, actor: Actor, kind: str, items, purpose: str) -> None:
    entries = []
    platform = None
    for item in items:
        if purpose != "export":
            if item.owner_org_id == actor.org_id:
                continue
            if platform is None:
                platform = _platform_orgs(session)
            if item.owner_org_id in platform:
                continue
        entries.append(
            {
                "action": "export" if purpose == "export" else "read",
                "actor_user_id": actor.user_id,
                "actor_org_id": actor.org_id,
                "item_kind": kind,
                "item_id": item.id,
                "item_owner_org_id": item.owner_org_id,
                "detail": {"owner_org_id": item.owner_org_id, "visibility": item.visibility},
            }
        )
    if purpose == "export":
        audit.record_many(session, entries)  # in the exporting request's transaction
    else:
        audit.defer(session, entries)  # appended by the background writer (see audit)


def get_for_read(session: Session, actor: Actor, kind: str, item_id: int, purpose: str = "read"):
    """The item if ``actor`` may read it, else :class:`NotFound`. Reads of other
    organisations' items (and every export) are audited; the reference library's public
    items are not."""
    model = model_of(kind)
    item = load(session, model, item_id)
    if item is None or not can_read(actor, item):
        raise NotFound(kind, item_id)
    _audit_reads(session, actor, kind, [item], purpose)
    return item


def get_many_for_read(
    session: Session, actor: Actor, kind: str, ids, *, options=(), columns=None, cache=None
) -> list:
    """Several items in the order of ``ids`` (one query); :class:`NotFound` names the first
    id that does not exist or may not be read. ``options``: loader options, e.g.
    ``sa.orm.defer(Design.document)`` to skip large columns. ``columns``: select these columns
    (they must include ``id``, ``owner_org_id`` and ``visibility``; only for items not derived
    from a design) and return rows instead of ORM objects (cheaper for read-only summaries).
    ``cache``: a :class:`~casip.platform.data_version.VersionedCache` keeping those rows per
    ids while the data do not change (with ``columns`` only); the access check and the audit
    of the read still run on every call."""
    model = model_of(kind)
    ids = list(dict.fromkeys(ids))
    for i in ids:
        if not 0 < i <= MAX_ID:
            raise NotFound(kind, i)
    if columns is not None:
        if hasattr(model, "design_id"):
            raise ValueError(f"columns= reads only items not derived from a design, not {kind}")

        def fetch() -> dict:
            stmt = sa.select(*columns).where(model.id.in_(ids))
            return {r.id: r for r in session.execute(stmt)}

        if cache is not None:
            rows = cache.get(session, (kind, tuple(sorted(ids)), tuple(map(str, columns))), fetch)
        else:
            rows = fetch()
    else:
        rows = {
            r.id: r
            for r in session.execute(
                sa.select(model).where(model.id.in_(ids)).options(*options)
            ).scalars()
        }
    for i in ids:
        if i not in rows or not can_read(actor, rows[i]):
            raise NotFound(kind, i)
    items = [rows[i] for i in ids]
    _audit_reads(session, actor, kind, items, "read")
    return items


def get_for_write(session: Session, actor: Actor, kind: str, item_id: int):
    """The item if ``actor`` may change it; :class:`NotFound` if they may not even read it,
    :class:`AccessDenied` if they may read but not change it."""
    model = model_of(kind)
    item = load(session, model, item_id)
    if item is None or not can_read(actor, item):
        raise NotFound(kind, item_id)
    if not can_write(actor, item):
        raise AccessDenied(
            f"{kind} {item_id} belongs to another organisation or your role ({actor.role}) "
            "may not change it"
        )
    return item


def require_create(actor: Actor) -> None:
    if not actor.can_create:
        who = "sponsor organisations" if actor.is_sponsor else f"the {actor.role} role"
        raise AccessDenied(f"{who} may not create items or run jobs")


def require_org_admin(actor: Actor, org_id: int | None = None) -> None:
    if not actor.is_org_admin or (org_id is not None and org_id != actor.org_id):
        raise AccessDenied("only an admin of the organisation may manage its users")


def set_visibility(
    session: Session,
    actor: Actor,
    kind: str,
    item_id: int,
    visibility: str,
    benchmark_opt_in: bool | None = None,
):
    """Share or unshare an item (audited)."""
    if visibility not in tuple(Visibility):
        raise ValueError(f"visibility {visibility!r}: expected one of private, consortium, public")
    item = get_for_write(session, actor, kind, item_id)
    check_derived_visibility(item, visibility)
    before = (item.visibility, item.benchmark_opt_in)
    item.visibility = visibility
    if benchmark_opt_in is not None:
        item.benchmark_opt_in = benchmark_opt_in
    session.flush()
    audit.record(
        session,
        "visibility",
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        item_kind=kind,
        item_id=item.id,
        detail={"from": before[0], "to": visibility, "benchmark_opt_in": item.benchmark_opt_in},
    )
    return item


def is_platform_admin(actor: Actor) -> bool:
    """True for an admin of the platform organisation (kind ``platform``): the operator."""
    return actor.is_org_admin and actor.org_kind == OrgKind.PLATFORM


def require_platform_admin(actor: Actor) -> None:
    """Raise :class:`~casip.platform.access.AccessDenied` unless ``actor`` is a platform admin."""
    if not is_platform_admin(actor):
        raise AccessDenied("only an admin of the platform organisation may do this")


def audit_visible_clause(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL condition on :class:`AuditEvent` selecting the entries ``actor``'s audit view shows.

    Platform admins see everything. An organisation admin sees entries caused by a user of
    their organisation, and entries whose recorded owner (``item_owner_org_id``: the owner of
    the item, user or token *when the event happened*, see :mod:`casip.platform.audit`) is
    their organisation. Entries are never matched by item id against today's owners: an id
    that named another organisation's item then (ids are not reused, but entries older than
    migration 0006 may predate that) would otherwise show that organisation's history.
    """
    if is_platform_admin(actor):
        return sa.true()
    org = actor.org_id
    return sa.or_(AuditEvent.actor_org_id == org, AuditEvent.item_owner_org_id == org)


def jobs_readable(actor: Actor) -> sa.Select:
    """Jobs are private to the organisation that started them."""
    return sa.select(Job).where(Job.owner_org_id == actor.org_id)


def get_job(session: Session, actor: Actor, job_id: int) -> Job:
    job = load(session, Job, job_id)
    if job is None or job.owner_org_id != actor.org_id:
        raise NotFound("job", job_id)
    return job


def _admitted(model) -> sa.ColumnElement[bool]:
    return sa.or_(
        model.visibility.in_((Visibility.CONSORTIUM, Visibility.PUBLIC)),
        model.benchmark_opt_in.is_(True),
    )


def aggregate_clause(model: type) -> sa.ColumnElement[bool]:
    """Rows that may count in anonymised aggregates: shared items, and private ones whose
    owner opted in. Callers also keep only member and institute owners (the platform's
    reference library is shown as markers, not counted).

    A derived item (:func:`is_derived`) with a design counts only if, besides its own sharing
    or opt-in, its design could be counted by the item's owner: the design belongs to the same
    organisation and is itself shared or opted in, or it is shared (consortium or public) with
    everyone. So a result of a rival's design stops counting when the rival unshares it, and
    an organisation's result of its own private, not opted-in design does not count.
    """
    own = _admitted(model)
    if not is_derived(model):
        return own
    src = aliased(Design)
    countable = (
        sa.select(src.id)
        .where(
            src.id == model.design_id,
            sa.or_(
                src.visibility.in_((Visibility.CONSORTIUM, Visibility.PUBLIC)),
                sa.and_(src.owner_org_id == model.owner_org_id, _admitted(src)),
            ),
        )
        .exists()
    )
    return sa.and_(own, sa.or_(model.design_id.is_(None), countable))


def set_capped_visibility(session: Session, actor: Actor, row, visibility: str, allowed: str,
                          kind: str, capped_by: str):
    """Share or unshare a derived item (a replay, a calibration) whose visibility may not be
    wider than ``allowed`` (the narrowest of what it was made from, named in ``capped_by``);
    audited. 403 for another organisation's item; 422 naming ``visibility`` otherwise."""
    if not can_write(actor, row):
        raise AccessDenied(f"{kind} {row.id} belongs to another organisation")
    order = VISIBILITY_ORDER
    if visibility not in order:
        raise CasipInputError(
            Problem("visibility", "unknown visibility", visibility, "private, consortium or "
                    "public")
        )
    if order.index(visibility) > order.index(allowed):
        raise CasipInputError(
            Problem("visibility", f"wider than {capped_by} allows ({allowed}): a {kind} is never "
                    "more visible than any of them", visibility, f"at most {allowed}")
        )
    before = row.visibility
    row.visibility = visibility
    session.flush()
    audit.record(
        session,
        "visibility",
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        item_kind=kind,
        item_id=row.id,
        item_owner_org_id=row.owner_org_id,
        detail={"from": before, "to": visibility},
    )
    return row
