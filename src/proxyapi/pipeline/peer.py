"""The client's address, believing ``X-Forwarded-For`` only from proxies we trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class NetworkList:
    """A set of CIDRs (``10.0.0.0/8``, ``::1``) that answers "is this address in it?"."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in cidrs
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: str) -> bool:
        parsed = parse_address(address)
        if parsed is None:
            return False
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped  # ::ffff:10.1.2.3 is 10.1.2.3
        return any(parsed in network for network in self.networks)


def parse_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(scope: Scope, trusted: NetworkList) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy.

    From a trusted peer, ``X-Forwarded-For`` is read right to left and the first
    address that is not itself a trusted proxy is the client: entries further
    left were written by the client and prove nothing.
    """
    peer = scope.get("client")
    address = peer[0] if peer else ""
    if not trusted or address not in trusted:
        return address
    forwarded = [value for key, value in scope["headers"] if key == b"x-forwarded-for"]
    hops = b",".join(forwarded).decode("latin-1").split(",")
    for hop in reversed(hops):
        hop = hop.strip()
        if not hop:
            continue
        if parse_address(hop) is None:
            break  # garbage: trust nothing further left
        address = hop
        if hop not in trusted:
            break
    return address
