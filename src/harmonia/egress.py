"""The one way Harmonia calls out on a tenant's or a client's behalf (Client ID Metadata Documents, a workspace's
HTTP tools, and — through `AsyncGuardedTransport`, for the MCP SDK's client — upstream MCP servers): httpx clients
whose transport refuses to reach anything but the public internet.

Why each rule:
- The host is resolved **once**, every address is checked, and the connection goes to the checked address (the URL's
  host is replaced by the IP; `Host` and TLS SNI keep the name): a DNS answer that changes between check and connect
  (rebinding) cannot steer us inside.
- Private, loopback, link-local (169.254.169.254 is the cloud metadata service), CGNAT, multicast, reserved and the
  IPv6 forms that embed an IPv4 address (IPv4-mapped, 6to4, NAT64, Teredo) are refused — the embedded address is
  what a router would reach. An operator widens this with `HARMONIA_EGRESS_ALLOW` (CIDRs, comma-separated).
- Redirects are refused unless the caller asks to follow them; each hop is a new request through the same transport,
  so it is checked again, and credentials are dropped when a hop leaves the first origin.
- Proxy environment variables are ignored (`trust_env=False`): a proxy would connect for us, past every check.
- Every response is read with a size cap and every call has a timeout.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import httpx2

from .errors import HarmoniaError

__all__ = [
    "AsyncGuardedTransport",
    "EgressRefused",
    "EgressResponse",
    "GuardedTransport",
    "address_refusal",
    "allowed_networks",
    "fetch",
    "trust",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

DEFAULT_MAX_BYTES = 64 * 1024
DEFAULT_TIMEOUT = 5.0
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")

# Not "global" in spirit even where Python's is_global says so: prefixes that carry an IPv4 address inside.
_EMBEDDING = (
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64 (RFC 6052)
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    ipaddress.ip_network("2002::/16"),  # 6to4
    ipaddress.ip_network("2001::/32"),  # Teredo
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class EgressRefused(HarmoniaError):
    """A call out that the guard would not make, or whose answer broke a limit. The message says which rule."""

    code = "egress_refused"
    http_status = 400


def allowed_networks(spec: str | None = None) -> tuple[Network, ...]:
    """The operator's allowance (`HARMONIA_EGRESS_ALLOW`): CIDRs the guard lets through although they are private."""
    raw = os.environ.get("HARMONIA_EGRESS_ALLOW", "") if spec is None else spec
    networks = []
    for part in raw.split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return tuple(networks)


def address_refusal(address: str, allow: Iterable[Network] = ()) -> str | None:
    """Why `address` may not be reached, or None when it may."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d on the wire
    if any(ip in network for network in allow if network.version == ip.version):
        return None
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in n for n in _EMBEDDING):
        return f"{ip} embeds an IPv4 address (NAT64, 6to4 or Teredo)"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return f"{ip} is a carrier-grade NAT address"
    if ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_multicast or ip.is_reserved:
        return f"{ip} is a private, loopback, link-local or reserved address"
    if ip.is_unspecified or not ip.is_global:
        return f"{ip} is not a public address"
    return None


def trust(extra_ca_file: str | None = None) -> ssl.SSLContext:
    """The certificates the guard trusts: the public roots, plus an operator's own CA (`HARMONIA_EGRESS_CA_FILE`)."""
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_file:
        context.load_verify_locations(extra_ca_file)
    return context


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedTransport(httpx.HTTPTransport):
    """Checks every request's destination, then connects to the address it checked."""

    def __init__(
        self,
        *,
        allow: Iterable[Network] | None = None,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(verify=verify, trust_env=False, retries=0)
        self.allow = tuple(allowed_networks() if allow is None else allow)
        self.resolver = resolver or _system_resolver

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        addresses = _addresses(url, self.allow, self.resolver)
        pinned, host_header, extensions = _pinned(url, addresses[0], request.extensions)
        headers = httpx.Headers(request.headers)
        headers["host"] = host_header
        request = httpx.Request(request.method, pinned, headers=headers, stream=request.stream, extensions=extensions)
        return super().handle_request(request)


class AsyncGuardedTransport(httpx2.AsyncHTTPTransport):
    """The same checks for the MCP SDK's async client (httpx2): upstream MCP servers are reached only through it.
    The name is resolved off the event loop, once; the connection goes to the checked address."""

    def __init__(
        self,
        *,
        allow: Iterable[Network] | None = None,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(verify=verify, trust_env=False, retries=0)
        self.allow = tuple(allowed_networks() if allow is None else allow)
        self.resolver = resolver or _system_resolver

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if _is_ip(url.host) or url.scheme not in ("http", "https"):
            addresses = _addresses(url, self.allow, self.resolver)
        else:
            resolve = self.resolver
            addresses = await anyio.to_thread.run_sync(lambda: _addresses(url, self.allow, resolve))
        pinned, host_header, extensions = _pinned(url, addresses[0], request.extensions)
        headers = httpx2.Headers(request.headers)
        headers["host"] = host_header
        request = httpx2.Request(request.method, pinned, headers=headers, stream=request.stream,
                                 extensions=extensions)  # fmt: skip
        return await super().handle_async_request(request)


def _addresses(url: Any, allow: tuple[Network, ...], resolver: Resolver) -> list[str]:
    """Every address `url`'s host resolves to, each checked; refused (EgressRefused) when any is forbidden — a
    name with one public and one private answer is refused, since either could be the one connected to."""
    if url.scheme not in ("http", "https"):
        raise EgressRefused(f"only http and https can be fetched, not {url.scheme!r}")
    if url.username or url.password:
        raise EgressRefused("a URL with a user name or password in it is refused")
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [host] if _is_ip(host) else resolver(host, port)
    except OSError:
        raise EgressRefused(f"the host {host!r} could not be resolved") from None
    if not addresses:
        raise EgressRefused(f"the host {host!r} has no address")
    for address in addresses:
        refusal = address_refusal(address, allow)
        if refusal:
            raise EgressRefused(f"{host} resolves to a forbidden address: {refusal}")
    return list(addresses)


def _pinned(url: Any, checked: str, extensions: Any) -> tuple[Any, str, dict[str, Any]]:
    """The request's URL with its host replaced by the checked address, the Host header it must keep, and the TLS
    server name (the certificate is checked against the name while the connection goes to the checked IP)."""
    out = dict(extensions)
    if url.scheme == "https" and not _is_ip(url.host):
        out["sni_hostname"] = url.host
    return url.copy_with(host=checked), url.netloc.decode("ascii"), out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class EgressResponse:
    url: str
    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.content)


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    follow_redirects: bool = False,
    max_redirects: int = 3,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    transport: GuardedTransport | None = None,
) -> EgressResponse:
    """One guarded request. A redirect is an `EgressRefused` unless `follow_redirects`; then each hop is checked
    again and credentials are not carried to another origin. The body is read up to `max_bytes`, within `timeout`
    seconds in all."""
    deadline = time.monotonic() + timeout
    sent = dict(headers or {})
    origin = _origin(url)
    with httpx.Client(transport=transport or GuardedTransport(), trust_env=False, follow_redirects=False,
                      timeout=httpx.Timeout(timeout)) as client:  # fmt: skip
        for _hop in range(max_redirects + 1):
            try:
                with client.stream(method, url, headers=sent, content=content) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not follow_redirects:
                            raise EgressRefused(f"{url} answered with a redirect, and redirects are refused here")
                        url = str(response.url.join(location))
                        if _origin(url) != origin:
                            sent = {k: v for k, v in sent.items() if k.lower() not in _CREDENTIAL_HEADERS}
                        continue
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            raise EgressRefused(f"{url} answered more than {max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise EgressRefused(f"{url} took longer than {timeout:g} seconds")
                    return EgressResponse(url=url, status_code=response.status_code,
                                          headers=dict(response.headers), content=bytes(body))  # fmt: skip
            except httpx.InvalidURL:
                raise EgressRefused(f"{url[:200]} is not a URL that can be fetched") from None
            except httpx.TimeoutException:
                raise EgressRefused(f"{url} took longer than {timeout:g} seconds") from None
            except httpx.HTTPError as error:
                raise EgressRefused(f"{url} could not be fetched ({type(error).__name__})") from None
    raise EgressRefused(f"{url} redirected more than {max_redirects} times")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port
