"""First-start content: the reference library and a clearly labelled demo consortium.

* The platform organisation "CASIP reference library" owns the materials-derived reference
  cells (``casip.cells``), public to every account.
* The demo consortium (``--no-demo`` / ``CASIP_SEED_DEMO=0`` leaves it out) is fictitious:
  invented organisation names marked "(demo)", never attributed to real companies. Its
  designs are variations of the reference cells evaluated by the real design engine, dated
  over 2025-2026 so that the roadmap has a history. Every demo user's password is
  :data:`DEMO_PASSWORD` (printed by ``casip serve``); change or remove them before real use.
"""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa

from casip.cells import reference_designs
from casip.design.api import with_updates
from casip.errors import CasipInputError
from casip.platform import designs as design_svc
from casip.platform.db import Database
from casip.platform.models import Design, Organisation, OrgKind, Role, User, Visibility
from casip.platform.security import hash_password

PLATFORM_SLUG = "casip-reference"
DEMO_PASSWORD = "casip-demo-2030"

#: (slug, name, kind)
DEMO_ORGS = (
    ("kestrel", "Kestrel Cells (demo)", OrgKind.MEMBER),
    ("lantern", "Lantern Motors (demo)", OrgKind.MEMBER),
    ("basalt", "Basalt Materials (demo)", OrgKind.MEMBER),
    ("ionics-institute", "Solid Ionics Institute (demo)", OrgKind.INSTITUTE),
    ("programme-office", "Energy Programme Office (demo sponsor)", OrgKind.SPONSOR),
)
DEMO_ROLES = (Role.ADMIN, Role.ENGINEER, Role.VIEWER)

#: which reference cells each demo organisation works from, and what it varies
DEMO_PLANS = {
    "kestrel": ("assb-sulfide-li", "assb-sulfide-si", "nmc811-pouch"),
    "lantern": ("nmc811-4680", "semi-solid-sic", "assb-sulfide-si"),
    "basalt": ("oxide-anode-free", "assb-sulfide-li", "lfp-blade"),
    "ionics-institute": ("assb-sulfide-li", "oxide-anode-free"),
}


def demo_email(slug: str, role: str) -> str:
    return f"{role}@{slug}.demo"


def _variations(base_id: str, rng: random.Random, n: int) -> list[tuple[dict, dict]]:
    """``n`` plausible variations of a reference cell (cathode loading, separator thickness),
    each as (document, metrics) from the design engine."""
    base = reference_designs()[base_id]
    out = []
    for i in range(n):
        progress = i / max(1, n - 1)  # later designs push loading up: a visible trend
        updates: dict[str, object] = {}
        cap = base.cathode.areal_capacity_mAh_cm2
        if cap is not None:
            updates["cathode.areal_capacity_mAh_cm2"] = round(
                cap * (0.85 + 0.3 * progress + rng.uniform(-0.05, 0.05)), 2
            )
        if base.separator.thickness_um > 10:
            updates["separator.thickness_um"] = round(
                base.separator.thickness_um * rng.uniform(0.8, 1.1), 1
            )
        doc = None
        for trial in (updates, {k: v for k, v in updates.items() if k.startswith("separator")}, {}):
            try:  # a variation that does not fit its can falls back to fewer changes
                d = with_updates(base, trial) if trial else base
                doc = d.model_dump(mode="json", by_alias=True, exclude_none=True)
                doc["name"] = f"{base.name.split('(')[0].strip()} — variant {i + 1}"
                out.append(design_svc.evaluate_document(doc))
                break
            except CasipInputError:
                continue
    return out


def seed(db: Database, demo: bool = True) -> bool:
    """Seed an empty database; return False (and change nothing) if it has organisations."""
    with db.session() as s:
        if s.execute(sa.select(sa.func.count()).select_from(Organisation)).scalar_one():
            return False
        platform = Organisation(
            slug=PLATFORM_SLUG, name="CASIP reference library", kind=OrgKind.PLATFORM
        )
        s.add(platform)
        s.flush()
        for ref_id, design in reference_designs().items():
            doc = design.model_dump(mode="json", by_alias=True, exclude_none=True)
            doc, metrics = design_svc.evaluate_document(doc)
            row = Design(
                owner_org_id=platform.id, visibility=Visibility.PUBLIC, reference_id=ref_id
            )
            design_svc.apply_metrics(row, doc, metrics)
            s.add(row)
        if not demo:
            return True
        pw = hash_password(DEMO_PASSWORD)
        rng = random.Random(2030)
        start = dt.datetime(2025, 1, 15)
        for slug, name, kind in DEMO_ORGS:
            org = Organisation(slug=slug, name=name, kind=kind, is_demo=True)
            s.add(org)
            s.flush()
            for role in DEMO_ROLES:
                s.add(
                    User(
                        email=demo_email(slug, role),
                        name=f"{role.capitalize()} at {name}",
                        org_id=org.id,
                        role=role,
                        password_hash=pw,
                    )
                )
            s.flush()
            engineer = s.execute(
                sa.select(User).where(User.email == demo_email(slug, Role.ENGINEER))
            ).scalar_one()
            for base_id in DEMO_PLANS.get(slug, ()):
                for i, (doc, metrics) in enumerate(_variations(base_id, rng, 4)):
                    when = start + dt.timedelta(days=int(600 * i / 3 + rng.uniform(0, 40)))
                    visibility = (
                        Visibility.CONSORTIUM,
                        Visibility.PRIVATE,
                        Visibility.CONSORTIUM,
                        Visibility.PRIVATE,
                    )[i]
                    row = Design(
                        owner_org_id=org.id,
                        created_by_id=engineer.id,
                        visibility=visibility,
                        benchmark_opt_in=(i == 1),
                        created_at=when,
                        updated_at=when,
                    )
                    design_svc.apply_metrics(row, doc, metrics)
                    s.add(row)
        return True
