"""`logway status` and its page, against the real servers, the page checked in headless Chromium.

One tenant with 50 good and 5 broken records, processed and indexed: status must show its live
version, no lag, the 5 dead letters of the last hour by reason and the last error. The page must
render in Chromium, with the tenant's row marked for attention.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Producer
from PIL import Image

from logway.core.names import processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.status_history import STEP_S
from tests.integration.support import (
    accepts,
    apply_tenant,
    env_for,
    free_port,
    group_lag,
    logway,
    processor,
    sink,
    wait_for,
)
from topology.publish import read_published

pytestmark = pytest.mark.integration
ATTENTION_RED = (209, 36, 47)  # #d1242f, the border of a row that needs attention


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed: `make tools` installs Debian's chromium"
    return found


def test_status_and_its_page(endpoints: Endpoints, tenant_prefix: str, tmp_path: Path) -> None:
    tenant = f"{tenant_prefix}-status"
    apply_tenant(endpoints, tmp_path, tenant)
    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for n in range(50):
        producer.produce(raw_topic(tenant), json.dumps({"seq": n}).encode())
    for _ in range(5):
        producer.produce(raw_topic(tenant), b'{"cut": ')
    assert producer.flush(30) == 0
    processing = processor(endpoints, tenant, f"{tenant}-proc", tmp_path).start()
    indexing = sink(endpoints, tenant, f"{tenant}-sink", tmp_path).start()
    try:
        wait_for(
            "everything processed and indexed",
            lambda: (
                group_lag(endpoints.kafka, f"{tenant}-sink", [processed_topic(tenant)])
                + group_lag(endpoints.kafka, f"{tenant}-proc", [raw_topic(tenant)])
            ),
            lambda lag: lag == 0,
            120,
            lambda: (processing.assert_running(), indexing.assert_running()),
        )
    finally:
        processing.stop()
        indexing.stop()

    status_args = [
        "status",
        "--tenant",
        tenant,
        "--processor-group",
        f"{tenant}-proc",
        "--sink-group",
        f"{tenant}-sink",
    ]
    [row] = json.loads(logway(endpoints, *status_args, "--format", "json").stdout)
    assert row["version"] == read_published(endpoints.kafka)[tenant].version
    assert (row["processor_lag"], row["sink_lag"]) == (0, 0)
    assert row["dead_letters_last_hour"] == {"invalid_json": 5}
    assert row["last_error"]["reason"] == "invalid_json"
    assert row["last_error"]["step"] == "processor/parse"
    assert row["storage_bytes"] > 0  # its index, on disk
    assert row["storage_budget"] is None  # the tenant declares none
    text = logway(endpoints, *status_args).stdout
    assert tenant in text
    assert "invalid_json 5" in text

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "logway", *status_args, "--serve", str(port)],
        env=env_for(endpoints),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("the status page", lambda: accepts(port), bool, 30)
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url + "status.json", timeout=30) as response:
            assert json.loads(response.read())[0]["tenant"] == tenant
        time.sleep(STEP_S + 1)  # a second point of the last hour's chart
        browser = [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,720",
        ]
        dom = subprocess.run(
            [*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        shot = tmp_path / "status.png"
        subprocess.run(
            [*browser, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True
        )
    finally:
        server.terminate()
        server.wait(10)
    assert f'data-tenant="{tenant}"' in dom
    assert 'class="attention"' in dom
    row = dom[dom.index(f'data-tenant="{tenant}"') :].split("</tr>")[0]
    assert 'class="history"' in row
    lines = re.findall(r'<polyline[^>]* points="([^"]*)"', row)
    assert len(lines) == 4  # in, out, dead letters, lag
    assert all(len(points.split()) >= 2 for points in lines), lines
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 720)
    colors = image.getcolors(maxcolors=1_000_000) or []
    assert len(colors) > 50, "the screenshot is (nearly) blank"
    assert any(color == ATTENTION_RED for _count, color in colors), "no attention marker drawn"
    # Kept where a person can look at it after the run (.logway is not in git).
    kept = Path(".logway") / "screenshots" / "status-page.png"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, kept)
    print(f"status page screenshot: {kept.absolute()}")
