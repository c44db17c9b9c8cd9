"""Endpoint checks against the egress policy at CreateTarget/UpdateTarget, with a resolver seam.

A name that does not resolve (yet) is accepted: a target may be registered before its DNS exists,
and the policy is enforced again on every connect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from callout.delivery.resolvers import Resolver
from callout.domain.egress import EgressPolicy, HostVerdict
from callout.errors import InvalidArgument


async def check_endpoint(policy: EgressPolicy, resolver: Resolver, endpoint: str) -> None:
    """Raise DeniedURL if the policy forbids the endpoint's scheme, host or resolved addresses."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.scheme == "http" and not policy.plain_http_allowed(host):
        raise _denied("plain http is only allowed to allow-listed hosts; use https")
    verdict = policy.host_verdict(host)
    if verdict is HostVerdict.DENIED:
        raise _denied("the endpoint's host is not an allowed destination")
    if verdict is HostVerdict.RESOLVE:
        addresses = await resolver.resolve(host) or []
        if any(not policy.address_allowed(address) for address in addresses):
            raise _denied("the endpoint's host resolves to an address that is not allowed")


def _denied(detail: str) -> InvalidArgument:
    return InvalidArgument("Errors.Target.DeniedURL", detail)
