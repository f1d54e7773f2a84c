"""A real Prometheus (Debian's package) scrapes a running ``echodesk serve``'s /metrics
with the token, and its query API counts the mail that was sent to Echo; a scrape
without the token is refused."""

from __future__ import annotations

import json
import shutil
import smtplib
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.serve import EchoProcess

TOKEN = "prometheus-scrape-token"
PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    def __init__(self, root: Path, target: str) -> None:
        self.port = free_port()
        (root / "token").write_text(TOKEN)
        job = f"    static_configs:\n      - targets: ['{target}']\n    metrics_path: /metrics\n"
        (root / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: echo\n    scrape_interval: 1s\n    scrape_timeout: 1s\n"
            f"    authorization:\n      type: Bearer\n      credentials_file: {root}/token\n"
            + job
            + "  - job_name: echo_without_token\n    scrape_interval: 1s\n"
            + job
        )
        self.log = (root / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={root}/prometheus.yml",
                f"--storage.tsdb.path={root}/data",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urlencode({"query": expr})
        with urlopen(url, timeout=5) as answer:
            return list(json.load(answer)["data"]["result"])

    def wait_for(self, expr: str, value: str, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                found = self.query(expr)
            except OSError:
                found = []
            if found and all(r["value"][1] == value for r in found):
                return found
            time.sleep(0.5)
        raise AssertionError(f"{expr} never became {value}: {found}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def prometheus_binary() -> str:
    assert shutil.which(PROMETHEUS), "Prometheus is not installed (scripts/test installs it)"
    return PROMETHEUS


def test_prometheus_scrapes_echo_and_counts_the_mail_it_received(
    prometheus_binary: str, tmp_path: Path
) -> None:
    echo = EchoProcess(tmp_path, ECHODESK_METRICS_TOKEN=TOKEN).start()
    scraper = Prometheus(tmp_path, f"127.0.0.1:{echo.web_port}")
    try:
        scraper.wait_for('up{job="echo"}', "1")
        scraper.wait_for('up{job="echo_without_token"}', "0")
        for n in range(3):
            with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as smtp:
                raw = make_mail(message_id=f"prom{n}@customer.test", subject=f"Question {n}")
                smtp.sendmail("alice@customer.test", ["support@desk.test"], raw)
        scraper.wait_for('echodesk_messages_received_total{source="smtp"}', "3")
        scraper.wait_for('echodesk_up{part="database"}', "1")
        scraper.wait_for('echodesk_spool_rows{state="pending"}', "0")  # the worker took them
        # Counted in serve's own process (SMTP) and in its worker process (the batches):
        # the two pool their counts, so one scrape shows both.
        scraper.wait_for('echodesk_smtp_sessions_total{result="accepted"}', "3")
        scraper.wait_for('sum(echodesk_messages_processed_total{outcome="processed"})', "3")
        scraper.wait_for("echodesk_processing_seconds_count > bool 0", "1")
    finally:
        scraper.stop()
        echo.stop()


def test_metrics_listen_serves_metrics_alone_on_its_own_address(tmp_path: Path) -> None:
    """A private port for /metrics: the archive's /metrics stays shut without a token,
    and nothing but /metrics answers on the metrics port."""
    port = free_port()
    echo = EchoProcess(tmp_path, ECHODESK_METRICS_LISTEN=f"127.0.0.1:{port}").start()
    try:
        with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as smtp:
            raw = make_mail(message_id="own-port@customer.test")
            smtp.sendmail("alice@customer.test", ["support@desk.test"], raw)
        deadline = time.monotonic() + 30
        text = ""
        while 'echodesk_messages_processed_total{outcome="processed"} 1.0' not in text:
            assert time.monotonic() < deadline, text
            time.sleep(0.3)
            with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
                text = answer.read().decode()
        assert 'echodesk_smtp_sessions_total{result="accepted"} 1.0' in text
        for shut in (f"http://127.0.0.1:{echo.web_port}/metrics", f"http://127.0.0.1:{port}/"):
            with pytest.raises(HTTPError) as refused:
                urlopen(shut, timeout=10)
            assert refused.value.code == 404
            refused.value.close()
    finally:
        echo.stop()
