"""Offset pagination shared by every list endpoint: ``?limit=&offset=`` in, a page out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_LIMIT = 200


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="items per page"),
    offset: int = Query(0, ge=0, le=10_000_000, description="items to skip"),
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None


def paginate(
    session: Session, stmt: sa.Select, params: PageParams, to_item: Callable[[Any], Any]
) -> dict:
    """Run ``stmt`` for one page (and its total count)."""
    total = session.execute(
        sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
    ).scalar_one()
    rows = session.execute(stmt.limit(params.limit).offset(params.offset)).scalars().all()
    nxt = params.offset + params.limit
    return {
        "items": [to_item(r) for r in rows],
        "total": total,
        "limit": params.limit,
        "offset": params.offset,
        "next_offset": nxt if nxt < total else None,
    }
