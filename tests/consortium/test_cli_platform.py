"""The operator CLI: ``casip platform create-org / create-user / users / backup / restore``."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from casip.cli import app
from casip.platform.app import create_app
from casip.platform.settings import Settings

PASSWORD = "operator-chosen-password"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("CASIP_DATABASE_URL", "CASIP_DATA_DIR", "CASIP_NEW_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def run(*args: str, env: dict | None = None, input: str | None = None, code: int = 0):
    result = CliRunner().invoke(app, ["platform", *args], env=env, input=input)
    assert result.exit_code == code, result.output
    return result


def _design_doc(client: TestClient, headers: dict) -> dict:
    ref = client.get("/api/designs", params={"limit": 1}, headers=headers).json()["items"][0]
    return client.get(f"/api/designs/{ref['id']}", headers=headers).json()["document"]


def _login(client: TestClient, email: str, password: str = PASSWORD) -> dict:
    r = client.post("/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/tokens", json={"name": "cli test"}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data folder set up with the CLI (an organisation, an admin, an engineer), in which the
    engineer created a design through the app; plus a file in the test-data store."""
    d = tmp_path_factory.mktemp("cli") / "data"
    mp = pytest.MonkeyPatch()
    for name in ("CASIP_DATABASE_URL", "CASIP_DATA_DIR", "CASIP_NEW_PASSWORD"):
        mp.delenv(name, raising=False)
    try:
        run("create-org", "acme", "ACME Cells", "--kind", "member", "--data-dir", str(d))
        pw_file = d.parent / "pw.txt"
        pw_file.write_text(PASSWORD + "\n")
        run(
            "create-user", "Boss@acme.test", "--org", "acme", "--role", "admin", "--name", "Boss",
            "--password-file", str(pw_file), "--data-dir", str(d),
        )  # fmt: skip
        run(
            "create-user", "eng@acme.test", "--org", "acme", "--role", "engineer",
            "--name", "Eng", "--data-dir", str(d),
            env={"CASIP_NEW_PASSWORD": PASSWORD},
        )  # fmt: skip
        run(
            "create-user", "viewer@acme.test", "--org", "acme", "--role", "viewer",
            "--name", "Viewer", "--data-dir", str(d),
            input=f"{PASSWORD}\n{PASSWORD}\n",
        )  # fmt: skip
        with TestClient(create_app(Settings(data_dir=d, seed_demo=False))) as c:
            h = _login(c, "eng@acme.test")
            doc = _design_doc(c, h)
            doc["name"] = "made after create-user"
            r = c.post("/api/designs", json={"document": doc}, headers=h)
            assert r.status_code == 201, r.text
        (d / "store" / "t1").mkdir(parents=True)
        (d / "store" / "t1" / "data.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    finally:
        mp.undo()
    return d


def test_created_users_log_in_and_are_listed(data_dir):
    with TestClient(create_app(Settings(data_dir=data_dir, seed_demo=False))) as c:
        h = _login(c, "boss@acme.test")  # e-mail stored lower-case
        me = c.get("/api/me", headers=h).json()
        assert me["role"] == "admin" and me["organisation"]["slug"] == "acme"
        users = c.get(f"/api/organisations/{me['organisation']['id']}/users", headers=h).json()
        assert {u["email"] for u in users["items"]} == {
            "boss@acme.test",
            "eng@acme.test",
            "viewer@acme.test",
        }
        created = c.get("/api/audit", params={"item_kind": "user"}, headers=h).json()["items"]
        assert len(created) == 3 and all(e["actor"]["operator"] for e in created)
        assert all(e["detail"]["via"].startswith("cli") for e in created)
    out = json.loads(run("users", "--json", "--data-dir", str(data_dir)).stdout)
    assert {(u["email"], u["role"], u["org"]) for u in out} >= {
        ("eng@acme.test", "engineer", "acme")
    }
    table = run("users", "--org", "acme", "--data-dir", str(data_dir)).stdout
    assert "viewer@acme.test" in table and "email" in table.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "named", "env"),
    [
        (("create-user", "x@acme.test", "--org", "acme", "--role", "boss", "--name", "X"),
         "'boss'", {"CASIP_NEW_PASSWORD": PASSWORD}),
        (("create-user", "x@acme.test", "--org", "nope", "--role", "viewer", "--name", "X"),
         "'nope'", {"CASIP_NEW_PASSWORD": PASSWORD}),
        (("create-user", "x@acme.test", "--org", "acme", "--role", "viewer", "--name", "X"),
         "at least 10 characters", {"CASIP_NEW_PASSWORD": "short"}),
        (("create-user", "eng@acme.test", "--org", "acme", "--role", "viewer", "--name", "X"),
         "'eng@acme.test' already exists", {"CASIP_NEW_PASSWORD": PASSWORD}),
        (("create-org", "Bad Slug", "B"), "'Bad Slug'", None),
        (("create-org", "acme", "Again"), "'acme' is already taken", None),
        (("create-org", "newco", "N", "--kind", "bank"), "'bank'", None),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_value(data_dir, args, named, env):
    r = run(*args, "--data-dir", str(data_dir), env=env, code=2)
    assert named in r.stderr and r.stderr.startswith("casip: error:")
    assert "Traceback" not in r.output


def test_backup_and_restore_reproduce_users_designs_and_a_verified_chain(data_dir, tmp_path):
    out = tmp_path / "platform.tar.gz"
    r = run("backup", str(out), "--data-dir", str(data_dir))
    assert "3 users" in r.stdout and out.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".casip-")]  # no leftovers
    with tarfile.open(out) as tar:
        assert {"manifest.json", "casip.db", "store/t1/data.parquet"} <= set(tar.getnames())
    r = run("backup", str(out), "--data-dir", str(data_dir), code=2)
    assert str(out) in r.stderr and "--force" in r.stderr
    run("backup", str(out), "--force", "--data-dir", str(data_dir))

    restored = tmp_path / "restored"
    r = run("restore", str(out), "--data-dir", str(restored))
    assert "audit log intact" in r.stdout
    r = run("restore", str(out), "--data-dir", str(restored), code=2)  # never overwrites
    assert "already has a database" in r.stderr

    def snapshot(folder: Path):
        engine = sa.create_engine(f"sqlite:///{folder / 'casip.db'}")
        with engine.connect() as c:
            users = c.execute(sa.text("SELECT email, role, password_hash FROM users")).all()
            designs = c.execute(sa.text("SELECT id, name, metrics FROM designs")).all()
        engine.dispose()
        return sorted(users), sorted(designs, key=lambda row: row[0])

    assert snapshot(restored) == snapshot(data_dir)
    assert (restored / "store" / "t1" / "data.parquet").read_bytes().startswith(b"PAR1")
    r = run("audit-verify", "--data-dir", str(restored))
    assert "audit log intact" in r.stdout
    with TestClient(create_app(Settings(data_dir=restored, seed_demo=False))) as c:
        h = _login(c, "eng@acme.test")
        names = [d["name"] for d in c.get("/api/designs?mine=true", headers=h).json()["items"]]
        assert names == ["made after create-user"]


def test_restore_refuses_what_is_not_a_backup(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    r = run("restore", str(junk), "--data-dir", str(tmp_path / "new"), code=2)
    assert str(junk) in r.stderr and "casip platform backup" in r.stderr
    r = run("backup", str(tmp_path / "b.tgz"), "--data-dir", str(tmp_path / "empty"), code=2)
    assert "no database there" in r.stderr


def test_postgresql_backup_with_pg_dump(tmp_path, database_url_factory):
    import os

    if not os.environ.get("CASIP_TEST_POSTGRES_URL"):
        pytest.skip("no PostgreSQL server: set CASIP_TEST_POSTGRES_URL (bash .ci/services.sh)")
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not on PATH (PostgreSQL client tools)")
    with database_url_factory("postgresql", tmp_path) as url:
        data = tmp_path / "data"
        run("create-org", "pgco", "PG Co", "--data-dir", str(data), "--database", url)
        out = tmp_path / "pg.tar.gz"
        r = run("backup", str(out), "--data-dir", str(data), "--database", url)
        assert "postgresql" in r.stdout
        with tarfile.open(out) as tar:
            dump = tar.extractfile("casip.pgdump").read()
        assert dump.startswith(b"PGDMP")  # pg_dump's custom format
        r = run("restore", str(out), "--data-dir", str(tmp_path / "new"), code=2)
        assert "pg_restore" in r.stderr


def test_privacy_status_and_scheduled_release_from_the_cli(tmp_path):
    d = str(tmp_path / "data")
    nothing = json.loads(run("privacy", "--release", "--json", "--data-dir", d).stdout)
    assert nothing["released_now"] == [] and nothing["privacy"]["spent_epsilon"] == 0
    for slug in ("acme", "bolt", "cell"):  # k = 3 member organisations: releases can be made
        run("create-org", slug, slug.upper(), "--kind", "member", "--data-dir", d)
    out = json.loads(run("privacy", "--release", "--json", "--data-dir", d).stdout)
    from casip.platform.benchmarking import KPIS

    latest = json.loads(run("privacy", "--json", "--data-dir", d).stdout)["latest"]
    assert out["released_now"] == [e["kpi"] for e in latest] == list(KPIS)
    p = out["privacy"]
    # six cell KPIs at epsilon, three pack KPIs at half of it
    shares = sum(k.epsilon_share for k in KPIS.values())
    assert shares == 7.5
    assert p["spent_epsilon"] == pytest.approx(shares * p["epsilon_per_release"])
    again = json.loads(run("privacy", "--release", "--json", "--data-dir", d).stdout)
    assert again["released_now"] == []  # at most one release per KPI per slot
    assert again["privacy"]["spent_epsilon"] == p["spent_epsilon"]
    text = run("privacy", "--data-dir", d).stdout
    assert "remaining" in text and "specific_energy" in text
    r = run("privacy", "--data-dir", d, env={"CASIP_PRIVACY_BUDGET": "1"}, code=2)
    assert "privacy_budget=1.0: expected at least privacy_epsilon" in r.stderr
    assert "Traceback" not in r.output
