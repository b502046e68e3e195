"""Limits on request size (issue 11): bodies, free-text fields, header fields.

The body and header limits are checked twice: through the app (TestClient, on SQLite: the
subject is the HTTP layer, not the database) and against a real ``casip serve`` process on a
free 127.0.0.1 port, sending raw bytes over a socket, since the findings were about the server
itself (a 400 MB body read before the 401, a 1 MB header and 2,000 headers answered 200).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from casip.design.schema import MAX_DESCRIPTION_CHARS, MAX_NOTE_CHARS
from casip.platform.models import Design
from casip.platform.settings import Settings

MiB = 1024 * 1024


def assert_problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def design_doc(server, headers, name: str = "limits") -> dict:
    doc = server.client.get("/api/designs/2", headers=headers).json()["document"]
    doc["name"] = name
    return doc


def design_count(server) -> int:
    with server.platform.db.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(Design)).scalar_one()


# --------------------------------------------------------------------------------------------
# Bodies, through the app
# --------------------------------------------------------------------------------------------


def test_declared_oversize_body_is_refused_before_parsing_and_authentication(sqlite_server):
    c = sqlite_server.client
    limit = sqlite_server.settings.max_json_bytes
    # not JSON and no credentials: a 422 would mean it was parsed, a 401 authenticated first
    junk = b"{" * (limit + 1)
    for path in ("/api/designs", "/api/login", "/api/tokens", "/login"):
        r = c.post(path, content=junk, headers={"Content-Type": "application/json"})
        body = assert_problem(r, 413, "body")
        assert str(limit) in body["detail"] and str(limit + 1) in body["detail"]
        assert r.headers["connection"] == "close"
    # a route that reads no body is refused too, without running
    assert_problem(c.post("/api/logout", content=junk), 413, "body")


def test_streamed_oversize_body_is_refused_while_it_arrives(sqlite_server):
    """No Content-Length (chunked): refused once the bytes received pass the limit."""
    c = sqlite_server.client
    limit = sqlite_server.settings.max_json_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(4 * limit // 65536):
            yield b"[" * 65536

    r = c.post("/api/designs", content=chunks(), headers={"Content-Type": "application/json"})
    body = assert_problem(r, 413, "body")
    assert f"more than {limit} bytes" in body["detail"]
    # (the TestClient sends the whole body at once: the real server's test below shows that
    # the rest of a streamed body is never read)
    assert body["errors"][0]["expected"] == f"at most {limit} bytes"


def test_body_limit_is_a_setting_and_uploads_keep_their_own(
    sqlite_server, shared_data, monkeypatch
):
    srv = sqlite_server
    h = srv.as_role("kestrel")
    monkeypatch.setattr(srv.settings, "max_json_bytes", 64 * 1024)
    doc = design_doc(srv, h)
    doc["notes"] = {f"cathode.note_{i}": "n" * 900 for i in range(80)}  # ~75 kB of JSON
    before = design_count(srv)
    assert_problem(srv.client.post("/api/designs", json={"document": doc}, headers=h), 413)
    doc["notes"] = {}
    r = srv.client.post("/api/designs", json={"document": doc}, headers=h)
    assert r.status_code == 201, r.text
    assert design_count(srv) == before + 1
    # a cycler file far larger than the JSON limit is still accepted by the upload route
    path = shared_data / "cycler" / "arbin_example.csv"  # 0.3 MB
    assert path.stat().st_size > 4 * srv.settings.max_json_bytes
    r = srv.client.post(
        "/api/tests", params={"filename": path.name}, content=path.read_bytes(), headers=h
    )
    assert r.status_code in (200, 201), r.text


# --------------------------------------------------------------------------------------------
# Free-text fields (SQLite and PostgreSQL: nothing may be stored)
# --------------------------------------------------------------------------------------------


def test_free_text_fields_have_a_maximum_length(server):
    h = server.as_role("kestrel")
    c = server.client
    before = design_count(server)
    doc = design_doc(server, h)
    doc["description"] = "d" * (500 * 1024)  # under the body limit, over the field's
    r = c.post("/api/designs", json={"document": doc}, headers=h)
    body = assert_problem(r, 422, "description")
    assert len(r.content) < 10_000  # the refused text is not echoed back
    assert str(MAX_DESCRIPTION_CHARS) in str(body["errors"])
    doc["description"] = "fine"
    doc["notes"] = {"cathode.porosity": "x" * (MAX_NOTE_CHARS + 1)}
    assert_problem(c.post("/api/designs", json={"document": doc}, headers=h), 422)
    doc["notes"] = {}
    doc["name"] = "n" * 201
    assert_problem(c.post("/api/designs", json={"document": doc}, headers=h), 422, "name")
    assert design_count(server) == before
    # the same on an edit
    doc["name"] = "limits"
    created = c.post("/api/designs", json={"document": doc}, headers=h).json()
    doc["description"] = "d" * (MAX_DESCRIPTION_CHARS + 1)
    r = c.put(f"/api/designs/{created['id']}", json={"document": doc}, headers=h)
    assert_problem(r, 422, "description")
    assert c.get(f"/api/designs/{created['id']}", headers=h).json()["document"].get(
        "description"
    ) in (None, "fine")
    # a study's free text
    study = {
        "schema": "casip.study/1",
        "name": "s",
        "description": "d" * 5000,
        "design": "ref:assb-sulfide-li",
        "parameters": {"separator_thickness_um": {"low": 10, "high": 50, "levels": 2}},
        "objectives": {"specific_energy_Wh_kg": "max"},
    }
    r = c.post("/api/studies", json={"study": study}, headers=h)
    assert r.status_code == 422, r.text
    assert any("description" in e["field"] for e in r.json()["errors"]), r.json()


# --------------------------------------------------------------------------------------------
# Header fields, through the app
# --------------------------------------------------------------------------------------------


def test_too_many_or_too_large_header_fields_are_refused(sqlite_server):
    c = sqlite_server.client
    s = sqlite_server.settings
    many = {f"x-h{i}": "1" for i in range(s.max_headers + 1)}
    assert_problem(c.get("/api/health", headers=many), 431, "headers")
    big = {"x-big": "a" * s.max_header_bytes}
    body = assert_problem(c.get("/api/health", headers=big), 431, "headers")
    assert str(s.max_header_bytes) in body["detail"]
    # an ordinary large cookie still passes
    assert c.get("/api/health", headers={"x-cookie": "c" * 8000}).status_code == 200


# --------------------------------------------------------------------------------------------
# A real `casip serve` (uvicorn): raw bytes over a socket
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory, live_server_factory) -> Iterator[tuple[int, object]]:
    with live_server_factory(tmp_path_factory.mktemp("serve-limits") / "data") as server:
        yield server.port, server


def read_status(sock: socket.socket, timeout: float = 15) -> tuple[int, bytes]:
    """The status code and what was read of a response (until the head and a bit of body)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
        else:
            sock.settimeout(0.5)
            try:
                data += sock.recv(65536)
            except OSError:
                pass
    except ConnectionResetError:
        pass
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ", 2)[1]), data


def send_head(port: int, head: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        try:
            sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse and close while the head is still arriving
        return read_status(sock)


def still_up(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code == 200


@pytest.mark.slow
def test_served_header_limits(served):
    port, _ = served
    s = Settings()
    # a 1 MB header: uvicorn's h11 parser stops buffering at max_header_bytes (400)
    head = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MiB + b"\r\n\r\n"
    status, _ = send_head(port, head)
    assert status in (400, 431)
    # 2,000 small header fields (under the byte limit): the middleware's count (431)
    fields = b"".join(b"X-H%d: 1\r\n" % i for i in range(2000))
    assert len(fields) < s.max_header_bytes
    status, data = send_head(port, b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert status == 431, data[:300]
    assert b"application/problem+json" in data
    # ordinary requests still work
    assert still_up(port)
    r = httpx.get(f"http://127.0.0.1:{port}/api/health", headers={"X-Cookie": "c" * 8000})
    assert r.status_code == 200


@pytest.mark.slow
def test_served_declared_oversize_body_is_refused_unread(served):
    port, _ = served
    t0 = time.monotonic()
    head = (
        b"POST /api/designs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 400000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + b"{" * 65536)
        status, data = read_status(sock)
    assert status == 413, data[:300]
    assert b"application/problem+json" in data
    assert time.monotonic() - t0 < 5
    assert still_up(port)


@pytest.mark.slow
def test_served_streamed_oversize_body_is_refused_before_it_ends(served):
    """Chunked, no Content-Length, no credentials: answered 413 while the client still sends
    (the body is never finished), after about the limit; not 401 after reading all of it."""
    port, _ = served
    limit = Settings().max_json_bytes
    head = (
        b"POST /api/designs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b"[" * 0x10000 + b"\r\n"  # 64 KiB chunks
    ceiling = 16 * limit  # bounded: the client gives up after this much
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        sock.settimeout(2)
        while sent < ceiling:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break  # the server stopped reading: its answer is waiting
            sent += 0x10000
        status, data = read_status(sock)
    assert status == 413, data[:300]
    assert sent < ceiling
    assert still_up(port)
