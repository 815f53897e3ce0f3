"""Loopback addresses for test and benchmark servers: distinct, bindable, clear of outgoing ports."""

from __future__ import annotations

import socket

from suite.supervisor import _ephemeral_low, free_address


def test_free_addresses_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    addresses = [free_address() for _ in range(50)]
    assert len(set(addresses)) == 50
    ports = [int(address.rpartition(":")[2]) for address in addresses]
    assert all(20_000 <= port < _ephemeral_low() for port in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[0]))  # free when handed out
