"""Campaign early predictions in the platform with an operator's model trained at N = 60
(issue 18): a linked test is predicted once it has the discharges of cycles 2..60, the
prediction and its observation record cycles = 60, and a campaign planning
``evidence.early_cycles`` = 100 is told which N was used (not refused).

The server needs its own model, named by ``CASIP_EARLY_LIFE_MODEL`` before the server and its
workers start, hence a module of its own (``test_campaigns.py`` runs the 100-cycle model). The
uploads are the battery-data-format CSVs of ``test_campaigns.py``, built from the real Q(V)
discharges of a Severson training cell, cut at cycle 60 (or 40).
"""

from __future__ import annotations

import io
import os
import warnings

import pandas as pd
import pytest
from test_campaigns import ENG, _create, _propose, _severson_file, _upload, _wait

from casip.platform.seed import demo_email


@pytest.fixture(scope="module")
def early_model_60(tmp_path_factory, shared_data):
    """The operator's model: the full model trained on the 41 shared cells at N = 60."""
    from casip.life.early import FullModel, train_on_severson

    path = tmp_path_factory.mktemp("model60") / "full60.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_on_severson(shared_data / "severson", FullModel, last_cycle=60).save(path)
    old = os.environ.get("CASIP_EARLY_LIFE_MODEL")
    os.environ["CASIP_EARLY_LIFE_MODEL"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CASIP_EARLY_LIFE_MODEL", None)
    else:
        os.environ["CASIP_EARLY_LIFE_MODEL"] = old


@pytest.fixture(scope="module")
def server(early_model_60, server):  # the conftest's server, started after the model is named
    return server


@pytest.mark.slow  # trains the model and runs a prediction job on each backend
def test_a_60_cycle_model_predicts_a_60_cycle_upload(server, shared_data, early_model_60):
    from casip.life.early import FullModel
    from casip.life.from_hub import predict_test

    h = server.as_role(ENG)
    c = _create(server, h, name="early at 60")  # evidence.early_cycles: 100 (the default)
    a, b = _propose(server, h, c["id"])
    got = server.client.get(f"/api/campaigns/{c['id']}", headers=h).json()
    assert got["early_cycles"] == 60  # the server's model's N
    # cycles 2..40: too few for N = 60; the note names 60
    r = _upload(server, h, _severson_file(shared_data, 0, last=40), "cell1-40.csv",
                planned_test=b["id"])
    assert r.status_code == 201, r.text
    linked = r.json()["planned_test"]
    assert r.json()["cycles"] == 39 and linked["early_job"] is None
    assert "cycles 2 to 60" in linked["early_note"]
    # cycles 2..60: predicted by the 60-cycle model
    data = _severson_file(shared_data, 0, last=60)
    r = _upload(server, h, data, "cell1-60.csv", planned_test=a["id"])
    assert r.status_code == 201, r.text
    linked = r.json()["planned_test"]
    assert r.json()["cycles"] == 59 and linked["early_job"] is not None, linked
    job = _wait(server, h, linked["early_job"]["id"])
    assert job["status"] == "done", job
    early = server.client.get(f"/api/campaigns/{c['id']}/planned-tests/{a['id']}",
                              headers=h).json()["early"]
    assert "error" not in early, early
    assert early["cycles"] == 60 and early["model"] == "FullModel"
    assert "2..60" in early["note"] and "early_cycles = 100" in early["note"]
    # the same numbers as the model on the uploaded file's own cycles 2..60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = predict_test(pd.read_csv(io.BytesIO(data)), FullModel.load(early_model_60))
    assert want["cycles"] == 60
    assert early["cycle_life"] == pytest.approx(want["cycle_life"], rel=1e-6)
    assert early["low"] < 2160 < early["high"]  # cell 1's measured life (in-sample)
    obs = server.client.get(f"/api/campaigns/{c['id']}/observations", headers=h).json()["items"]
    [o] = [o for o in obs if o["kind"] == "early"]
    assert o["cycles"] == 60 and o["planned_test"] == a["id"]
    # the page says the same N: the waiting test names cycles 2 to 60, the prediction its N
    c_web, _ = server.browser(demo_email(ENG, "engineer"))
    page = c_web.get(f"/campaigns/{c['id']}").text
    assert "39 cycles uploaded: the prediction needs cycles 2 to 60" in page
    assert "at cycle 60" in page and "early_cycles = 100" in page
