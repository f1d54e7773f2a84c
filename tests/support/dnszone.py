"""A real authoritative DNS server (Debian's dnsmasq) on a loopback port, with a test zone.

The zone holds DKIM keys, SPF and DMARC records for a few domains, each
behaving one way, so the verifier is tested against real DNS answers:

- ``desk.test``: the agents' and support domain; SPF allows only 127.0.0.1,
  DMARC ``p=reject``; DKIM key ``sel``.
- ``good.test``: SPF allows 127.0.0.1, DMARC ``p=reject``, DKIM key ``sel``.
- ``soft.test``: SPF ``~all`` (softfail for everyone), DMARC ``p=quarantine``.
- ``lax.test``: SPF ``-all``, DMARC ``p=none``, DKIM key ``sel``.
- ``bare.test``: no SPF, no DMARC, DKIM key ``sel``.
- ``junk.test``: garbage in every record.
Everything else under ``.test`` is NXDOMAIN.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.postgres import free_port

SIGNED_DOMAINS = ("desk.test", "good.test", "lax.test", "bare.test", "soft.test")


def _key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@dataclass
class DnsZone:
    port: int
    proc: subprocess.Popen[bytes]
    folder: str
    keys: dict[str, bytes] = field(default_factory=dict)

    @property
    def server(self) -> str:
        """The value of the ``dns_resolver`` setting that asks this server."""
        return f"127.0.0.1:{self.port}"

    def sign(self, raw: bytes, domain: str, selector: bytes = b"sel") -> bytes:
        """``raw`` with a DKIM signature of ``domain`` on top."""
        headers = [b"from", b"to", b"subject", b"message-id", b"date"]
        signature = dkim.sign(
            raw, selector, domain.encode(), self.keys[domain], include_headers=headers
        )
        return signature + raw

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _records(keys: dict[str, str]) -> list[tuple[str, str]]:
    records = [
        ("desk.test", "v=spf1 ip4:127.0.0.1 -all"),
        ("_dmarc.desk.test", "v=DMARC1; p=reject"),
        ("good.test", "v=spf1 ip4:127.0.0.1 -all"),
        ("_dmarc.good.test", "v=DMARC1; p=reject"),
        ("soft.test", "v=spf1 ~all"),
        ("_dmarc.soft.test", "v=DMARC1; p=quarantine"),
        ("lax.test", "v=spf1 -all"),
        ("_dmarc.lax.test", "v=DMARC1; p=none"),
        ("junk.test", "v=spf1 include:: ip4:999.1.1.1/77 +frobnicate -all"),
        ("_dmarc.junk.test", "v=DMARC1; p=; adkim=q"),
        ("sel._domainkey.junk.test", "v=DKIM1; k=rsa; p=!!!not base64!!!"),
    ]
    records += [(f"sel._domainkey.{d}", value) for d, value in keys.items()]
    return records


def start_dns(ttl: int = 60) -> DnsZone:
    """Start dnsmasq serving the test zone (answers valid ``ttl`` seconds, as real
    records are: resolvers may cache them); raises if it does not come up."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    folder = tempfile.mkdtemp(prefix="echodns-")
    pems: dict[str, bytes] = {}
    txt: dict[str, str] = {}
    for domain in SIGNED_DOMAINS:
        pems[domain], txt[domain] = _key()
    port = free_port()
    args = [
        exe,
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--local=/test/",
        f"--pid-file={folder}/dnsmasq.pid",
        f"--local-ttl={ttl}",
    ]
    args += [f"--txt-record={name},{value}" for name, value in _records(txt)]
    log = Path(folder) / "dnsmasq.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=out)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return DnsZone(port, proc, folder, pems)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"dnsmasq did not start: {log.read_text()}") from None
            time.sleep(0.02)


def silent_port() -> int:
    """A UDP port where nothing answers (a DNS server that is down)."""
    return free_port()
