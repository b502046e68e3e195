"""Hub tests attached to the designs they measure (issue 14, "Tests belong to designs").

An attachment (:class:`~casip.platform.models.DesignTest`) links one design and one test
dataset, with who attached it, when, and an optional note (e.g. which cell or C-rate). The
rules, on top of :mod:`casip.platform.access`:

* attaching needs write access to the design and read access to the test (a shared test of
  another organisation may be attached to one's own design; the read is audited as usual);
* detaching needs write access to the design and read access to the test;
* an attachment is shown only to someone who may read both the design and the test: a design's
  list leaves out the tests the reader may not read, a test's list the designs they may not
  read (so a shared design never reveals another organisation's private test, nor a shared test
  the private designs it was attached to);
* deleting the design or the test deletes the attachment (``ON DELETE CASCADE``);
* attaching and detaching are written to the audit log (``attach_test``, ``detach_test``, about
  the design).

Each attached test carries ``"simulated"``: the newest replay of the test against the design
that the reader may read (:mod:`casip.platform.replays`: simulated curves and error metrics, or
why the replay was impossible), ``None`` until one was run.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.platform import access, audit, replays, uploads
from casip.platform.access import Actor
from casip.platform.models import Design, DesignTest, TestDataset, User
from casip.platform.problems import ApiProblem

#: longest note [characters]
MAX_NOTE_CHARS = 500


def check_note(note: str | None) -> str | None:
    """The note stripped (``None`` when empty), or :class:`CasipInputError` naming ``note``."""
    if note is None:
        return None
    if not isinstance(note, str):
        raise CasipInputError(Problem("note", "not a text", note, "a text or null"))
    note = note.strip()
    if not note:
        return None
    if len(note) > MAX_NOTE_CHARS:
        raise CasipInputError(
            Problem("note", f"{len(note)} characters", note, f"at most {MAX_NOTE_CHARS}")
        )
    if any(ord(c) < 32 and c not in "\t" for c in note):
        raise CasipInputError(
            Problem("note", "contains control characters or line breaks", note, "one line")
        )
    return note


def _audit(session: Session, action: str, actor: Actor, design: Design, test: TestDataset,
           note: str | None = None) -> None:
    detail: dict[str, Any] = {"test_id": test.id, "test_owner_org_id": test.owner_org_id}
    if note is not None:
        detail["note"] = note
    audit.record(
        session,
        action,
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        item_kind="design",
        item_id=design.id,
        item_owner_org_id=design.owner_org_id,
        detail=detail,
    )


def attach(
    session: Session, actor: Actor, design_id: int, test_id: Any, note: str | None = None
) -> DesignTest:
    """Attach test ``test_id`` to design ``design_id``.

    Parameters
    ----------
    session : Session
        The request's session (flushed, not committed).
    actor : Actor
        Who attaches: needs write access to the design and read access to the test.
    design_id, test_id : int
        The design and the test dataset.
    note : str, optional
        e.g. which cell or C-rate (at most :data:`MAX_NOTE_CHARS` characters, one line).

    Returns
    -------
    DesignTest
        The new attachment.

    Raises
    ------
    NotFound
        The design or the test does not exist or may not be read.
    AccessDenied
        The design may be read but not changed.
    CasipInputError
        ``test_id`` is not an integer or ``note`` is not acceptable (HTTP 422).
    ApiProblem
        409 when the test is already attached to the design.
    """
    design = access.get_for_write(session, actor, "design", design_id)
    if test_id is None or isinstance(test_id, bool) or not isinstance(test_id, int):
        raise CasipInputError(
            Problem("test_id", "missing or not an integer", test_id,
                    "the id of a test dataset you may read (GET /api/tests)")
        )
    note = check_note(note)
    test = access.get_for_read(session, actor, "test", test_id)
    exists = session.execute(
        sa.select(DesignTest.id).where(
            DesignTest.design_id == design.id, DesignTest.test_id == test.id
        )
    ).first()
    if exists is not None:
        raise ApiProblem(
            409,
            f"test {test.id} is already attached to design {design.id}",
            [{"field": "test_id", "message": "already attached", "value": test.id,
              "expected": "a test not yet attached to this design (detach it first to "
              "change the note)"}],
        )
    row = DesignTest(
        design_id=design.id, test_id=test.id, note=note, attached_by_id=actor.user_id
    )
    session.add(row)
    session.flush()
    _audit(session, "attach_test", actor, design, test, note)
    return row


def detach(session: Session, actor: Actor, design_id: int, test_id: int) -> None:
    """Remove the attachment of test ``test_id`` to design ``design_id`` (audited).

    Needs write access to the design and read access to the test; :class:`NotFound` (404)
    otherwise, or when the test is not attached to the design.
    """
    design = access.get_for_write(session, actor, "design", design_id)
    test = access.get_for_read(session, actor, "test", test_id)
    row = session.execute(
        sa.select(DesignTest).where(
            DesignTest.design_id == design.id, DesignTest.test_id == test.id
        )
    ).scalar_one_or_none()
    if row is None:
        raise ApiProblem(404, f"test {test.id} is not attached to design {design.id}")
    session.delete(row)
    session.flush()
    _audit(session, "detach_test", actor, design, test)


def _attacher(session: Session, actor: Actor, user_id: int | None) -> dict | None:
    """Who attached it: named only to their own organisation (others get ``None``)."""
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or user.org_id != actor.org_id:
        return None
    return {"id": user.id, "name": user.name}


def entry(session: Session, actor: Actor, link: DesignTest, test: TestDataset) -> dict:
    """One attached test as the API lists it."""
    s = uploads.summary(test)
    return {
        "test_id": test.id,
        "name": test.name,
        "filename": test.filename,
        "format": test.format,
        "rows": test.rows,
        "cycles": test.cycles,
        "cycle_life": test.cycle_life,
        "visibility": test.visibility,
        "owner_org_id": test.owner_org_id,
        "own": test.owner_org_id == actor.org_id,
        "flagged": s["flagged"],
        "flags": s["flags"],
        "note": link.note,
        "attached_at": link.attached_at.isoformat() + "Z",
        "attached_by": _attacher(session, actor, link.attached_by_id),
        "links": {
            "test": f"/api/tests/{test.id}",
            "curves": f"/api/tests/{test.id}/curves",
            "cycles": f"/api/tests/{test.id}/cycles",
            "page": f"/tests/{test.id}",
            "replays": f"/api/designs/{link.design_id}/tests/{test.id}/replays",
        },
        # the newest replay of this test against the design the reader may read
        "simulated": replays.latest(session, actor, link.design_id, test.id),
    }


def attached_tests(session: Session, actor: Actor, design_id: int) -> dict:
    """The tests attached to a design that ``actor`` may read (and the design too).

    Raises :class:`NotFound` when the design may not be read. The tests are in the order they
    were attached."""
    design = access.get_for_read(session, actor, "design", design_id)
    rows = session.execute(
        sa.select(DesignTest, TestDataset)
        .join(TestDataset, TestDataset.id == DesignTest.test_id)
        .where(DesignTest.design_id == design.id, access.read_clause(actor, TestDataset))
        .order_by(DesignTest.attached_at, DesignTest.id)
    ).all()
    return {
        "design_id": design.id,
        "tests": [entry(session, actor, link, test) for link, test in rows],
        "simulated_available": True,
    }


def attached_designs(session: Session, actor: Actor, test_id: int) -> list[dict]:
    """The designs a test is attached to that ``actor`` may read (the caller has checked
    that the test itself may be read)."""
    rows = session.execute(
        sa.select(DesignTest, Design.id, Design.name, Design.kind, Design.visibility,
                  Design.owner_org_id)
        .join(Design, Design.id == DesignTest.design_id)
        .where(DesignTest.test_id == test_id, access.read_clause(actor, Design))
        .order_by(DesignTest.attached_at, DesignTest.id)
    ).all()
    return [
        {
            "design_id": r.id,
            "name": r.name,
            "kind": r.kind,
            "visibility": r.visibility,
            "own": r.owner_org_id == actor.org_id,
            "note": r.DesignTest.note,
            "attached_at": r.DesignTest.attached_at.isoformat() + "Z",
            "links": {"design": f"/api/designs/{r.id}", "page": f"/designs/{r.id}"},
        }
        for r in rows
    ]


def attachable_tests(session: Session, actor: Actor, design_id: int, limit: int = 500) -> list:
    """Tests ``actor`` may read that are not yet attached to the design (for the page's
    select), newest first, at most ``limit``."""
    attached = sa.select(DesignTest.test_id).where(DesignTest.design_id == design_id)
    rows = session.execute(
        sa.select(TestDataset.id, TestDataset.name, TestDataset.format, TestDataset.cycles,
                  TestDataset.owner_org_id)
        .where(access.read_clause(actor, TestDataset), TestDataset.id.not_in(attached))
        .order_by(TestDataset.id.desc())
        .limit(limit)
    ).all()
    return [
        {"id": r.id, "name": r.name, "format": r.format, "cycles": r.cycles,
         "own": r.owner_org_id == actor.org_id}
        for r in rows
    ]


__all__ = [
    "MAX_NOTE_CHARS",
    "attach",
    "attachable_tests",
    "attached_designs",
    "attached_tests",
    "check_note",
    "detach",
    "entry",
]
