"""Tests attached to designs: attach, list, detach (see :mod:`casip.platform.design_tests`).

``POST /api/designs/{design_id}/tests`` with ``{"test_id": 12, "note": "cell B, 1C"}``
attaches a test dataset you may read to a design you may change (201; 409 if attached
already); ``GET /api/designs/{design_id}/tests`` lists the attached tests you may read, each
with its name, format, cycles, flags and links to its curves; ``DELETE
/api/designs/{design_id}/tests/{test_id}`` detaches one. ``GET /api/tests/{test_id}`` lists the
designs a test is attached to (``designs``).

The design is checked (404 when it may not be read, 403 when it may not be changed) before the
request body: probing a design you cannot see answers as for a missing one.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from casip.platform import access
from casip.platform import design_tests as svc
from casip.platform.deps import CommitRoute, CurrentActor, DbSession

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["designs", "test data"])


class AttachIn(BaseModel):
    test_id: int = Field(description="a test dataset you may read (GET /api/tests)")
    note: str | None = Field(
        None,
        max_length=svc.MAX_NOTE_CHARS,
        description="optional, one line: e.g. which cell of the design, or the C-rate",
    )


def writable_design(design_id: int, actor: CurrentActor, s: DbSession) -> int:
    """The design id, once the actor may change the design (checked before the body)."""
    return access.get_for_write(s, actor, "design", design_id).id


@router.post(
    "/designs/{design_id}/tests",
    status_code=201,
    summary="Attach a test dataset to a design (audited)",
    description=(
        "Needs write access to the design and read access to the test. Answers 201 with the "
        "attached test as listed by GET; 409 when it is attached already."
    ),
)
def attach_test(
    body: AttachIn,
    actor: CurrentActor,
    s: DbSession,
    design_id: int = Depends(writable_design),
) -> dict:
    link = svc.attach(s, actor, design_id, body.test_id, body.note)
    test = access.load(s, access.model_of("test"), link.test_id)
    return svc.entry(s, actor, link, test)


@router.get(
    "/designs/{design_id}/tests",
    summary="The test datasets attached to a design (those you may read)",
    description=(
        "Each test with its name, format, cycles, flags, note, and links to its curves "
        "(`links.curves`: GET /api/tests/{id}/curves). `simulated`: the newest replay of the "
        "test against the design you may read (curves and error metrics, or why it was "
        "impossible; POST `links.replays` runs one), null until one was run."
    ),
)
def list_design_tests(design_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return svc.attached_tests(s, actor, design_id)


@router.delete(
    "/designs/{design_id}/tests/{test_id}", summary="Detach a test dataset from a design (audited)"
)
def detach_test(design_id: int, test_id: int, actor: CurrentActor, s: DbSession) -> dict:
    svc.detach(s, actor, design_id, test_id)
    return {"design_id": design_id, "detached": test_id}
