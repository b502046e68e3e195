"""Administration: organisations, users and roles, and the audit-log views.

Used by the REST API (:mod:`casip.platform.api.admin`) and the operator CLI
(``casip platform create-org / create-user / users``). Permission checks go through
:mod:`casip.platform.access` (including :func:`~casip.platform.access.audit_visible_clause`).

Rules
-----
* The list of organisations (id, name, kind) is public to every account: consortium
  membership is public knowledge. The users of an organisation are visible to its admins only.
* An organisation admin creates the users of their organisation and changes their role and
  whether they are active. A change that would leave the organisation without an active admin
  is refused (:class:`Conflict`, HTTP 409).
* Deactivating a user ends their browser sessions and revokes their API tokens at once (the
  authentication also refuses any credential of an inactive user).
* Every change is written to the audit log with action ``"permission"``.
* An organisation admin's audit view holds the events their organisation's users caused and
  the events about their organisation's items and users, e.g. another member reading a shared
  design: the reader's *organisation* is named (the reader accepted the consortium terms), the
  individual reader is not. Admins of the platform organisation see the whole log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.platform import access, audit, security
from casip.platform.access import (
    Actor,
    NotFound,
    audit_visible_clause,
    is_platform_admin,
)
from casip.platform.models import (
    ApiToken,
    AuditEvent,
    Organisation,
    OrgKind,
    Role,
    User,
    WebSession,
    utcnow,
)

if TYPE_CHECKING:
    from casip.platform.settings import Settings

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
ROLES = tuple(r.value for r in Role)
ORG_KINDS = tuple(k.value for k in OrgKind)


class Conflict(Exception):
    """The change clashes with the current state (HTTP 409): a duplicate, the last admin."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ActorRef:
    """Who made a change from outside the API (the operator CLI has no user)."""

    user_id: int | None = None
    org_id: int | None = None
    via: str = "api"


# ----------------------------------------------------------------------------------------------
# Permission rules not (yet) in casip.platform.access
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def check_role(role: str, field: str = "role") -> str:
    if role not in ROLES:
        raise CasipInputError(Problem(field, "unknown role", role, "one of " + ", ".join(ROLES)))
    return role


def check_kind(kind: str, field: str = "kind") -> str:
    if kind not in ORG_KINDS:
        raise CasipInputError(
            Problem(field, "unknown organisation kind", kind, "one of " + ", ".join(ORG_KINDS))
        )
    return kind


def check_slug(slug: str, field: str = "slug") -> str:
    if not SLUG_RE.match(slug):
        raise CasipInputError(
            Problem(
                field,
                "not a valid organisation slug",
                slug,
                "1-64 lower-case letters, digits and inner hyphens, e.g. 'acme-cells'",
            )
        )
    return slug


def check_email(email: str, field: str = "email") -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise CasipInputError(
            Problem(field, "not an e-mail address", email, "name@domain (at most 254 characters)")
        )
    return email.lower()


def check_password(password: str, field: str = "password") -> str:
    if len(password) < security.MIN_PASSWORD_LENGTH:
        raise CasipInputError(
            Problem(
                field,
                f"too short ({len(password)} characters)",
                None,  # never echo a password
                f"at least {security.MIN_PASSWORD_LENGTH} characters",
            )
        )
    if len(password) > 1024:
        raise CasipInputError(Problem(field, "too long", None, "at most 1024 characters"))
    return password


def check_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise CasipInputError(Problem(field, "empty or too long", name, "1-200 characters"))
    return name


# ----------------------------------------------------------------------------------------------
# Views
# ----------------------------------------------------------------------------------------------


def org_dict(org: Organisation) -> dict[str, Any]:
    return {"id": org.id, "slug": org.slug, "name": org.name, "kind": org.kind}


def user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "org_id": user.org_id,
        "created_at": user.created_at.isoformat(),
    }


def list_organisations(s: Session) -> list[dict[str, Any]]:
    """Every organisation (id, slug, name, kind): public to any account."""
    rows = s.execute(sa.select(Organisation).order_by(Organisation.id)).scalars()
    return [org_dict(o) for o in rows]


def org_by_slug(s: Session, slug: str, field: str = "org") -> Organisation:
    org = s.execute(sa.select(Organisation).where(Organisation.slug == slug)).scalar_one_or_none()
    if org is None:
        known = s.execute(sa.select(Organisation.slug).order_by(Organisation.slug)).scalars().all()
        raise CasipInputError(
            Problem(field, "no organisation with this slug", slug, "one of " + ", ".join(known))
        )
    return org


def users_query(actor: Actor, org_id: int) -> sa.Select:
    """``SELECT`` of the users of ``org_id`` (403 unless ``actor`` is an admin of it)."""
    access.require_org_admin(actor, org_id)
    return sa.select(User).where(User.org_id == org_id).order_by(User.id)


# ----------------------------------------------------------------------------------------------
# Changes
# ----------------------------------------------------------------------------------------------


def create_organisation(
    s: Session, slug: str, name: str, kind: str, by: ActorRef | None = None
) -> Organisation:
    """Add an organisation (operator only: the CLI). Duplicate slug: :class:`Conflict`."""
    by = by or ActorRef(via="cli")
    check_slug(slug)
    name = check_name(name)
    check_kind(kind)
    if s.execute(sa.select(Organisation.id).where(Organisation.slug == slug)).first():
        raise Conflict(f"organisation slug {slug!r} is already taken")
    org = Organisation(slug=slug, name=name, kind=kind)
    s.add(org)
    s.flush()
    audit.record(
        s,
        "permission",
        actor_user_id=by.user_id,
        actor_org_id=by.org_id,
        item_kind="organisation",
        item_id=org.id,
        detail={"change": "create organisation", "slug": slug, "kind": kind, "via": by.via},
    )
    return org


def add_user(
    s: Session,
    org: Organisation,
    email: str,
    name: str,
    role: str,
    password: str,
    by: ActorRef,
) -> User:
    """Add a user to ``org`` without a permission check (callers check; the CLI is the
    operator). Duplicate e-mail (case-insensitive): :class:`Conflict`."""
    email = check_email(email)
    name = check_name(name)
    check_role(role)
    check_password(password)
    if s.execute(sa.select(User.id).where(sa.func.lower(User.email) == email)).first():
        raise Conflict(f"a user with e-mail {email!r} already exists")
    user = User(
        email=email,
        name=name,
        org_id=org.id,
        role=role,
        password_hash=security.hash_password(password),
    )
    s.add(user)
    s.flush()
    audit.record(
        s,
        "permission",
        actor_user_id=by.user_id,
        actor_org_id=by.org_id,
        item_kind="user",
        item_id=user.id,
        detail={
            "change": "create user",
            "email": email,
            "org_id": org.id,
            "role": role,
            "via": by.via,
        },
    )
    return user


def create_user(
    s: Session, actor: Actor, org_id: int, email: str, name: str, role: str, password: str
) -> User:
    """An organisation admin adds a user to their organisation (audited)."""
    access.require_org_admin(actor, org_id)
    org = access.load(s, Organisation, org_id)
    if org is None:  # pragma: no cover - the actor's own organisation exists
        raise NotFound("organisation", org_id)
    return add_user(s, org, email, name, role, password, ActorRef(actor.user_id, actor.org_id))


def _active_admins(s: Session, org_id: int) -> int:
    return s.execute(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.org_id == org_id, User.role == Role.ADMIN, User.is_active.is_(True))
    ).scalar_one()


def end_credentials(s: Session, user_id: int) -> dict[str, int]:
    """End the browser sessions and revoke the API tokens of a user (on deactivation)."""
    sessions = s.execute(sa.delete(WebSession).where(WebSession.user_id == user_id)).rowcount
    tokens = s.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
    return {"sessions_ended": sessions or 0, "tokens_revoked": tokens or 0}


def update_user(
    s: Session,
    actor: Actor,
    user_id: int,
    role: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user's role or active flag (an admin of the user's organisation; audited).

    Raises
    ------
    AccessDenied
        The actor is not an organisation admin (403).
    NotFound
        No such user in the actor's organisation (404: users of other organisations are not
        told apart from missing ones).
    Conflict
        The change would leave the organisation without an active admin (409).
    """
    access.require_org_admin(actor)
    user = access.load(s, User, user_id)
    if user is None or user.org_id != actor.org_id:
        raise NotFound("user", user_id)
    access.require_org_admin(actor, user.org_id)
    if role is not None:
        check_role(role)
    changes: dict[str, list[Any]] = {}
    if role is not None and role != user.role:
        changes["role"] = [user.role, role]
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = [user.is_active, is_active]
    if not changes:
        return user
    was_admin = user.role == Role.ADMIN and user.is_active
    stays_admin = (role or user.role) == Role.ADMIN and (
        user.is_active if is_active is None else is_active
    )
    if was_admin and not stays_admin and _active_admins(s, user.org_id) <= 1:
        who = "yourself" if user.id == actor.user_id else f"user {user.id}"
        raise Conflict(
            f"cannot demote or deactivate {who}: the organisation would have no active admin "
            "left (make another user admin first)"
        )
    if role is not None:
        user.role = role
    detail: dict[str, Any] = {"change": "update user", "email": user.email, "changes": changes}
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            detail.update(end_credentials(s, user.id))
    s.flush()
    audit.record(
        s,
        "permission",
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        item_kind="user",
        item_id=user.id,
        detail=detail,
    )
    return user


# ----------------------------------------------------------------------------------------------
# Audit view
# ----------------------------------------------------------------------------------------------


def audit_query(
    actor: Actor,
    action: str | None = None,
    item_kind: str | None = None,
    item_id: int | None = None,
) -> sa.Select:
    """``SELECT`` of the audit entries ``actor`` may see, newest first (org admins only)."""
    access.require_org_admin(actor)
    stmt = sa.select(AuditEvent).where(audit_visible_clause(actor))
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if item_kind:
        stmt = stmt.where(AuditEvent.item_kind == item_kind)
    if item_id is not None:
        stmt = stmt.where(AuditEvent.item_id == item_id)
    return stmt.order_by(AuditEvent.id.desc())


class AuditRenderer:
    """Turns audit entries into dicts for ``actor``, naming actors' organisations.

    The acting *user* (id and e-mail) is shown only for the viewer's own organisation (and to
    platform admins); for another organisation only its name is shown."""

    def __init__(self, s: Session, actor: Actor):
        self.actor = actor
        self.everything = is_platform_admin(actor)
        self.orgs = dict(s.execute(sa.select(Organisation.id, Organisation.name)).all())
        self.s = s
        self._emails: dict[int, str | None] = {}

    def _email(self, user_id: int) -> str | None:
        if user_id not in self._emails:
            self._emails[user_id] = self.s.execute(
                sa.select(User.email).where(User.id == user_id)
            ).scalar_one_or_none()
        return self._emails[user_id]

    def __call__(self, ev: AuditEvent) -> dict[str, Any]:
        own = ev.actor_org_id is not None and ev.actor_org_id == self.actor.org_id
        show_user = (self.everything or own) and ev.actor_user_id is not None
        try:
            detail = json.loads(ev.detail)
        except ValueError:  # pragma: no cover - written by audit.record: always JSON
            detail = {"raw": ev.detail}
        return {
            "id": ev.id,
            "at": ev.at,
            "action": ev.action,
            "actor": {
                "org_id": ev.actor_org_id,
                "organisation": self.orgs.get(ev.actor_org_id) if ev.actor_org_id else None,
                "user_id": ev.actor_user_id if show_user else None,
                "email": self._email(ev.actor_user_id) if show_user else None,
                "operator": ev.actor_user_id is None and ev.actor_org_id is None,
            },
            "item_kind": ev.item_kind,
            "item_id": ev.item_id,
            "detail": detail,
        }


# ----------------------------------------------------------------------------------------------
# Backups
# ----------------------------------------------------------------------------------------------

BACKUP_FORMAT = "casip.platform-backup/1"
SQLITE_MEMBER = "casip.db"
PG_MEMBER = "casip.pgdump"
MANIFEST_MEMBER = "manifest.json"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message names the path or value and what
    was expected (the CLI prints it and exits with status 2)."""


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for another database."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError(f"database {database_url!r}: expected a SQLite file, not in-memory")
    return Path(url.database)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _sqlite_copy(src_path: Path, dst_path: Path) -> dict[str, Any]:
    """A consistent copy of a live SQLite database (SQLite's online backup API), as a single
    file (rollback journal, not WAL); returns counts for the manifest."""
    if not src_path.is_file():
        raise BackupError(
            f"{src_path}: no database there; expected the database of a platform data folder "
            "(--data-dir) or --database"
        )
    src = sqlite3.connect(str(src_path), timeout=30)
    try:
        dst = sqlite3.connect(str(dst_path))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":  # pragma: no cover - a corrupt source database
                raise BackupError(f"{src_path}: the copy fails SQLite's quick_check: {check}")
            return _sqlite_counts(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in ("organisations", "users", "designs", "audit_events"):
        try:
            out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except sqlite3.Error:
            out[table] = None
    try:
        out["audit_last_hash"] = (
            conn.execute("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
            or (None,)
        )[0]
        out["revision"] = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except (sqlite3.Error, TypeError):
        out.setdefault("audit_last_hash", None)
        out["revision"] = None
    return out


def _pg_dump(database_url: str, dst_path: Path) -> None:
    """``pg_dump -Fc`` of a PostgreSQL database (the password goes through the environment,
    never the command line)."""
    from sqlalchemy.engine import make_url

    exe = shutil.which("pg_dump")
    if exe is None:
        raise BackupError(
            "pg_dump not found on PATH: expected the PostgreSQL client tools of the server's "
            "major version (e.g. apt-get install postgresql-client)"
        )
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    conninfo = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    proc = subprocess.run(
        [exe, "-Fc", "--dbname", conninfo, "--file", str(dst_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BackupError(f"pg_dump failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")


def _store_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return info if info.isfile() or info.isdir() else None  # no links or devices


def backup(settings: Settings, out: Path, force: bool = False) -> dict[str, Any]:
    """Write a backup of the platform to the archive ``out`` (a gzip'd tar).

    The archive holds ``manifest.json``, the database (``casip.db``: a consistent online copy
    made with SQLite's backup API; or ``casip.pgdump``: ``pg_dump -Fc`` of PostgreSQL) and the
    test-data store folder (``store/``). The database is copied first, so every stored file it
    refers to is in the archive. The archive is written next to ``out`` and renamed into place
    when complete, so ``out`` is never half written.

    Parameters
    ----------
    settings : Settings
        The platform's data folder and database URL.
    out : Path
        Archive to write; refused if it exists unless ``force``.
    force : bool
        Replace an existing ``out``.

    Returns
    -------
    dict
        The manifest written into the archive.
    """
    out = Path(out)
    if out.is_dir():
        raise BackupError(f"{out}: is a folder; expected the name of the backup file to write")
    if out.exists() and not force:
        raise BackupError(f"{out}: already exists; expected a new file name (or --force)")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent}: no such folder; expected an existing folder for OUT")
    import casip

    manifest: dict[str, Any] = {
        "format": BACKUP_FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "casip_version": casip.__version__,
    }
    work = Path(tempfile.mkdtemp(prefix=".casip-backup-", dir=out.parent))
    try:
        db_file = sqlite_path(settings.database_url)
        if db_file is not None:
            member = work / SQLITE_MEMBER
            manifest.update(database="sqlite", **_sqlite_copy(db_file, member))
        elif settings.database_url.startswith("postgresql"):
            member = work / PG_MEMBER
            _pg_dump(settings.database_url, member)
            manifest["database"] = "postgresql"
        else:
            raise BackupError(
                f"database {settings.database_url.split(':', 1)[0]!r}: expected sqlite or "
                "postgresql"
            )
        store = settings.store_dir
        manifest["store"] = store.is_dir()
        (work / MANIFEST_MEMBER).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        archive = work / "backup.tar.gz"
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
            tar.add(work / MANIFEST_MEMBER, MANIFEST_MEMBER)
            tar.add(member, member.name)
            if store.is_dir():
                tar.add(store, "store", filter=_store_filter)
        _fsync(archive)
        os.replace(archive, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        parts = Path(m.name).parts
        ok_name = m.name in (MANIFEST_MEMBER, SQLITE_MEMBER, PG_MEMBER) or (
            parts and parts[0] == "store"
        )
        if (
            not ok_name
            or Path(m.name).is_absolute()
            or ".." in parts
            or not (m.isfile() or m.isdir())
        ):
            raise BackupError(
                f"{archive}: unexpected entry {m.name!r}; expected a backup written by "
                "'casip platform backup'"
            )
        members.append(m)
    return members


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of a backup archive (checks that it is one)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            f = tar.extractfile(MANIFEST_MEMBER)
            manifest = json.loads(f.read()) if f else None
    except (OSError, tarfile.TarError, KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise BackupError(
            f"{archive}: not a platform backup; expected an archive written by "
            f"'casip platform backup' ({BACKUP_FORMAT})"
        )
    return manifest


def restore(settings: Settings, archive: Path) -> dict[str, Any]:
    """Restore a SQLite backup into an empty or new data folder.

    Refuses a data folder that already has a database (or a non-empty store), and PostgreSQL
    backups (restore those with ``pg_restore``). After restoring, the audit chain is verified.

    Returns
    -------
    dict
        The backup's manifest plus ``"audit"``: the chain report of the restored database.
    """
    from casip.platform.db import Database

    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file; expected a backup archive")
    manifest = read_manifest(archive)
    if manifest.get("database") != "sqlite":
        raise BackupError(
            f"{archive}: holds a PostgreSQL dump; 'casip platform restore' restores SQLite "
            f"backups. Expected: extract it (tar -xzf {archive.name}), load {PG_MEMBER} into an "
            f"empty database with 'pg_restore --no-owner -d <database> {PG_MEMBER}' and copy "
            "store/ into the data folder"
        )
    db_file = sqlite_path(settings.database_url)
    if db_file is None:
        raise BackupError(
            "the target database is not SQLite; expected a data folder with its SQLite database "
            "(unset CASIP_DATABASE_URL / --database)"
        )
    for p in (db_file, Path(f"{db_file}-wal")):
        if p.exists():
            raise BackupError(
                f"{p}: the data folder already has a database; expected an empty or new folder "
                "(restore never overwrites)"
            )
    store = settings.store_dir
    if store.is_dir() and any(store.iterdir()):
        raise BackupError(f"{store}: not empty; expected an empty or new data folder")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db_file.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".casip-restore-", dir=settings.data_dir))
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(work, members=_safe_members(tar, archive), filter="data")
        if not (work / SQLITE_MEMBER).is_file():
            raise BackupError(f"{archive}: no {SQLITE_MEMBER} inside; expected a SQLite backup")
        conn = sqlite3.connect(str(work / SQLITE_MEMBER))
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
        if check != "ok":
            raise BackupError(f"{archive}: the database in the backup is damaged: {check}")
        if (work / "store").is_dir():
            if store.is_dir():
                store.rmdir()
            shutil.move(str(work / "store"), str(store))
        shutil.move(str(work / SQLITE_MEMBER), str(db_file))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            report = audit.verify(s)
    finally:
        db.dispose()
    return {**manifest, "audit": report.__dict__}
