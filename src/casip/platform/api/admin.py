"""Administration API: organisations, users and roles, and the audit log.

The rules are described in :mod:`casip.platform.admin`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from casip.platform import access, audit
from casip.platform import admin as svc
from casip.platform.deps import CommitRoute, CurrentActor, DbSession
from casip.platform.pagination import PageParams, page_params, paginate
from casip.platform.problems import ApiProblem

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["admin"])

RoleName = Literal["admin", "engineer", "viewer"]


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    role: RoleName
    password: str = Field(max_length=1024, description="at least 10 characters")


class UserUpdate(BaseModel):
    role: RoleName | None = None
    is_active: bool | None = None


@router.get("/organisations", summary="Every organisation of the consortium (id, name, kind)")
def organisations(actor: CurrentActor, s: DbSession) -> list[dict]:
    return svc.list_organisations(s)


@router.get("/organisations/{org_id}/users", summary="Users of your organisation (admins)")
def org_users(
    org_id: int,
    actor: CurrentActor,
    s: DbSession,
    page: PageParams = Depends(page_params),
) -> dict:
    return paginate(s, svc.users_query(actor, org_id), page, svc.user_dict)


@router.post(
    "/organisations/{org_id}/users",
    status_code=201,
    summary="Add a user to your organisation (admins; audited)",
)
def add_user(org_id: int, body: UserIn, actor: CurrentActor, s: DbSession) -> dict:
    try:
        user = svc.create_user(s, actor, org_id, body.email, body.name, body.role, body.password)
    except svc.Conflict as exc:
        raise ApiProblem(409, exc.message) from None
    return svc.user_dict(user)


@router.patch(
    "/users/{user_id}",
    summary="Change a user's role or deactivate / reactivate them (admins; audited)",
)
def update_user(user_id: int, body: UserUpdate, actor: CurrentActor, s: DbSession) -> dict:
    try:
        user = svc.update_user(s, actor, user_id, role=body.role, is_active=body.is_active)
    except svc.Conflict as exc:
        raise ApiProblem(409, exc.message) from None
    return svc.user_dict(user)


@router.get(
    "/audit",
    summary="Audit log, newest first: your organisation's actions and events about its items "
    "(admins; the platform's admins see everything)",
)
def audit_log(
    actor: CurrentActor,
    s: DbSession,
    action: str | None = Query(None, max_length=64),
    item_kind: str | None = Query(None, max_length=32),
    item_id: int | None = Query(None),
    page: PageParams = Depends(page_params),
) -> dict:
    audit.flush(s)  # reads queued for the background writer are shown too
    stmt = svc.audit_query(actor, action=action, item_kind=item_kind, item_id=item_id)
    return paginate(s, stmt, page, svc.AuditRenderer(s, actor))


@router.get("/audit/verify", summary="Verify the audit log's hash chain (platform admins)")
def audit_verify(actor: CurrentActor, s: DbSession) -> dict:
    access.require_platform_admin(actor)
    return audit.verify(s).__dict__
