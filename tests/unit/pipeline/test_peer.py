"""The client's address: X-Forwarded-For believed only from trusted proxies, right to left."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from proxyapi.pipeline.peer import NetworkList, client_ip, parse_address

PROXIES = NetworkList(["10.0.0.0/8", "fd00::/8"])


def scope(peer: str | None, *forwarded: str) -> Scope:
    built: Scope = {
        "type": "http",
        "headers": [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded],
    }
    if peer is not None:
        built["client"] = (peer, 40000)
    return built


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip(scope("10.0.0.1", "1.1.1.1"), NetworkList([])) == "10.0.0.1"


def test_an_untrusted_peers_forwarded_for_is_ignored() -> None:
    assert client_ip(scope("203.0.113.5", "1.1.1.1"), PROXIES) == "203.0.113.5"


def test_a_trusted_peer_without_forwarded_for_is_the_client() -> None:
    assert client_ip(scope("10.0.0.1"), PROXIES) == "10.0.0.1"


def test_behind_a_trusted_proxy_the_last_hop_is_the_client() -> None:
    assert client_ip(scope("10.0.0.1", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_the_rightmost_untrusted_hop_wins_over_what_the_client_wrote() -> None:
    forwarded = "6.6.6.6, 198.51.100.7, 10.0.0.9"
    assert client_ip(scope("10.0.0.1", forwarded), PROXIES) == "198.51.100.7"


def test_several_forwarded_for_headers_are_read_as_one_list_in_order() -> None:
    headers = ("6.6.6.6, 198.51.100.7", "10.0.0.9")
    assert client_ip(scope("10.0.0.1", *headers), PROXIES) == "198.51.100.7"
    headers = ("198.51.100.7", "203.0.113.8, 10.0.0.9")
    assert client_ip(scope("10.0.0.1", *headers), PROXIES) == "203.0.113.8"


def test_a_garbage_hop_stops_the_walk() -> None:
    assert client_ip(scope("10.0.0.1", "198.51.100.7, unknown"), PROXIES) == "10.0.0.1"
    forwarded = "198.51.100.7, not-an-ip, 10.0.0.9"
    assert client_ip(scope("10.0.0.1", forwarded), PROXIES) == "10.0.0.9"


def test_a_hop_with_a_port_counts_as_garbage() -> None:
    assert client_ip(scope("10.0.0.1", "198.51.100.7:5000"), PROXIES) == "10.0.0.1"


def test_empty_hops_and_spaces_are_skipped() -> None:
    forwarded = " , 198.51.100.7 ,, 10.0.0.9 ,"
    assert client_ip(scope("10.0.0.1", forwarded), PROXIES) == "198.51.100.7"


def test_when_every_hop_is_a_trusted_proxy_the_leftmost_is_the_client() -> None:
    assert client_ip(scope("10.0.0.1", "10.0.0.3, 10.0.0.4"), PROXIES) == "10.0.0.3"


def test_ipv6_peers_and_hops() -> None:
    assert client_ip(scope("fd00::1", "2001:db8::7"), PROXIES) == "2001:db8::7"
    assert client_ip(scope("2001:db8::1", "198.51.100.7"), PROXIES) == "2001:db8::1"
    assert client_ip(scope("10.0.0.1", "2001:db8::7, fd00::2"), PROXIES) == "2001:db8::7"


def test_an_ipv4_mapped_ipv6_peer_is_matched_as_its_ipv4_address() -> None:
    assert client_ip(scope("::ffff:10.0.0.1", "198.51.100.7"), PROXIES) == "198.51.100.7"
    assert client_ip(scope("::ffff:203.0.113.5", "198.51.100.7"), PROXIES) == "::ffff:203.0.113.5"


def test_an_ipv4_mapped_hop_can_be_a_trusted_proxy() -> None:
    forwarded = "198.51.100.7, ::ffff:10.0.0.9"
    assert client_ip(scope("10.0.0.1", forwarded), PROXIES) == "198.51.100.7"


def test_a_scope_without_a_client_has_no_address() -> None:
    assert client_ip(scope(None, "198.51.100.7"), PROXIES) == ""
    assert client_ip(scope(None), NetworkList([])) == ""


def test_other_headers_are_not_read() -> None:
    built = scope("10.0.0.1")
    built["headers"] = [(b"x-real-ip", b"6.6.6.6"), (b"forwarded", b"for=6.6.6.6")]
    assert client_ip(built, PROXIES) == "10.0.0.1"


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("10.1.2.3", True),
        ("11.1.2.3", False),
        ("::ffff:10.1.2.3", True),
        ("fd00::abcd", True),
        ("2001:db8::1", False),
        (" 10.1.2.3 ", True),
        ("garbage", False),
        ("", False),
    ],
)
def test_a_network_list_answers_membership(address: str, inside: bool) -> None:
    assert (address in PROXIES) is inside


def test_a_network_list_is_falsy_when_empty() -> None:
    assert not NetworkList([])
    assert NetworkList(["127.0.0.1"])


def test_a_network_list_takes_single_addresses_and_host_bits() -> None:
    listed = NetworkList(["127.0.0.1", "192.168.1.77/24", "::1"])
    assert "127.0.0.1" in listed
    assert "192.168.1.200" in listed
    assert "::1" in listed
    assert "127.0.0.2" not in listed


def test_parse_address_returns_none_for_garbage() -> None:
    assert parse_address("1.2.3") is None
    assert str(parse_address(" 2001:DB8::1 ")) == "2001:db8::1"
