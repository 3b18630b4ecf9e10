"""Where each Mixpanel API family lives, per data-residency region (docs/mixpanel-api.md, "Hosts and regions").

Export is served from the ``data*`` hosts, everything else from the ``mixpanel.com`` family; the two never mix.
An ``api_url`` (``MP_API_URL`` or an account's ``api_url``) puts every family under one base URL with Mixpanel's
own paths, which is how a proxy or the emulator is reached.
"""

from __future__ import annotations

from typing import Literal

Family = Literal["export", "query", "app"]
Region = Literal["us", "eu", "in"]

REGIONS: tuple[Region, ...] = ("us", "eu", "in")

_HOSTS: dict[Region, dict[Family, str]] = {
    "us": {"export": "https://data.mixpanel.com", "query": "https://mixpanel.com", "app": "https://mixpanel.com"},
    "eu": {"export": "https://data-eu.mixpanel.com", "query": "https://eu.mixpanel.com",
           "app": "https://eu.mixpanel.com"},
    "in": {"export": "https://data-in.mixpanel.com", "query": "https://in.mixpanel.com",
           "app": "https://in.mixpanel.com"},
}

_PREFIX: dict[Family, str] = {"export": "/api/2.0", "query": "/api/query", "app": "/api/app"}


def base_url(region: str, family: Family, api_url: str | None = None) -> str:
    """The URL that a family's endpoint paths are appended to, e.g. ``https://data-eu.mixpanel.com/api/2.0``."""
    if api_url:
        return api_url.rstrip("/") + _PREFIX[family]
    if region not in _HOSTS:
        raise ValueError(f"unknown region {region!r} (valid: {', '.join(REGIONS)})")
    return _HOSTS[region][family] + _PREFIX[family]  # type: ignore[index]
