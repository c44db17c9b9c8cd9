"""Endpoint checks against the egress policy at CreateTarget/UpdateTarget, with a resolver seam.

The endpoint is parsed exactly as the HTTP client will parse it and put through the same pre-check
as every send (``delivery.egress.check_url``), so ``https://１２７.０.０.１/`` is judged as the
``127.0.0.1`` it connects to, not as the raw text (docs/egress.md). A name that does not resolve
(yet) is accepted: a target may be registered before its DNS exists, and the policy is enforced again
on every connect.
"""

from __future__ import annotations

from callout.delivery.egress import EgressBlocked, UnreadableURL, check_url, client_url
from callout.delivery.resolvers import Resolver
from callout.domain.egress import EgressPolicy, HostVerdict
from callout.errors import InvalidArgument


async def check_endpoint(policy: EgressPolicy, resolver: Resolver, endpoint: str) -> None:
    """Raise InvalidURL if the client cannot read the endpoint, DeniedURL if the policy forbids it."""
    try:
        url = client_url(endpoint)
        check_url(policy, url)
    except UnreadableURL as error:
        raise InvalidArgument("Errors.Target.InvalidURL", str(error)) from None
    except EgressBlocked as blocked:
        raise _denied(_advice(blocked)) from None
    host = url.raw_host or ""
    if policy.host_verdict(host) is HostVerdict.RESOLVE:
        addresses = await resolver.resolve(host) or []
        if any(not policy.address_allowed(address) for address in addresses):
            raise _denied("the endpoint's host resolves to an address that is not allowed")


def _advice(blocked: EgressBlocked) -> str:
    if blocked.rule == "plain_http":
        return "plain http is only allowed to allow-listed hosts; use https"
    return f"the egress policy refuses the endpoint; {blocked.detail}"


def _denied(detail: str) -> InvalidArgument:
    return InvalidArgument("Errors.Target.DeniedURL", detail)
