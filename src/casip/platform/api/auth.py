"""Login, logout, who am I, and API tokens."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from casip.platform import access, audit, security
from casip.platform.access import Actor, NotFound
from casip.platform.deps import (
    SESSION_COOKIE,
    Authenticated,
    CommitRoute,
    authenticated,
    current_actor,
    db_session,
    platform_of,
)
from casip.platform.models import ApiToken, Organisation, User, WebSession, utcnow
from casip.platform.problems import ApiProblem
from casip.platform.throttle import login_attempt

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["auth"])


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


def me_dict(actor: Actor, s: Session) -> dict:
    org = s.get(Organisation, actor.org_id)
    return {
        "user_id": actor.user_id,
        "email": actor.email,
        "name": actor.name,
        "role": actor.role,
        "organisation": {
            "id": org.id,
            "slug": org.slug,
            "name": org.name,
            "kind": org.kind,
            "is_demo": org.is_demo,
        },
    }


def check_login(s: Session, email: str, password: str) -> User:
    """The active user with this e-mail and password, else 401 (same answer for both faults)."""
    user = s.execute(
        sa.select(User).where(sa.func.lower(User.email) == email.strip().lower())
    ).scalar_one_or_none()
    ok = security.verify_password(user.password_hash if user else security.DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        raise ApiProblem(401, "wrong e-mail or password")
    return user


def open_session(s: Session, user: User, hours: int) -> tuple[str, WebSession]:
    token = security.new_session_token()
    ws = WebSession(
        token_hash=security.digest(token),
        user_id=user.id,
        csrf_token=security.new_session_token(),
        expires_at=utcnow() + dt.timedelta(hours=hours),
    )
    s.add(ws)
    s.flush()
    audit.record(s, "login", actor_user_id=user.id, actor_org_id=user.org_id)
    return token, ws


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    settings = platform_of(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_hours * 3600,
        path="/",
    )


@router.post(
    "/login",
    summary="Log in (sets the session cookie; returns the CSRF token)",
    responses={
        401: {"description": "Wrong e-mail or password (problem JSON)"},
        429: {
            "description": "Too many failed logins for this account or from this address; "
            "the password was not checked (problem JSON, Retry-After header)"
        },
    },
)
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    with login_attempt(request, body.email):  # throttled before the password hash
        user = check_login(s, body.email, body.password)
    token, ws = open_session(s, user, platform_of(request).settings.session_hours)
    set_session_cookie(response, token, request)
    return {"csrf_token": ws.csrf_token, "user": me_dict(Actor.of(user), s)}


@router.post("/logout", summary="Log out (ends the browser session)")
def logout(
    response: Response,
    auth: Authenticated = Depends(authenticated),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    if auth.session is not None:
        s.execute(sa.delete(WebSession).where(WebSession.id == auth.session.id))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/me", summary="The authenticated user and organisation")
def me(
    auth: Authenticated = Depends(authenticated), s: Session = Depends(db_session, scope="function")
) -> dict:
    out = me_dict(auth.actor, s)
    if auth.session is not None:
        out["csrf_token"] = auth.session.csrf_token
    return out


def token_dict(t: ApiToken) -> dict:
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "created_at": t.created_at.isoformat(),
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
    }


def create_token(s: Session, actor: Actor, name: str) -> tuple[str, ApiToken]:
    token = security.new_token()
    row = ApiToken(
        user_id=actor.user_id, name=name, prefix=token[:12], token_hash=security.digest(token)
    )
    s.add(row)
    s.flush()
    audit.record(
        s,
        "token.create",
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        item_kind="token",
        item_id=row.id,
        detail={"name": name},
    )
    return token, row


def revoke_token(s: Session, actor: Actor, token_id: int) -> ApiToken:
    row = access.load(s, ApiToken, token_id)
    if row is None or row.user_id != actor.user_id:
        raise NotFound("token", token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            s,
            "token.revoke",
            actor_user_id=actor.user_id,
            actor_org_id=actor.org_id,
            item_kind="token",
            item_id=row.id,
        )
    return row


@router.get("/tokens", summary="Your API tokens (never the secrets)")
def list_tokens(
    actor: Actor = Depends(current_actor), s: Session = Depends(db_session, scope="function")
) -> list[dict]:
    rows = s.execute(
        sa.select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id)
    ).scalars()
    return [token_dict(t) for t in rows]


@router.post("/tokens", status_code=201, summary="Create an API token (the secret is shown once)")
def new_token(
    body: TokenIn,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    token, row = create_token(s, actor, body.name)
    return {**token_dict(row), "token": token}


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
def delete_token(
    token_id: int,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    return token_dict(revoke_token(s, actor, token_id))
