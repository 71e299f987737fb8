"""What the shared stores do when something is wrong or ages: a corrupt stored session is a
409 naming the problem, a SQLite file that cannot be written stops the server with one clear
line, expired sessions leave the disk (and Redis by itself), a playing stream checkpoints,
and a process reloads a session another one changed."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shlex
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.store import open_backend
from app.store.base import SharedBackend
from tests.api.conftest import SMALL, FakeClock, create, make_client
from tests.conftest import ROOT


def redis_command(url: str, *words: str | bytes) -> bytes:
    """One command to the test Redis over a plain socket (RESP), its raw reply."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    parts = [w if isinstance(w, bytes) else w.encode() for w in words]
    message = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(message)
        return s.recv(65536)


def overwrite_stored_trainer(url: str, session: str, blob: bytes) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("UPDATE trainers SET blob = ? WHERE id = ?", (blob, session))
            conn.execute("UPDATE sessions SET version = version + 1 WHERE id = ?", (session,))
    else:
        assert redis_command(url, "SET", f"bpl:t:{session}", blob).startswith(b"+OK")
        assert redis_command(url, "HINCRBY", f"bpl:s:{session}", "version", "1")[:1] == b":"


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (b"not a session at all", "not a Backprop Lab binary export"),
        (b"BPLX\x01\x00\xff\xff\x00\x00{", "cut short inside its header"),
    ],
)
def test_a_corrupt_stored_session_is_a_409_naming_the_problem(
    shared_url: str, damage: bytes, named: str
) -> None:
    # The damage is done at rest: no process keeps the session between requests (one that
    # holds it answers from its own copy, which nobody may change meanwhile).
    with make_client(store=shared_url, store_keep_seconds=0) as client:
        session = create(client)
        client.post(f"/api/sessions/{session}/step", json={"steps": 3})
        other = create(client)
        overwrite_stored_trainer(shared_url, session, damage)
        for response in (
            client.get(f"/api/sessions/{session}"),
            client.post(f"/api/sessions/{session}/step", json={}),
        ):
            assert response.status_code == 409, response.text
            assert named in response.json()["detail"]
        with client.websocket_connect(f"/api/sessions/{session}/stream") as ws:
            with pytest.raises(Exception) as closed:  # noqa: PT011 - the close, as raised
                ws.receive_json()
            assert getattr(closed.value, "code", None) == 4409
        assert client.get(f"/api/sessions/{other}").status_code == 200  # the rest is fine
        assert client.delete(f"/api/sessions/{session}").status_code == 204
        assert client.get(f"/api/sessions/{session}").status_code == 404


def test_a_stored_session_that_breaks_the_export_checks_is_a_409(shared_url: str) -> None:
    """Framing intact, contents not: the export's own validation names the field."""
    from engine.export_binary import MAGIC, to_bytes
    from engine.trainer import Trainer

    with make_client(store=shared_url, store_keep_seconds=0) as client:  # damaged at rest
        session = create(client)
        trainer = Trainer(_small_config())
        trainer.train(2)
        blob = to_bytes(trainer.snapshot())
        (length,) = struct.unpack_from("<I", blob, 6)
        header = json.loads(blob[10 : 10 + length])
        header["data"]["step"] = -2
        text = json.dumps(header).encode()
        forged = MAGIC + struct.pack("<HI", 1, len(text)) + text + blob[10 + length :]
        overwrite_stored_trainer(shared_url, session, forged)
        response = client.get(f"/api/sessions/{session}")
        assert response.status_code == 409
        assert "step: must be an integer in 0.." in response.json()["detail"]


def _small_config() -> Any:
    from engine.config import NetworkConfig

    return NetworkConfig.from_dict(SMALL)


# --- a SQLite file that cannot be written stops the server at once --------------------------


def serve_once(
    store: str, prefix: list[str] | None = None, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m app serve`` on a free port (after ``prefix``); returns once it exits."""
    from tests.conftest import free_port

    env = {**os.environ, "BACKPROP_LAB_STORE": store, "BACKPROP_LAB_LOG_LEVEL": "warning"}
    command = [*(prefix or []), sys.executable, "-m", "app", "serve", "--port", str(free_port())]
    try:
        return subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, **popen
        )
    except subprocess.TimeoutExpired:  # pragma: no cover - it started instead of refusing
        pytest.fail("the server started on a store it cannot write")


def read_only(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written. Root ignores file modes,
    so root gets a mount namespace of its own with the folder bound read-only (as a
    read-only volume would be); anyone else gets a folder without write permission."""
    if os.getuid() != 0:
        folder.chmod(0o555)
        return []
    unshare = shutil.which("unshare")
    if unshare is None:  # pragma: no cover - util-linux is part of Debian's base system
        pytest.skip("needs unshare (util-linux) to make a read-only folder as root")
    where = shlex.quote(str(folder))
    bind = f"mount --bind {where} {where} && mount -o remount,bind,ro {where} {where}"
    return [unshare, "--mount", "sh", "-c", f'{bind} && exec "$@"', "sh"]


def test_a_read_only_folder_stops_the_server_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    result = serve_once(f"sqlite:///{folder}/sessions.db", read_only(folder))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("backprop-lab serve: error: BACKPROP_LAB_STORE: cannot write")
    assert f"{folder}/sessions.db" in lines[0] and "read-only" in lines[0]


def test_a_full_disk_stops_the_server_in_one_line(tmp_path: Path) -> None:
    """The process may write no file past 8 KB (a stand-in for a full disk: the store's
    first writes fail the same way)."""

    def tiny_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    result = serve_once(f"sqlite:///{tmp_path}/sessions.db", preexec_fn=tiny_disk)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot write the session store" in lines[0] and "disk full" in lines[0]


# --- ageing ---------------------------------------------------------------------------------


def test_expired_sessions_leave_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    clock = FakeClock()
    with make_client(clock, store=f"sqlite:///{path}", session_ttl_seconds=60) as client:
        sessions = [create(client) for _ in range(20)]
        for session in sessions:  # long histories: the file grows to a few MB
            client.post(f"/api/sessions/{session}/step", json={"steps": 1500})
        kept = create(client)
        full = _checkpointed_size(path)
        clock.advance(30)
        client.get(f"/api/sessions/{kept}")  # used half-way: stays
        clock.advance(31)
        assert client.post("/api/sessions", json={}).status_code == 201  # purges on the way
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT COUNT(*) FROM trainers").fetchone()[0]
        assert rows == 2
        assert _checkpointed_size(path) < full / 4  # the pages went back to the file system


def _checkpointed_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def test_a_cancelled_redis_call_is_never_lost(redis_url: str) -> None:
    """Cancelling a task in the middle of back-to-back Redis calls ends it, at whatever point
    of a call the cancel lands. (With a socket timeout the client sent each command under
    asyncio.wait_for, which on Python 3.11 lost most such cancels: a paused stream played on
    and its pause frame never came.)"""

    async def calls(backend: SharedBackend) -> None:
        while True:
            await backend.waiting(["a", "b"], "me")

    async def scenario() -> None:
        backend = open_backend(redis_url, ttl_seconds=60, timeout=5)
        assert isinstance(backend, SharedBackend)
        await backend.open()
        task: asyncio.Task[None] | None = None
        try:
            for k in range(300):
                task = asyncio.create_task(calls(backend))
                for _ in range(k % 11):  # the cancel lands at a different point each time
                    await asyncio.sleep(0)
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=10)  # a hang guard only
                assert done, f"cancel {k} was lost: the task went on calling Redis"
        finally:
            while task is not None and not task.done():  # (a failed run still cleans up)
                task.cancel()
                await asyncio.wait({task}, timeout=0.05)
            await backend.close()

    asyncio.run(scenario())


def test_redis_expires_sessions_by_itself(redis_url: str) -> None:
    """Even with every server down, Redis drops a session a minute after its TTL."""
    with make_client(store=redis_url, session_ttl_seconds=120) as client:
        session = create(client)
        for kind in ("s", "t"):
            reply = redis_command(redis_url, "PTTL", f"bpl:{kind}:{session}")
            ttl_ms = int(reply[1:].strip())
            assert 120_000 < ttl_ms <= 180_000, reply


# --- streams and several processes in one test -----------------------------------------------


def stored_step(url: str, session: str) -> int:
    """The step of the session as stored (not as any process holds it)."""
    from engine.export_binary import from_bytes

    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            (blob,) = conn.execute("SELECT blob FROM trainers WHERE id = ?", (session,)).fetchone()
    else:
        reply = redis_command(url, "GET", f"bpl:t:{session}")
        header, _, rest = reply.partition(b"\r\n")
        blob = rest[: int(header[1:])]
    return from_bytes(blob).step


def test_a_playing_stream_checkpoints_without_pausing(shared_url: str) -> None:
    with make_client(store=shared_url, checkpoint_seconds=0.05) as client:
        session = create(client)
        with client.websocket_connect(f"/api/sessions/{session}/stream") as ws:
            ws.send_json({"action": "play", "steps_per_frame": 2, "max_fps": 60, "ack": True})
            stored = 0
            for _ in range(2000):  # frames flow; the store catches up by checkpoints
                frame = ws.receive_json()
                ws.send_json({"action": "ack"})
                stored = stored_step(shared_url, session)
                if stored > 0:
                    break
            assert 0 < stored <= frame["state"]["step"]
            ws.send_json({"action": "pause"})
            while (frame := ws.receive_json())["reason"] != "pause":
                pass
        assert stored_step(shared_url, session) == frame["state"]["step"]  # all of it, paused


def test_a_process_reloads_a_session_another_one_changed(shared_url: str) -> None:
    with make_client(store=shared_url) as one, make_client(store=shared_url) as two:
        session = create(one)
        one.post(f"/api/sessions/{session}/step", json={"steps": 5})
        two.get(f"/api/sessions/{session}")  # two caches the trainer at step 5
        one.post(f"/api/sessions/{session}/step", json={"steps": 5})
        one.patch(f"/api/sessions/{session}", json={"learning_rate": 0.2})
        seen = two.get(f"/api/sessions/{session}").json()
        assert seen["state"]["step"] == 10 and seen["config"]["learning_rate"] == 0.2
        assert two.post(f"/api/sessions/{session}/step", json={}).json()["step"] == 11
        assert one.get(f"/api/sessions/{session}/export").json() == (
            two.get(f"/api/sessions/{session}/export").json()
        )


def test_a_stream_waiting_for_its_client_hands_the_session_over(shared_url: str) -> None:
    """A stream plays with acks on one process and its client stops acking (a hidden tab):
    a request from another process still gets the session, and the stream, acked again,
    goes on from that request's step."""
    with (
        make_client(store=shared_url) as one,
        make_client(store=shared_url, store_wait_seconds=20) as two,
    ):
        session = create(one)
        with one.websocket_connect(f"/api/sessions/{session}/stream") as ws:
            ws.send_json({"action": "play", "steps_per_frame": 1, "max_fps": 60, "ack": True})
            before = ws.receive_json()["state"]["step"]  # then no ack: the stream waits
            stepped = two.post(f"/api/sessions/{session}/step", json={"steps": 10})
            assert stepped.status_code == 200, stepped.text  # not a 503 after the wait
            assert stepped.json()["step"] == before + 10
            ws.send_json({"action": "ack"})
            frame = ws.receive_json()
            assert frame["reset"] is True and frame["state"]["step"] == before + 11
            ws.send_json({"action": "pause"})
            while (frame := ws.receive_json())["reason"] != "pause":
                ws.send_json({"action": "ack"})
        assert two.get(f"/api/sessions/{session}").json()["state"] == frame["state"]


def test_a_save_after_a_stored_row_changed_writes_every_row_again() -> None:
    """Only the new rows are written while the stored ones are unchanged; once the last
    stored row changes (its evaluation filled in again), the next save writes them all."""
    from app.sessions import encode_trainer
    from engine.config import NetworkConfig
    from engine.trainer import Trainer

    trainer = Trainer(NetworkConfig())
    trainer.train(5)
    _, saved = encode_trainer(trainer)
    trainer.train(1)
    appended, saved = encode_trainer(trainer, saved)
    assert not appended.replace and saved.rows == 6
    trainer.history.evaluate_last((9.0, 0.5, 9.0, 0.5))
    trainer.train(1)
    again, _ = encode_trainer(trainer, saved)
    assert again.replace


def test_a_save_writes_the_new_history_rows_not_all_of_them(tmp_path: Path) -> None:
    """Each step appends one history piece (a few hundred bytes) instead of rewriting every
    row; past 64 pieces they are written as one again; a rebuild replaces them."""
    from app.sessions import MAX_PIECES

    path = tmp_path / "sessions.db"

    def pieces(session: str) -> list[int]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute(
                "SELECT length(piece) FROM history WHERE session_id = ? ORDER BY seq",
                (session,),
            )
            return [size for (size,) in rows]

    with make_client(store=f"sqlite:///{path}") as client:
        session = create(client)
        client.post(f"/api/sessions/{session}/step", json={"steps": 500})
        (whole,) = pieces(session)  # a session's first save: one piece with every row
        for k in range(1, 4):
            client.post(f"/api/sessions/{session}/step", json={})
            assert len(pieces(session)) == 1 + k
        assert max(pieces(session)[1:]) < whole / 50  # one row each
        client.get(f"/api/sessions/{session}/trace")  # a read saves nothing
        assert len(pieces(session)) == 4
        for _ in range(MAX_PIECES):
            client.post(f"/api/sessions/{session}/step", json={})
        assert len(pieces(session)) < MAX_PIECES  # written as one again on the way
        client.patch(f"/api/sessions/{session}", json={"layers": [{"units": 3}]})  # rebuilt
        assert pieces(session) == []  # step 0: no rows
        client.post(f"/api/sessions/{session}/step", json={"steps": 2})
        assert len(pieces(session)) == 1
        with make_client(store=f"sqlite:///{path}") as other:  # all of it reads back
            state = other.get(f"/api/sessions/{session}").json()["state"]
            assert state["step"] == 2
