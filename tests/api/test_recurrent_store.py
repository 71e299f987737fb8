"""A recurrent session survives the store: saved in its binary form and read back bit for
bit, on every backend (a restart of the server on a shared backend keeps it)."""

from __future__ import annotations

from typing import Any

from app.sessions import decode_trainer, encode_trainer
from engine.config import Limits, RecurrentConfig
from engine.recurrent_trainer import RecurrentTrainer
from tests.api.conftest import create, make_client
from tests.api.test_recurrent_sessions import RNN
from tests.api.test_store import store_url  # noqa: F401 - the fixture: every backend


def test_a_recurrent_session_survives_save_and_load_on_every_backend(
    store_url: str,  # noqa: F811
) -> None:
    def play(client: Any, session: str) -> None:
        client.post(f"/api/sessions/{session}/step", json={"steps": 3})
        client.post(f"/api/sessions/{session}/forward", json={"timesteps": 2})

    with make_client(store=store_url) as client:
        s = create(client, RNN)
        play(client, s)
        saved = client.get(f"/api/sessions/{s}/export").json()
    if store_url == "memory":  # nothing outlives the server: its stored form is checked below
        return _continues_like_a_fresh_import(saved)
    with make_client(store=store_url) as client:  # a server started anew reads it back
        assert client.get(f"/api/sessions/{s}/export").json() == saved
        client.post(f"/api/sessions/{s}/step", json={"steps": 2})
        after = client.get(f"/api/sessions/{s}/export").json()
    _continues_like_a_fresh_import(saved, after)


def test_the_stored_form_reads_back_bit_for_bit_with_history_pieces() -> None:
    """What every shared backend writes and reads (encode_trainer / decode_trainer): the
    state blob and the history as pieces appended save after save."""
    trainer = RecurrentTrainer(RecurrentConfig.from_dict(RNN))
    blob, saved = encode_trainer(trainer)
    pieces = [blob.history] if blob.history else []
    for _ in range(3):
        trainer.train(2)
        trainer.forward(1)
        blob, saved = encode_trainer(trainer, saved)
        assert not blob.replace  # only the new rows are written
        pieces.append(blob.history)
        back, _ = decode_trainer("s", blob.trainer, [p for p in pieces if p], Limits())
        assert isinstance(back, RecurrentTrainer) and back.export() == trainer.export()
    back.train(3)
    trainer.train(3)
    assert back.export() == trainer.export()


def _continues_like_a_fresh_import(saved: Any, after: Any = None) -> None:
    """The export the store kept goes on exactly as a fresh import of it does."""
    with make_client() as client:
        response = client.post("/api/sessions/import", json=saved)
        assert response.status_code == 201, response.text
        copy = response.json()["id"]
        assert client.get(f"/api/sessions/{copy}/export").json() == saved
        if after is not None:
            client.post(f"/api/sessions/{copy}/step", json={"steps": 2})
            assert client.get(f"/api/sessions/{copy}/export").json() == after
