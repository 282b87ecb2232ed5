"""The main job: `manage.py demo` sets up, syncs, serves, cancels through itself, stops on Ctrl-C, reruns."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cancellations.sandbox import mirakl as mirakl_sandbox

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DATA_DIR=str(data_dir), DJANGO_DEBUG="true", PYTHONUNBUFFERED="1")
    return env


def _manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = 90) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} not printed; output:\n{''.join(seen)}")


@pytest.fixture
def demo_env(tmp_path):
    env = _env(tmp_path)
    assert _manage("migrate", "--noinput", env=env).returncode == 0
    return env


def test_demo_serves_cancels_through_the_sandbox_stops_on_ctrl_c_and_reruns(demo_env, tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port)], cwd=ROOT, env=demo_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = _wait_for(proc, "Press Ctrl-C to stop.")
        assert output.count("Created account") == 4  # each marketplace spec's demo accounts
        assert f"Synced Best Buy CA (Mirakl): {len(mirakl_sandbox.SEED_ORDERS)} new orders" in output
        assert "Webhook endpoint: http://127.0.0.1:" in output
        # Each step is announced, and the admin URL comes only once every account is synced.
        assert "Syncing Walmart CA (signature) through the real HTTP client" in output
        assert output.rindex("Synced ") < output.index("/admin/")
        password = (tmp_path / "demo-admin-password.txt").read_text().strip()
        assert f"admin / {password}" in output

        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.get(f"{base}/admin/login/", timeout=10)
        login = session.post(f"{base}/admin/login/?next=/admin/", timeout=10, data={
            "username": "admin", "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]})
        assert login.url == f"{base}/admin/"
        headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": base}
        orders = session.get(f"{base}/api/orders/", params={"external_id": "5801000000011"}, timeout=10).json()
        line = orders["results"][0]["lines"][0]
        # The API commits and answers; the embedded pool then sends, calling the sandbox on this server.
        answer = session.post(f"{base}/api/cancellations/", json={"lines": [{"line": line["id"], "quantity": 1}],
                              "reason": "customer_request"}, headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text
        cancellation = answer.json()["cancellations"][0]
        assert cancellation["status"] in ("pending", "sending", "confirmed")
        deadline = time.monotonic() + 10  # the demo completes a cancellation within seconds
        while cancellation["status"] != "confirmed" and time.monotonic() < deadline:
            time.sleep(0.2)
            cancellation = session.get(f"{base}/api/cancellations/{cancellation['id']}/", timeout=10).json()
        assert cancellation["status"] == "confirmed", cancellation
        # The demo's own receiver gets the signed event from the delivery thread, and says so.
        _wait_for(proc, "webhook receiver: cancellation.confirmed evt_", timeout=30)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the demo did not stop on Ctrl-C") from None
        proc.stdout.close()
    with socket.socket() as s:  # nothing listens on the port any more
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))

    again = _manage("demo", "--port", str(_free_port()), "--no-serve", env=demo_env)
    assert again.returncode == 0, again.stderr
    assert "Created account" not in again.stdout and "Synced Walmart CA (signature): 0 new orders" in again.stdout
    assert (tmp_path / "demo-admin-password.txt").read_text().strip() == password
