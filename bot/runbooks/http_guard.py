"""Where `ctx.http` may connect: public addresses, and the internal hosts the settings allow.

A runbook's URL often comes from chat, so without a check anyone who may start a
runbook could have the bot's host request its own loopback services, the internal
network or a cloud metadata endpoint (169.254.169.254) for them, and read the answer.
Each request, and each redirect it is sent on, is resolved once, every address is
checked, and the connection is made to the checked address (with the URL's host name
in `Host` and for TLS), so a DNS answer that changes between check and connect cannot
slip past. Redirects are followed here, a few at most, each checked like the first
URL. Proxy variables are not used: a proxy would connect to addresses nobody checked.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

ALLOW_SETTING = "RUNBOOK_HTTP_ALLOW"
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECT_BODY_LIMIT = 65_536
"""Bytes of a redirect's own body read before following it."""
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
"""Not sent on to another scheme, host or port by a redirect."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

CLOUD_METADATA: tuple[Network, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.169.254/32",  # AWS, Azure, GCP, OpenStack, DigitalOcean...
        "169.254.170.2/32",  # AWS ECS task credentials
        "fd00:ec2::254/128",  # AWS over IPv6
        "100.100.100.200/32",  # Alibaba Cloud
        "192.0.0.192/32",  # Oracle Cloud
    )
)
_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_-]+)*")


class Refused(Exception):
    """The request was not sent: its scheme or an address it leads to is not allowed."""


class TooManyRedirects(http.client.HTTPException):
    """The redirects did not end within MAX_REDIRECTS."""


def allow_entry(text: str) -> str:
    """One entry of the allow-list, written the one way it is compared: a network or a host name.

    `10.0.0.0/8`, `10.1.2.3` (one address), `fd00::/8` or `api.internal`; raises
    ValueError for anything else.
    """
    entry = text.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_network(entry, strict=False))
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(entry):
        raise ValueError(text)
    return entry


@dataclass(frozen=True)
class AllowList:
    """The host names and networks `ctx.http` may reach although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in map(allow_entry, entries):
            if entry[0].isdigit() or ":" in entry:
                networks.append(ipaddress.ip_network(entry))
            else:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


def refusal(address: Address) -> str | None:
    """What makes `address` internal ("a loopback address"), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in CLOUD_METADATA):
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:  # 0.0.0.0 and :: reach this host
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Response:
    """The answer that ended the redirects: status, headers, body (cut at the limit), charset."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    charset: str | None


@dataclass(frozen=True)
class _Target:
    """A checked URL: where to connect, and what to ask for."""

    tls: bool
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def origin(self) -> tuple[bool, str, int]:
        return self.tls, self.host, self.port


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    allow: AllowList,
    read_limit: int,
) -> Response:
    """Send the request and follow its redirects, every hop checked before it connects.

    Raises Refused before connecting anywhere not allowed, TooManyRedirects, and
    what the connection raises (OSError, http.client.HTTPException).
    """
    sent = dict(headers)
    target = check(url, allow)
    for _ in range(MAX_REDIRECTS + 1):
        response, location = _send(target, method, sent, body, timeout, read_limit)
        if response.status not in REDIRECT_STATUSES or not location:
            return response
        url = urljoin(url, location)
        try:
            following = check(url, allow)
        except Refused as refused:
            raise Refused(f"it redirects to {url}: {refused}") from None
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method = "GET" if method != "HEAD" else method
            body = None
            sent = {k: v for k, v in sent.items() if not k.lower().startswith("content-")}
        if following.origin != target.origin:
            sent = {k: v for k, v in sent.items() if k.lower() not in CREDENTIAL_HEADERS}
        target = following
    raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


def check(url: str, allow: AllowList) -> _Target:
    """The URL resolved and checked; raises Refused for a scheme or an address not allowed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("only http:// and https:// URLs can be requested")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"{url} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url} holds credentials: send them in headers= instead")
    port = parts.port or (443 if scheme == "https" else 80)
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = tuple(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))
    if host not in allow.hosts:
        for text in addresses:
            address = ipaddress.ip_address(text.partition("%")[0])
            reason = None if allow.allows(address) else refusal(address)
            if reason is not None:
                shown = host if host == text else f"{host} ({text})"
                raise Refused(
                    f"{shown} is {reason}; runbooks reach internal hosts only when "
                    f"{ALLOW_SETTING} lists the host or its network "
                    f"(e.g. {ALLOW_SETTING}={host})"
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme == "https", host, port, path, addresses)


class _Connection(http.client.HTTPConnection):
    """Connects to the addresses checked, not to what the host name resolves to by now."""

    def __init__(self, target: _Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.default_port = 443 if target.tls else 80  # the port Host leaves out
        self._target = target

    def connect(self) -> None:
        sock = _connect(self._target.addresses, self.port, self.timeout)
        if self._target.tls:
            try:
                sock = _tls_context().wrap_socket(sock, server_hostname=self._target.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


def _connect(addresses: Iterable[str], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of the addresses that takes one, in the order DNS gave them."""
    error: OSError = ConnectionError("the host has no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as failed:
            error = failed
    raise error


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _send(
    target: _Target,
    method: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    read_limit: int,
) -> tuple[Response, str | None]:
    """One request on a connection of its own: the response, and where it redirects to."""
    connection = _Connection(target, timeout)
    try:
        connection.request(method, target.path, body=body, headers=dict(headers))
        answer = connection.getresponse()
        location = answer.getheader("Location")
        redirect = answer.status in REDIRECT_STATUSES and location is not None
        raw = answer.read(REDIRECT_BODY_LIMIT if redirect else read_limit)
        response = Response(
            status=answer.status,
            headers=answer.getheaders(),
            body=raw,
            charset=answer.headers.get_content_charset(),
        )
        return response, location
    finally:
        connection.close()
