"""The data version: a cheap fingerprint that changes whenever shared items change.

Caches of anonymised or listed data (the benchmark, the dashboard) are keyed by it:

* a counter of this process's committed ORM writes to the item tables and organisations
  (``after_flush`` notes that a session wrote such a row, ``after_commit`` bumps the counter,
  a rollback forgets it), so every write made through this server shows on the next request;
* ``count(*)`` and ``max(id)`` of each of those tables in one index-only query, so that rows
  created or deleted by another server process sharing the database are seen too (their
  in-place updates are seen when the caches' maximum age runs out).
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.platform.models import Design, LifetimeResult, Organisation, Simulation, TestDataset


class _WriteCounter:
    """Counts committed ORM writes to the tables the benchmark reads (this process)."""

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def bump(self) -> None:
        with self.lock:
            self.value += 1


WRITES = _WriteCounter()
_WATCHED = (Design, Simulation, LifetimeResult, TestDataset, Organisation)
_DIRTY = "casip_benchmark_dirty"


@sa.event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _ctx) -> None:
    # still the pre-flush state here: new, dirty and deleted list what was written
    if any(isinstance(o, _WATCHED) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[_DIRTY] = True


@sa.event.listens_for(Session, "do_orm_execute")
def _note_bulk(state) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and any(
        m.class_ in _WATCHED for m in state.all_mappers
    ):
        state.session.info[_DIRTY] = True


@sa.event.listens_for(Session, "after_commit")
def _bump_on_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        WRITES.bump()


@sa.event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)


def fingerprint(session: Session) -> tuple:
    """The data version (see Caching): this process's committed-write counter, and one
    index-only query of ``count(*)`` and ``max(id)`` of the tables read."""
    parts = []
    for m in _WATCHED:
        parts += [
            sa.select(sa.func.count()).select_from(m).scalar_subquery(),
            sa.select(sa.func.max(m.id)).scalar_subquery(),
        ]
    return (WRITES.value, *session.execute(sa.select(*parts)).one())
