"""A workspace served by `harmonia serve`'s app under uvicorn on 127.0.0.1 with its public URL set to that address, a
manual clock, and a browser (httpx with a cookie jar) that signs in and consents through the real pages."""

from __future__ import annotations

import datetime as dt
import html
import ipaddress
import re
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from harmonia.clock import ManualClock
from harmonia.config import Settings
from harmonia.db import Database
from harmonia.services.people import set_password
from harmonia.surfaces.app import create_app
from mcp import Client

from ..conftest import Workspace
from ..mcp.conftest import free_port, serve_in_thread

PASSWORD = "correct horse battery"
REDIRECT = "http://127.0.0.1:33418/callback"


@dataclass
class Server:
    url: str
    db: Database
    ws: Workspace
    clock: ManualClock
    ca_file: str | None = None


@contextmanager
def _serve(app: Any, port: int) -> Iterator[None]:
    with serve_in_thread(app, port):  # the port is chosen first: the public URL (issuer, resource) names it
        yield


@pytest.fixture
def tls(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert file, key file): the CIMD document is served over https."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


@pytest.fixture(autouse=True)
def fresh_registration_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-address registration limit is per process: each test starts with its own."""
    from harmonia.services import oauth

    monkeypatch.setattr(oauth, "registrations", type(oauth.registrations)(limit=20, window=600.0))


@pytest.fixture
def server(acme: Workspace, tls: tuple[str, str]) -> Iterator[Server]:
    clock = ManualClock(dt.datetime.now(dt.UTC))
    acme.db.clock = clock
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=acme.db.url, public_url=url, secret_key="oauth-test-secret-key-0123456789",
                        egress_ca_file=tls[0])  # fmt: skip
    with _serve(create_app(settings, acme.db), port):
        yield Server(url, acme.db, acme, clock, tls[0])


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Browser:
    """A person at a browser: follows the authorize link, signs in if asked, and answers the consent page."""

    base: str
    workspace: str
    email: str
    action: str = "allow"
    scopes: list[str] | None = None  # None: keep every box ticked
    pages: list[str] = field(default_factory=list)
    authorize_url: str = ""
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base, follow_redirects=False, timeout=30)

    async def redirect_handler(self, url: str) -> None:
        self.authorize_url = url

    async def callback_handler(self) -> AuthorizationCodeResult:
        answer = parse_qs(urlsplit(await self.consent(self.authorize_url)).query)
        return AuthorizationCodeResult(code=answer["code"][0], state=answer.get("state", [None])[0],
                                       iss=answer.get("iss", [None])[0])  # fmt: skip

    async def consent(self, url: str) -> str:
        """The redirect the client receives after the person answers."""
        r = await self.http.get(url)
        if r.status_code == 303 and r.headers["location"].startswith("/signin"):
            nxt = parse_qs(urlsplit(r.headers["location"]).query)["next"][0]
            page = await self.http.get(r.headers["location"])
            csrf = dict(_HIDDEN.findall(page.text))["csrf"]
            r = await self.http.post("/signin", data={"csrf": csrf, "workspace": self.workspace, "email": self.email,
                                                      "password": PASSWORD, "next": nxt})  # fmt: skip
            assert r.status_code == 303, r.text
            r = await self.http.get(r.headers["location"])
        if r.status_code == 303 and not r.headers["location"].startswith("/"):
            return str(r.headers["location"])  # consent remembered: straight back to the client
        assert r.status_code == 200, r.text
        self.pages.append(r.text)
        form: dict[str, Any] = {k: html.unescape(v) for k, v in _HIDDEN.findall(r.text)}
        offered = re.findall(r'name="scopes" value="([^"]+)"', r.text)
        form["scopes"] = offered if self.scopes is None else self.scopes
        form["action"] = self.action
        r = await self.http.post("/oauth/authorize", data=form)
        assert r.status_code == 303, r.text
        return str(r.headers["location"])

    async def csrf(self, path: str) -> str:
        return str(dict(_HIDDEN.findall((await self.http.get(path)).text))["csrf"])


def metadata(name: str = "Test Agent") -> OAuthClientMetadata:
    return OAuthClientMetadata(client_name=name, redirect_uris=[REDIRECT],  # type: ignore[list-item]
                               grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                               token_endpoint_auth_method="none")  # fmt: skip


@dataclass
class Connection:
    provider: OAuthClientProvider
    storage: MemoryStorage
    browser: Browser
    http: httpx2.AsyncClient

    def client(self, path: str = "/mcp") -> Client:
        return Client(streamable_http_client(self.browser.base + path, http_client=self.http))  # type: ignore[arg-type]


def connect(srv: Server, *, client_metadata_url: str | None = None, browser: Browser | None = None) -> Connection:
    browser = browser or Browser(srv.url, srv.ws.slug, srv.ws.owner.email)
    storage = MemoryStorage()
    provider = OAuthClientProvider(srv.url + "/mcp", metadata(), storage, browser.redirect_handler,
                                   browser.callback_handler, client_metadata_url=client_metadata_url)  # fmt: skip
    return Connection(provider, storage, browser, httpx2.AsyncClient(auth=provider, timeout=30))


@pytest.fixture
async def aclose() -> AsyncIterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for thing in opened:
        await thing.aclose()


class _Document(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cimd_url(tls: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Client ID Metadata Document served over https on 127.0.0.1, reachable under an explicit egress allowance."""
    monkeypatch.setenv("HARMONIA_EGRESS_ALLOW", "127.0.0.1/32")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Document)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    url = f"https://127.0.0.1:{httpd.server_address[1]}/oauth/client.json"
    _Document.body = orjson.dumps({"client_id": url, "client_name": "Local Agent", "redirect_uris": [REDIRECT],
                                   "grant_types": ["authorization_code", "refresh_token"],
                                   "token_endpoint_auth_method": "none"})  # fmt: skip
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield url
    httpd.shutdown()
    httpd.server_close()
