"""The egress guard: every hostile destination is refused before a byte leaves, and the allowed path still works."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harmonia.egress import EgressRefused, GuardedTransport, allowed_networks, fetch

HOSTILE = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.8/",
    "http://172.16.4.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://224.0.0.1/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://100.127.255.254/",
    "http://198.18.0.1/",
    "http://192.0.0.170/",
    "http://0177.0.0.1/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://rebind.example/",
    "http://half-private.example/",
    "http://user:secret@93.184.216.34/",
    "ftp://93.184.216.34/",
    "file:///etc/passwd",
]

FAKE_DNS = {
    "metadata.google.internal": ["169.254.169.254"],
    "rebind.example": ["127.0.0.1"],
    "half-private.example": ["93.184.216.34", "10.1.1.1"],
}


def fake_resolver(host: str, port: int) -> list[str]:
    if host in FAKE_DNS:
        return FAKE_DNS[host]
    if host == "localhost":
        return ["127.0.0.1", "::1"]
    raise OSError("no such host")


@pytest.mark.parametrize("url", HOSTILE)
def test_a_hostile_destination_is_refused_before_any_connection(url: str) -> None:
    with pytest.raises(EgressRefused):
        fetch(url, transport=GuardedTransport(allow=(), resolver=fake_resolver), timeout=2)


@pytest.mark.parametrize("url", ["http://127.0.0.1/mcp", "http://[::ffff:169.254.169.254]/", "http://rebind.example/"])
async def test_the_async_transport_of_upstream_mcp_calls_refuses_the_same_destinations(url: str) -> None:
    import httpx2

    from harmonia.egress import AsyncGuardedTransport

    transport = AsyncGuardedTransport(allow=(), resolver=fake_resolver)
    async with httpx2.AsyncClient(transport=transport, trust_env=False) as client:
        with pytest.raises(EgressRefused):
            await client.post(url, json={})


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect-to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path == "/redirect-elsewhere":
            self.send_response(302)
            self.send_header("Location", f"http://other.example:{self.server.server_port}/")  # type: ignore[attr-defined]
            self.end_headers()
            return
        if self.path == "/big":
            body = b"x" * 200_000
        else:
            body = f"host={self.headers.get('Host')} auth={self.headers.get('Authorization')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_loopback_is_reached_only_under_an_explicit_operator_allowance(local_server: int) -> None:
    with pytest.raises(EgressRefused, match="forbidden address"):
        fetch(f"http://127.0.0.1:{local_server}/", transport=GuardedTransport(allow=()))
    allowed = GuardedTransport(allow=allowed_networks("127.0.0.1/32, 10.0.0.0/8"))
    assert fetch(f"http://127.0.0.1:{local_server}/", transport=allowed).status_code == 200


def test_the_connection_goes_to_the_checked_address_and_keeps_the_name_in_the_host_header(local_server: int) -> None:
    resolved: list[str] = []

    def once(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]  # a second lookup could answer anything: there is none

    transport = GuardedTransport(allow=allowed_networks("127.0.0.1/32"), resolver=once)
    answer = fetch(f"http://app.example:{local_server}/", transport=transport)
    assert answer.content.startswith(f"host=app.example:{local_server}".encode())
    assert resolved == ["app.example"]


def test_a_redirect_is_refused_or_checked_again_at_every_hop(local_server: int) -> None:
    transport = GuardedTransport(allow=allowed_networks("127.0.0.1/32"))
    with pytest.raises(EgressRefused, match="redirects are refused"):
        fetch(f"http://127.0.0.1:{local_server}/redirect-to-metadata", transport=transport)
    with pytest.raises(EgressRefused, match="forbidden address"):
        fetch(f"http://127.0.0.1:{local_server}/redirect-to-metadata", transport=transport, follow_redirects=True)


def test_credentials_are_not_carried_to_another_origin(local_server: int) -> None:
    transport = GuardedTransport(allow=allowed_networks("127.0.0.1/32"), resolver=lambda host, port: ["127.0.0.1"])
    answer = fetch(f"http://127.0.0.1:{local_server}/redirect-elsewhere", headers={"Authorization": "Bearer s3cret"},
                   transport=transport, follow_redirects=True)  # fmt: skip
    assert answer.content == f"host=other.example:{local_server} auth=None".encode()


def test_an_answer_over_the_size_cap_is_refused(local_server: int) -> None:
    transport = GuardedTransport(allow=allowed_networks("127.0.0.1/32"))
    with pytest.raises(EgressRefused, match="more than 1000 bytes"):
        fetch(f"http://127.0.0.1:{local_server}/big", transport=transport, max_bytes=1000)


def test_proxy_environment_variables_are_ignored(local_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://169.254.169.254:3128")
    monkeypatch.setenv("ALL_PROXY", "http://169.254.169.254:3128")
    transport = GuardedTransport(allow=allowed_networks("127.0.0.1/32"))
    assert fetch(f"http://127.0.0.1:{local_server}/", transport=transport).status_code == 200


def test_the_operator_allowance_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARMONIA_EGRESS_ALLOW", "127.0.0.1/32,fd00::/8")
    assert [str(n) for n in allowed_networks()] == ["127.0.0.1/32", "fd00::/8"]
