"""Uploading cycler files to the platform and browsing them, on SQLite and PostgreSQL.

Uploads send the file as the raw request body with ``?filename=``; the real cycler files of
the shared data folder are read in place (never modified).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from _live import free_port

from casip.data import read
from casip.data.store import Store
from casip.platform.models import TestDataset

RES = "20160805_test001_45_cc_01.res"  # 1.6 MB, 18 cycles
P492 = "p492-13-raw.csv"  # 0.5 MB, 8 cycles
ARBIN = "arbin_example.csv"  # 0.3 MB
BITRODE = "cell-discharge-bitrode-1c.csv"  # 0.15 MB


def cycler(shared_data: Path, name: str) -> Path:
    return shared_data / "cycler" / name


def upload(server, headers, data, filename, **params):
    return server.client.post(
        "/api/tests", params={"filename": filename, **params}, content=data, headers=headers
    )


def upload_file(server, headers, path: Path, **params):
    return upload(server, headers, path.read_bytes(), path.name, **params)


def row_count(server) -> int:
    with server.platform.db.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(TestDataset)).scalar_one()


def assert_clean(server) -> None:
    """Nothing half-received, nothing staged, every row's stored folder present."""
    up = server.settings.upload_dir
    assert not up.exists() or list(up.iterdir()) == []
    staging = server.settings.store_dir / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    store = Store(server.settings.store_dir)
    with server.platform.db.session() as s:
        tids = s.execute(sa.select(TestDataset.store_test_id)).scalars().all()
    assert all(t in store for t in tids)


def assert_problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


# --------------------------------------------------------------------------------------------
# API behaviour (SQLite and PostgreSQL)
# --------------------------------------------------------------------------------------------


def test_upload_of_a_real_file_agrees_with_the_data_hub(server, shared_data):
    path = cycler(shared_data, RES)
    h = server.as_role("kestrel")
    r = upload_file(server, h, path, name="cell 45 cc", visibility="private")
    assert r.status_code == 201, r.text
    ds = r.json()
    test = read(path)
    assert ds["rows"] == len(test.data)
    assert ds["cycles"] == test.data["cycle_count"].nunique()
    assert ds["format"] == "arbin-res" and ds["filename"] == RES and ds["name"] == "cell 45 cc"
    assert ds["visibility"] == "private" and ds["duplicate"] is False
    assert ds["details"]["provenance"]["source_name"] == RES  # not the server's temp name
    assert str(server.settings.data_dir) not in r.text

    cyc = server.client.get(f"/api/tests/{ds['id']}/cycles", headers=h)
    assert cyc.status_code == 200
    with server.platform.db.session() as s:
        tid = s.get(TestDataset, ds["id"]).store_test_id
    stored = Store(server.settings.store_dir).table(tid, "cycles")
    got = cyc.json()["cycles"]
    assert [c["cycle_count"] for c in got] == stored["cycle_count"].tolist()
    assert [c["discharge_capacity_ah"] for c in got] == pytest.approx(
        stored["discharge_capacity_ah"].tolist()
    )

    cur = server.client.get(f"/api/tests/{ds['id']}/curves?cycles=1,10,18", headers=h)
    assert cur.status_code == 200, cur.text
    body = cur.json()
    assert body["cycles"] == [1, 10, 18]
    assert {c["cycle"] for c in body["curves"]} == {1, 10, 18}
    for c in body["curves"]:
        assert c["branch"] in ("charge", "discharge")
        assert len(c["capacity_ah"]) == len(c["voltage_volt"])
        assert 0 < sum(v is not None for v in c["voltage_volt"]) <= 500
    bad = server.client.get(f"/api/tests/{ds['id']}/curves?cycles=1,999", headers=h)
    assert_problem(bad, 422, "cycles")

    csv = server.client.get(f"/api/tests/{ds['id']}/export", headers=h)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == len(stored) + 1

    listed = server.client.get("/api/tests?q=cell 45", headers=h).json()
    assert [i["id"] for i in listed["items"]] == [ds["id"]]
    assert_clean(server)


def test_private_dataset_is_invisible_to_others_until_shared(server, shared_data):
    owner, other = server.as_role("basalt"), server.as_role("lantern")
    sponsor = server.as_role("programme-office", "viewer")
    r = upload_file(server, owner, cycler(shared_data, P492))
    assert r.status_code == 201, r.text
    i = r.json()["id"]
    paths = [f"/api/tests/{i}", f"/api/tests/{i}/cycles", f"/api/tests/{i}/curves"]
    paths.append(f"/api/tests/{i}/export")
    for who in (other, sponsor):
        for p in paths:
            assert server.client.get(p, headers=who).status_code == 404, p
        assert i not in [
            x["id"] for x in server.client.get("/api/tests", headers=who).json()["items"]
        ]
    assert server.client.delete(f"/api/tests/{i}", headers=other).status_code == 404

    share = server.client.patch(
        f"/api/tests/{i}/visibility", json={"visibility": "consortium"}, headers=owner
    )
    assert share.status_code == 200 and share.json()["visibility"] == "consortium"
    assert server.client.get(f"/api/tests/{i}/cycles", headers=other).status_code == 200
    assert server.client.get(f"/api/tests/{i}", headers=sponsor).status_code == 404
    assert server.client.delete(f"/api/tests/{i}", headers=other).status_code == 403
    server.client.patch(f"/api/tests/{i}/visibility", json={"visibility": "public"}, headers=owner)
    assert server.client.get(f"/api/tests/{i}", headers=sponsor).status_code == 200


def test_viewer_and_sponsor_cannot_upload(server, shared_data):
    data = cycler(shared_data, BITRODE).read_bytes()
    before = row_count(server)
    for h in (server.as_role("kestrel", "viewer"), server.as_role("programme-office", "admin")):
        assert_problem(upload(server, h, data, BITRODE), 403)
    assert row_count(server) == before
    assert_clean(server)


def test_same_file_twice_and_by_another_organisation(server, shared_data):
    path = cycler(shared_data, ARBIN)
    a, b = server.as_role("ionics-institute"), server.as_role("lantern")
    first = upload_file(server, a, path)
    again = upload_file(server, a, path)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    theirs = upload_file(server, b, path)  # answered like a first upload: nothing leaks
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["duplicate"] is False and theirs.json()["id"] != first.json()["id"]
    with server.platform.db.session() as s:
        tid = s.get(TestDataset, first.json()["id"]).store_test_id
        their_tid = s.get(TestDataset, theirs.json()["id"]).store_test_id
    assert their_tid != tid  # each organisation's copy is stored on its own
    store = Store(server.settings.store_dir)
    assert server.client.delete(f"/api/tests/{first.json()['id']}", headers=a).status_code == 200
    assert tid not in store and their_tid in store
    assert (
        server.client.get(f"/api/tests/{theirs.json()['id']}/cycles", headers=b).status_code == 200
    )
    assert server.client.delete(f"/api/tests/{theirs.json()['id']}", headers=b).status_code == 200
    assert their_tid not in store
    assert server.client.get(f"/api/tests/{theirs.json()['id']}", headers=b).status_code == 404
    assert_clean(server)


def test_concurrent_uploads_leave_store_and_database_consistent(server, shared_data):
    h = server.as_role("kestrel", "admin")
    names = ["maccor_002.txt", "neware_uio.csv", "pec.csv", "test_Nova_Form-CH01-01_short.csv"]
    jobs = [*names, "cell-low-current-hppc-25c.csv", "cell-low-current-hppc-25c.csv"]
    results: dict[int, object] = {}

    def go(k: int, name: str) -> None:
        results[k] = upload_file(server, h, cycler(shared_data, name))

    threads = [threading.Thread(target=go, args=(k, n)) for k, n in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = [results[k].status_code for k in range(len(jobs))]
    assert all(c in (200, 201) for c in codes), [results[k].text for k in range(len(jobs))]
    dup = [results[4].json(), results[5].json()]
    assert dup[0]["id"] == dup[1]["id"] and sorted(d["duplicate"] for d in dup) == [False, True]
    assert len({results[k].json()["id"] for k in range(4)}) == 4
    assert_clean(server)


# --------------------------------------------------------------------------------------------
# Refused uploads (SQLite: the subject is the upload path, not the database)
# --------------------------------------------------------------------------------------------


def test_oversize_upload_is_refused_and_leaves_nothing(sqlite_server, monkeypatch):
    srv = sqlite_server
    h = srv.as_role("kestrel")
    monkeypatch.setattr(srv.settings, "max_upload_bytes", 100_000)
    before = row_count(srv)
    body = assert_problem(upload(srv, h, b"x" * 200_000, "big.csv"), 413)
    assert "100000" in body["detail"]

    def chunks():  # no Content-Length: measured while streaming
        for _ in range(20):
            yield b"y" * 16_384

    r = srv.client.post("/api/tests", params={"filename": "big.csv"}, content=chunks(), headers=h)
    assert_problem(r, 413)
    assert row_count(srv) == before
    assert_clean(srv)


@pytest.mark.parametrize(
    "name",
    ["../x.csv", "a/b.csv", "a\\b.csv", "x\x00.csv", "x\n.csv", "..", "é" * 130, "n" * 30_000],
)
def test_bad_file_names_are_refused(sqlite_server, name):
    r = upload(sqlite_server, sqlite_server.as_role("kestrel"), b"1,2,3\n", name)
    assert_problem(r, 400, "filename")
    assert sqlite_server.client.get(
        "/api/tests", headers=sqlite_server.as_role("kestrel")
    ).is_success
    assert_clean(sqlite_server)


def _zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path.read_bytes()


def test_zip_bomb_is_refused(sqlite_server, tmp_path, monkeypatch):
    h = sqlite_server.as_role("kestrel")
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.csv": bytes(50 * 1024 * 1024)})
    assert len(bomb) < 200_000
    before = row_count(sqlite_server)
    body = assert_problem(upload(sqlite_server, h, bomb, "bomb.zip"), 422, "file")
    assert "100:1" in body["detail"]
    monkeypatch.setattr(sqlite_server.settings, "max_upload_bytes", 1_000_000)
    assert_problem(upload(sqlite_server, h, bomb, "bomb.zip"), 413)
    assert row_count(sqlite_server) == before
    assert_clean(sqlite_server)


def test_zip_with_one_cycler_file_is_accepted_and_others_refused(
    sqlite_server, shared_data, tmp_path
):
    h = sqlite_server.as_role("lantern")
    data = cycler(shared_data, BITRODE).read_bytes()
    ok = upload(sqlite_server, h, _zip(tmp_path / "one.zip", {BITRODE: data}), "one.zip")
    assert ok.status_code == 201, ok.text
    assert ok.json()["format"] == "bitrode-csv"
    assert ok.json()["details"]["archive"]["member"] == BITRODE
    two = _zip(tmp_path / "two.zip", {"a.csv": data, "b.csv": data})
    body = assert_problem(upload(sqlite_server, h, two, "two.zip"), 422, "file")
    assert "exactly one" in body["detail"]
    inner = _zip(tmp_path / "inner.zip", {BITRODE: data})
    nested = _zip(tmp_path / "nested.zip", {"inner.zip": inner})
    assert_problem(upload(sqlite_server, h, nested, "nested.zip"), 422, "file")
    evil = _zip(tmp_path / "evil.zip", {"../../etc/x.csv": data})
    assert_problem(upload(sqlite_server, h, evil, "evil.zip"), 422, "file")
    import gzip

    gz = assert_problem(upload(sqlite_server, h, gzip.compress(data), "x.csv.gz"), 415)
    assert "gzip" in gz["detail"]
    assert_clean(sqlite_server)


def test_unknown_content_is_refused_listing_the_formats(sqlite_server):
    h = sqlite_server.as_role("kestrel")
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    for data, name in ((os.urandom(5000), "noise.bin"), (png, "chart.png")):
        body = assert_problem(upload(sqlite_server, h, data, name), 415, "file")
        assert "arbin-res" in body["detail"] and "neware-nda" in body["detail"]
        assert str(sqlite_server.settings.data_dir) not in str(body)
    assert_problem(upload(sqlite_server, h, b"", "empty.csv"), 400)
    assert_clean(sqlite_server)


def test_a_100kB_file_header_is_refused_cleanly(sqlite_server):
    h = sqlite_server.as_role("kestrel")
    data = b"#" + b"h" * 100_000 + b"\ntime,voltage,current\n1,3.0,0.1\n"
    r = upload(sqlite_server, h, data, "long-header.csv")
    assert 400 <= r.status_code < 500, r.text
    assert sqlite_server.client.get("/api/tests", headers=h).status_code == 200
    assert_clean(sqlite_server)


# --------------------------------------------------------------------------------------------
# A real server killed in the middle of an upload
# --------------------------------------------------------------------------------------------


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CASIP_LOG_LEVEL": "warning", "PYBAMM_DISABLE_TELEMETRY": "true"}
    env.pop("CASIP_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "casip", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if c.recv(12).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")


def _request(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(raw)
        out = b""
        while chunk := c.recv(65536):
            out += chunk
        return out


def _token(port: int) -> str:
    import json

    from casip.platform.seed import DEMO_PASSWORD, demo_email

    body = json.dumps({"email": demo_email("kestrel", "engineer"), "password": DEMO_PASSWORD})
    resp = _request(
        port,
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode(),
    )
    head, _, rest = resp.partition(b"\r\n\r\n")
    cookie = next(
        line.split(b":", 1)[1].split(b";")[0].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"set-cookie:")
    )
    csrf = json.loads(rest)["csrf_token"]
    body = json.dumps({"name": "kill test"})
    resp = _request(
        port,
        b"POST /api/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + b"Cookie: "
        + cookie
        + f"\r\nX-CSRF-Token: {csrf}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n{body}".encode(),
    )
    return json.loads(resp.partition(b"\r\n\r\n")[2])["token"]


@pytest.mark.slow
def test_server_killed_mid_upload_leaves_no_row_and_no_partial_file(tmp_path):
    data_dir, log = tmp_path / "platform", tmp_path / "server.log"
    port = free_port()
    proc = _start(data_dir, port, log)
    try:
        token = _token(port)
        # a 100 kB request header is refused cleanly and the server goes on answering
        resp = _request(
            port,
            b"GET /api/tests HTTP/1.1\r\nHost: x\r\nX-Big: "
            + b"a" * 100_000
            + b"\r\nConnection: close\r\n\r\n",
        )
        assert resp.startswith(b"HTTP/1.1 4"), resp[:200]
        ok = _request(
            port,
            f"GET /api/tests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        assert ok.startswith(b"HTTP/1.1 200"), ok[:300]
        # a partial upload: 10 MB announced, 1 MB sent, then the server is killed
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(
            b"POST /api/tests?filename=big.csv HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 10000000\r\n\r\n".encode()
        )
        sock.sendall(b"time,voltage,current\n" + b"1,3.0,0.1\n" * 100_000)
        up = data_dir / "uploads"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(up.glob("*")):
            time.sleep(0.1)
        assert any(up.glob("*")), "the upload never reached the upload folder"
        proc.kill()  # SIGKILL: no cleanup at all
        proc.wait(timeout=30)
        sock.close()
        assert any(up.glob("*"))  # the half-received file is still there
        proc = _start(data_dir, port, log)
        assert list(up.iterdir()) == []
        resp = _request(
            port,
            f"GET /api/tests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        assert resp.startswith(b"HTTP/1.1 200") and b'"total":0' in resp, resp[-300:]
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_partial_upload_files_of_dead_servers_are_removed_at_start(tmp_path):
    from casip.platform.settings import Settings
    from casip.platform.uploads import cleanup_partial

    s = Settings(data_dir=tmp_path / "d", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    from casip.platform.app import prepare

    prepare(s).dispose()
    s.upload_dir.mkdir(parents=True)
    dead = s.upload_dir / f"999999999-{'a' * 32}.csv"
    mine = s.upload_dir / f"{os.getpid()}-{'b' * 32}"
    other = s.upload_dir / "README"
    for p in (dead, mine, other):
        p.write_bytes(b"x")
    staging = s.store_dir / ".staging"
    # a dead process's staging (a pid that cannot run), an unnamed folder two days old, an
    # unnamed fresh one and this (live) process's: only the first two go
    from casip.platform.startup import process_tag

    dead_tag = f"p999999999t1h{process_tag()[-8:]}-upload-{'c' * 32}"
    for name in (dead_tag, "abc-123", "def-456", f"{process_tag()}-upload-{'d' * 32}"):
        (staging / name).mkdir(parents=True)
    two_days_ago = time.time() - 2 * 86400
    os.utime(staging / "abc-123", (two_days_ago, two_days_ago))
    out = cleanup_partial(s)
    assert out["removed_uploads"] == 2 and out["removed_staging"] == 2
    assert [p.name for p in s.upload_dir.iterdir()] == ["README"]
    assert sorted(p.name for p in staging.iterdir()) == sorted(
        ["def-456", f"{process_tag()}-upload-{'d' * 32}"]
    )
