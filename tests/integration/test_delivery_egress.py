"""The egress policy enforced by AiohttpSender at connect time, against live loopback listeners.

Every refused form points at the port of a live listener on 127.0.0.1 and must leave it at zero
connections; a ConnectGuard also proves no socket connect and no name lookup happened at all, and
refuses any connect outside loopback, so nothing here can send traffic off the machine.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.delivery.sender import ConnectionFailed, EgressDenied, OutboundRequest, OutboundResponse
from callout.domain.egress import EgressPolicy, IPAddress
from callout.services.egress import check_endpoint
from tests.delivery_receivers import ConnectGuard, ReceiverFactory, Tripwire
from tests.egress_forms import carried_not_global_ipv4, carriers, look_alike_spelling, not_global_ipv4

DEFAULT = EgressPolicy()
DEV = EgressPolicy(dev_mode=True)
PUBLIC = "93.184.215.14"
PINS = StaticResolver(
    {
        "loopback.pinned.test": ["127.0.0.1"],
        "ipv6-loopback.pinned.test": ["::1"],
        "mapped-loopback.pinned.test": ["::ffff:127.0.0.1"],
        "unspecified.pinned.test": ["0.0.0.0"],
        "private.pinned.test": ["10.0.0.1"],
        "mapped-private.pinned.test": ["::ffff:10.0.0.1"],
        "metadata.pinned.test": ["169.254.169.254"],
        "ula.pinned.test": ["fd00::1"],
        "all-internal.pinned.test": ["10.0.0.1", "192.168.0.1", "127.0.0.1", "::1", "fd00::1", "100.64.0.1"],
        "translated-loopback.pinned.test": ["::ffff:0:7f00:1"],
        "compatible-loopback.pinned.test": ["::7f00:1"],
        "nat64-metadata.pinned.test": ["64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe"],
        "teredo-loopback.pinned.test": ["2001:0:4136:e378:8000:63bf:80ff:fffe"],
        "new-reserved.pinned.test": ["fec0::1", "3fff::1", "5f00::1", "100:0:0:1::1"],
        "localhost": [PUBLIC],
    }
)
LOOPBACK_FORMS = [
    *("127.0.0.1", "127.0.0.2", "127.255.255.254", "127.1", "127.0.1", "2130706433", "0x7f000001"),
    *("0x7f.0.0.1", "0x7f.1", "0177.0.0.1", "0177.1", "017700000001", "127.0.0.1.", "１２７.0.0.1"),
    *("0.0.0.0", "0", "0x0", "[::1]", "[::]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"),
    *("[0:0:0:0:0:ffff:7f00:1]", "[::ffff:0.0.0.0]", "localhost", "LOCALHOST.", "api.localhost", "ⓛocalhost"),
    *("loopback.pinned.test", "ipv6-loopback.pinned.test", "mapped-loopback.pinned.test"),
    *("unspecified.pinned.test", "127。0。0。1", "①②⑦.0.0.1", "１２７．０．０．１", "example.com@127.0.0.1"),
    *("[::ffff:0:127.0.0.1]", "[::ffff:0:7f00:1]", "[::127.0.0.1]", "[64:ff9b::127.0.0.1]", "[64:ff9b:1::7f00:1]"),
    *("[2002:7f00:1::1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]", "translated-loopback.pinned.test"),
    *("compatible-loopback.pinned.test", "teredo-loopback.pinned.test"),
]
INTERNAL_FORMS = [
    *("10.0.0.1", "10.255.255.254", "012.0.0.1", "0x0a.0.0.1", "167772161", "172.16.0.1", "172.31.255.254"),
    *("192.168.1.1", "3232235777", "[::ffff:10.0.0.1]", "[::ffff:a00:1]", "[::ffff:192.168.1.1]"),
    *("169.254.169.254", "[::ffff:169.254.169.254]", "2852039166", "[fe80::1]", "[fe80::1%25eth0]"),
    *("100.64.0.1", "100.127.255.254", "[fc00::1]", "[fd00::1]", "[fd12:3456:789a::1]"),
    *("224.0.0.1", "239.255.255.250", "[ff02::1]", "255.255.255.255", "240.0.0.1"),
    *("192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "[2001:db8::1]"),
    *("private.pinned.test", "mapped-private.pinned.test", "metadata.pinned.test", "ula.pinned.test"),
    *("all-internal.pinned.test", "[fec0::1]", "[3fff::1]", "[5f00::1]", "[100:0:0:1::1]", "[fe80::1%25lo]"),
    *("[::ffff:0:169.254.169.254]", "[64:ff9b:1::a9fe:a9fe]", "nat64-metadata.pinned.test", "new-reserved.pinned.test"),
]
DEV_MODE_INTERNAL_FORMS = [
    *("10.0.0.1", "169.254.169.254", "[::ffff:10.0.0.1]", "[fd00::1]", "0.0.0.0", "[::]"),
    *("private.pinned.test", "mapped-private.pinned.test", "metadata.pinned.test", "unspecified.pinned.test"),
]


class SequenceResolver:
    """Answers each lookup with the next of its answers, the last one forever (a rebinding DNS server)."""

    def __init__(self, *answers: list[str]) -> None:
        self._answers = [[ip_address(text) for text in answer] for answer in answers]
        self.lookups = 0

    async def resolve(self, host: str) -> list[IPAddress] | None:
        """Return the next answer."""
        self.lookups += 1
        return self._answers[min(self.lookups, len(self._answers)) - 1]


def _post(url: str) -> OutboundRequest:
    return OutboundRequest(url=url, body=b"{}", headers={"Content-Type": "application/json"}, timeout_seconds=5)


async def _refused(sender: AiohttpSender, url: str) -> ConnectGuard:
    """Send under a ConnectGuard, expect EgressDenied, and return the guard's record."""
    with ConnectGuard() as guard, pytest.raises(EgressDenied):
        await sender.send(_post(url))
    return guard


@pytest.fixture
async def receivers() -> AsyncIterator[ReceiverFactory]:
    """Factory of loopback receivers, all stopped after the test."""
    async with ReceiverFactory() as factory:
        yield factory


@pytest.fixture
async def tripwire() -> AsyncIterator[Tripwire]:
    """A live listener on 127.0.0.1 that counts connections."""
    async with Tripwire() as wire:
        yield wire


@pytest.fixture
async def default_sender() -> AsyncIterator[AiohttpSender]:
    """A sender with the default policy (global addresses over https only) and pinned names only."""
    async with AiohttpSender(DEFAULT, PINS) as sender:
        yield sender


@pytest.fixture
async def dev_sender() -> AsyncIterator[AiohttpSender]:
    """A sender in development mode (loopback and plain http allowed) with pinned names only."""
    async with AiohttpSender(DEV, PINS) as sender:
        yield sender


class TestRefusedForms:
    @pytest.mark.parametrize("host", LOOPBACK_FORMS)
    async def test_loopback_form_never_reaches_the_listener(
        self, default_sender: AiohttpSender, tripwire: Tripwire, host: str
    ) -> None:
        """A spelling of a loopback or unspecified address is refused before any connect or lookup."""
        guard = await _refused(default_sender, f"https://{host}:{tripwire.port}/hook")
        assert (tripwire.connections, guard.connects, guard.lookups) == (0, [], [])

    @pytest.mark.parametrize("host", INTERNAL_FORMS)
    async def test_internal_form_is_refused_before_connecting(
        self, default_sender: AiohttpSender, tripwire: Tripwire, host: str
    ) -> None:
        """A private, link-local, shared, multicast or reserved address is refused before any connect."""
        guard = await _refused(default_sender, f"https://{host}:{tripwire.port}/hook")
        assert (tripwire.connections, guard.connects, guard.lookups) == (0, [], [])

    @pytest.mark.parametrize("host", DEV_MODE_INTERNAL_FORMS)
    async def test_dev_mode_still_refuses_non_loopback_addresses(
        self, dev_sender: AiohttpSender, tripwire: Tripwire, host: str
    ) -> None:
        """Development mode admits loopback over plain http, never private or unspecified addresses."""
        guard = await _refused(dev_sender, f"http://{host}:{tripwire.port}/hook")
        assert (tripwire.connections, guard.connects) == (0, [])

    async def test_refusals_are_decided_by_host_or_address_not_scheme(self, tripwire: Tripwire) -> None:
        """Every refusal in the tables above is made by a host or address rule, never by the plain-http rule."""
        rules: list[str] = []
        async with AiohttpSender(DEFAULT, PINS, on_blocked=rules.append) as sender:
            for host in LOOPBACK_FORMS + INTERNAL_FORMS:
                await _refused(sender, f"https://{host}:{tripwire.port}/hook")
        assert set(rules) <= {"host", "ambiguous_literal", "address"}


async def _attempt(host: str, pins: dict[str, list[str]]) -> tuple[int, ConnectGuard]:
    """Send to host at a fresh tripwire's port; return the tripwire's connections and the guard's record."""
    async with Tripwire() as wire, AiohttpSender(DEFAULT, StaticResolver(pins)) as sender:
        guard = await _refused(sender, f"https://{host}:{wire.port}/hook")
    return wire.connections, guard


class TestRefusedFormsProperties:
    @settings(max_examples=40, deadline=None)
    @given(carrier=carried_not_global_ipv4(), as_name=st.booleans())
    def test_carrier_of_a_non_global_ipv4_is_never_connected_to(self, carrier: IPv6Address, as_name: bool) -> None:
        """An IPv6 literal, or a name resolving to one, that carries a non-global IPv4 address gets no connect."""
        host = "carrier.test" if as_name else f"[{carrier}]"
        connections, guard = asyncio.run(_attempt(host, {"carrier.test": [str(carrier)]}))
        assert (connections, guard.connects, guard.lookups) == (0, [], [])

    @settings(max_examples=25, deadline=None)
    @given(carriers(IPv4Address("127.0.0.1")))
    def test_carrier_of_the_listener_address_never_reaches_it(self, carrier: IPv6Address) -> None:
        """Every IPv6 form of 127.0.0.1 aimed at a live listener leaves it at zero connections."""
        connections, guard = asyncio.run(_attempt(f"[{carrier}]", {}))
        assert (connections, guard.connects) == (0, [])

    @settings(max_examples=40, deadline=None)
    @given(not_global_ipv4().flatmap(look_alike_spelling))
    def test_look_alike_spelling_is_never_connected_to(self, host: str) -> None:
        """A non-global IPv4 address spelt with look-alike digits and dots gets no connect and no lookup."""
        connections, guard = asyncio.run(_attempt(host, {}))
        assert (connections, guard.connects, guard.lookups) == (0, [], [])


class TestDenyList:
    async def test_deny_listed_name_is_refused_even_in_dev_mode(self, receivers: ReceiverFactory) -> None:
        """A deny-listed name is refused although it resolves to an allowed loopback address."""
        receiver = await receivers.start()
        policy = EgressPolicy.from_entries(deny=["loopback.pinned.test"], dev_mode=True)
        async with AiohttpSender(policy, PINS) as sender:
            await _refused(sender, f"http://loopback.pinned.test:{receiver.port}/hook")
        assert receiver.hits == []

    async def test_deny_listed_network_beats_dev_mode(self, receivers: ReceiverFactory) -> None:
        """A deny-listed network is refused although development mode admits loopback."""
        receiver = await receivers.start()
        policy = EgressPolicy.from_entries(deny=["127.0.0.0/8"], dev_mode=True)
        async with AiohttpSender(policy, PINS) as sender:
            await _refused(sender, receiver.url())
            await _refused(sender, f"http://loopback.pinned.test:{receiver.port}/hook")
        assert receiver.hits == []


class TestAllowedDestinations:
    async def test_dev_mode_reaches_a_loopback_literal(
        self, dev_sender: AiohttpSender, receivers: ReceiverFactory
    ) -> None:
        """In development mode http://127.0.0.1 reaches the receiver."""
        receiver = await receivers.start()
        assert ((await dev_sender.send(_post(receiver.url()))).status, len(receiver.hits)) == (200, 1)

    async def test_dev_mode_reaches_a_name_pinned_to_loopback(
        self, dev_sender: AiohttpSender, receivers: ReceiverFactory
    ) -> None:
        """In development mode a name resolving to 127.0.0.1 reaches the receiver."""
        receiver = await receivers.start()
        response = await dev_sender.send(_post(f"http://loopback.pinned.test:{receiver.port}/hook"))
        assert (response.status, len(receiver.hits)) == (200, 1)

    async def test_dev_mode_reaches_ipv6_loopback(self, dev_sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """In development mode http://[::1] reaches a receiver listening on ::1."""
        if not socket.has_ipv6:
            pytest.skip("no IPv6 on this machine")
        receiver = await receivers.start(host="::1")
        response = await dev_sender.send(_post(f"http://[::1]:{receiver.port}/hook"))
        assert (response.status, len(receiver.hits)) == (200, 1)

    async def test_allow_listed_network_reaches_loopback(self, receivers: ReceiverFactory) -> None:
        """An allow list of 127.0.0.0/8 admits http://127.0.0.1 without development mode."""
        receiver = await receivers.start()
        async with AiohttpSender(EgressPolicy.from_entries(allow=["127.0.0.0/8"]), PINS) as sender:
            assert (await sender.send(_post(receiver.url()))).status == 200

    async def test_allow_listed_name_reaches_its_internal_address(self, receivers: ReceiverFactory) -> None:
        """A host name on the allow list may be called over http at its loopback address."""
        receiver = await receivers.start()
        async with AiohttpSender(EgressPolicy.from_entries(allow=["loopback.pinned.test"]), PINS) as sender:
            response = await sender.send(_post(f"http://loopback.pinned.test:{receiver.port}/hook"))
        assert (response.status, len(receiver.hits)) == (200, 1)


class TestMixedAnswers:
    async def test_only_the_allowed_address_of_a_name_is_used(self, receivers: ReceiverFactory) -> None:
        """Of a name's two addresses only the allowed one is connected to; the denied one gets nothing."""
        allowed = await receivers.start(host="127.0.0.2")
        denied = await receivers.start(host="127.0.0.1", port=allowed.port)
        policy = EgressPolicy.from_entries(deny=["127.0.0.1/32"], dev_mode=True)
        resolver = StaticResolver({"mixed.test": ["127.0.0.1", "127.0.0.2"]})
        async with AiohttpSender(policy, resolver) as sender:
            for _ in range(3):
                await sender.send(_post(f"http://mixed.test:{allowed.port}/hook"))
        assert (len(allowed.hits), len(denied.hits)) == (3, 0)

    async def test_private_address_of_a_mixed_name_is_never_connected_to(self, tripwire: Tripwire) -> None:
        """With the default policy a name answering loopback and public connects only to the public one."""
        resolver = StaticResolver({"mixed.test": ["127.0.0.1", PUBLIC]})
        async with AiohttpSender(DEFAULT, resolver) as sender:
            with ConnectGuard() as guard, pytest.raises(ConnectionFailed):  # the guard refuses the public connect
                await sender.send(_post(f"https://mixed.test:{tripwire.port}/hook"))
        assert (guard.connects, tripwire.connections) == ([(PUBLIC, tripwire.port)], 0)


class TestRebinding:
    async def test_name_rebound_to_loopback_after_creation_is_refused(self, tripwire: Tripwire) -> None:
        """A name that was public when the target was created but resolves to 127.0.0.1 now is refused."""
        resolver = SequenceResolver([PUBLIC], ["127.0.0.1"])
        url = f"https://rebind.test:{tripwire.port}/hook"
        await check_endpoint(DEFAULT, resolver, url)
        async with AiohttpSender(DEFAULT, resolver) as sender:
            guard = await _refused(sender, url)
        assert (resolver.lookups, tripwire.connections, guard.connects) == (2, 0, [])

    async def test_every_new_connection_resolves_again(self, receivers: ReceiverFactory) -> None:
        """A name rebound between two connections is judged again on the second connect."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(headers={"Connection": "close"})

        allowed = await receivers.start(reply, host="127.0.0.2")
        denied = await receivers.start(host="127.0.0.1", port=allowed.port)
        policy = EgressPolicy.from_entries(deny=["127.0.0.1/32"], dev_mode=True)
        async with AiohttpSender(policy, SequenceResolver(["127.0.0.2"], ["127.0.0.1"])) as sender:
            first = await sender.send(_post(f"http://rebind.test:{allowed.port}/hook"))
            await _refused(sender, f"http://rebind.test:{allowed.port}/hook")
        assert (first.status, len(allowed.hits), len(denied.hits)) == (200, 1, 0)


class TestBlockedCounting:
    async def test_refusals_are_counted(self, tripwire: Tripwire) -> None:
        """Each refused call adds one to the sender's blocked counter."""
        async with AiohttpSender(DEFAULT, PINS) as sender:
            await _refused(sender, f"https://127.0.0.1:{tripwire.port}/hook")
            await _refused(sender, f"https://private.pinned.test:{tripwire.port}/hook")
        assert sender.blocked == 2

    async def test_hook_receives_the_refusing_rule(self, tripwire: Tripwire) -> None:
        """on_blocked is called once per refusal with the rule that refused it."""
        rules: list[str] = []
        async with AiohttpSender(DEFAULT, PINS, on_blocked=rules.append) as sender:
            for host in ("127.0.0.1", "0x7f.1", "private.pinned.test"):
                await _refused(sender, f"https://{host}:{tripwire.port}/hook")
            await _refused(sender, f"http://93.184.215.14:{tripwire.port}/hook")
        assert rules == ["host", "ambiguous_literal", "address", "plain_http"]

    async def test_allowed_and_failed_calls_are_not_counted(self, receivers: ReceiverFactory) -> None:
        """Successful calls and connection failures leave the blocked counter alone."""
        receiver = await receivers.start()
        async with AiohttpSender(DEV, PINS) as sender:
            response: OutboundResponse = await sender.send(_post(receiver.url()))
            with pytest.raises(ConnectionFailed):
                await sender.send(_post("http://unknown.test/hook"))
        assert (response.status, sender.blocked) == (200, 0)
