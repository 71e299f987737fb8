"""CSV upload: text/csv or multipart, size-limited, clear 422s, the session rebuilds."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from app.schemas.session import DatasetUploadModel
from tests.api.conftest import create, make_client

GOOD = "x1,x2,label\n" + "".join(f"{i % 9 - 4},{(i * 7) % 13 - 6},{i % 2}\n" for i in range(60))


def upload(client: TestClient, session: str, text: str | bytes, kind: str = "text/csv") -> Response:
    return client.post(
        f"/api/sessions/{session}/dataset", content=text, headers={"content-type": kind}
    )


def test_text_csv_rebuilds_the_session(client: TestClient, session: str) -> None:
    client.post(f"/api/sessions/{session}/step", json={"steps": 5})
    response = upload(client, session, GOOD)
    assert response.status_code == 200, response.text
    body = DatasetUploadModel.model_validate(response.json())
    assert body.reset is True and body.rows == 60 and body.state.step == 0
    assert body.config.dataset.name == "csv"
    data = client.get(f"/api/sessions/{session}/data").json()
    assert len(data["train"]["x"]) + len(data["test"]["x"]) == 60
    assert client.post(f"/api/sessions/{session}/step", json={"steps": 3}).status_code == 200
    # hyperparameter and structural patches keep the uploaded data
    client.patch(f"/api/sessions/{session}", json={"learning_rate": 0.1})
    body2 = client.patch(
        f"/api/sessions/{session}", json={"layers": [{"units": 3, "activation": "relu"}]}
    ).json()
    assert body2["reset"] is True and body2["config"]["dataset"]["name"] == "csv"
    re_split = client.patch(f"/api/sessions/{session}", json={"dataset": {"seed": 9}}).json()
    assert re_split["reset"] is True
    data2 = client.get(f"/api/sessions/{session}/data").json()
    assert len(data2["train"]["x"]) + len(data2["test"]["x"]) == 60
    assert data2["train"]["x"] != data["train"]["x"]  # a new shuffle of the same rows


def test_multipart_upload(client: TestClient, session: str) -> None:
    response = client.post(
        f"/api/sessions/{session}/dataset", files={"file": ("data.csv", GOOD, "text/csv")}
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 60
    response = client.post(
        f"/api/sessions/{session}/dataset", files={"other": ("data.csv", GOOD, "text/csv")}
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "file"]


def test_one_dimensional_and_multiclass_csv(client: TestClient, session: str) -> None:
    text = "x1,y\n" + "".join(f"{i / 10},{(i % 5) / 3}\n" for i in range(30))
    body = upload(client, session, text).json()
    assert body["config"]["features"] == ["x1"]
    assert client.get(f"/api/sessions/{session}/data").json()["task"] == "regression"
    text = "x1,x2,label\n" + "".join(f"{i},{i % 4},{i % 3}\n" for i in range(30))
    upload(client, session, text)
    data = client.get(f"/api/sessions/{session}/data").json()
    assert data["task"] == "multiclass" and data["n_classes"] == 3


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("1,2,0\n3,4,1\n", "header"),
        ("x1,x2,colour\n1,2,0\n", "unknown column"),
        ("x1,x2,label\n1,2\n3,4,1\n", "line 2"),
        ("x1,x2,label\n1,abc,0\n3,4,1\n", "'abc' is not a number"),
        ("x1,x2,label\n1,nan,0\n3,4,1\n", "NaN"),
        ("x1,x2,label\n1,2,0\n", "at least 2"),
        ("x1,x2,label\n1,2,0\n3,4,0\n", "distinct"),
        (b"x1,x2,label\n\xff\xfe,1,0\n", "UTF-8"),
    ],
)
def test_bad_csv_is_422_with_a_clear_message(
    client: TestClient, session: str, text: str | bytes, words: str
) -> None:
    response = upload(client, session, text)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][0] == "body" and words.lower() in error["msg"].lower(), error
    assert client.get(f"/api/sessions/{session}").json()["config"]["dataset"]["name"] == "circle"


def test_json_body_is_refused(client: TestClient, session: str) -> None:
    response = client.post(f"/api/sessions/{session}/dataset", json={"x1": [1, 2]})
    assert response.status_code == 422


def test_csv_limits() -> None:
    with make_client(max_csv_bytes=2048, max_csv_rows=20) as client:
        session = create(client)
        big = "x1,x2,label\n" + "1.000001,2.000001,0\n3,4,1\n" * 100
        response = upload(client, session, big)
        assert response.status_code == 413 and "2048" in response.json()["detail"]
        response = client.post(
            f"/api/sessions/{session}/dataset", files={"file": ("d.csv", big, "text/csv")}
        )
        assert response.status_code == 413
        rows = "x1,x2,label\n" + "1,2,0\n3,4,1\n" * 11
        response = upload(client, session, rows)
        assert response.status_code == 422 and "20" in response.json()["detail"][0]["msg"]


def test_a_four_row_xor_table_trains_and_reports_its_own_size(
    client: TestClient, session: str
) -> None:
    text = "x1,x2,label\n-1,-1,0\n-1,1,1\n1,-1,1\n1,1,0\n"
    body = upload(client, session, text).json()
    assert body["rows"] == 4
    assert body["config"]["dataset"]["n_samples"] == 4
    state = client.post(f"/api/sessions/{session}/step", json={"steps": 3}).json()
    assert state["step"] == 3
