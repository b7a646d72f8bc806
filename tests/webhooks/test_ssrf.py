"""The SSRF guard on its own: schemes, addresses, names that resolve inward, the allow-list."""

from __future__ import annotations

import ipaddress

import pytest

from app.webhooks import ssrf

NOTHING = ssrf.AllowList.parse([])


def resolver(table: dict[str, list[str]]) -> ssrf.Resolver:
    async def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


PUBLIC = resolver(
    {
        "hooks.example.com": ["93.184.216.34"],
        "intranet.example.com": ["10.1.2.3"],
        # One public answer and one private: refused, whatever order they come in.
        "mixed.example.com": ["93.184.216.34", "192.168.1.10"],
        "metadata.example.com": ["169.254.169.254"],
    }
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",  # loopback
        "http://10.0.0.5/hook",  # private
        "http://172.16.3.4/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "http://[::1]:8080/hook",  # IPv6 loopback
        "http://[fe80::1]/",  # IPv6 link-local
        "http://[fc00::1]/",  # IPv6 unique local
        "http://[::ffff:10.0.0.1]/",  # IPv4-mapped private
        "http://0.0.0.0/",  # unspecified
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://100.64.0.1/",  # shared address space (carrier NAT)
        "http://intranet.example.com/hook",  # a name that resolves to a private address
        "http://mixed.example.com/hook",
        "http://metadata.example.com/",
    ],
)
async def test_inward_addresses_are_refused(url: str) -> None:
    with pytest.raises(ssrf.Refused, match="WEBHOOK_ALLOWED_HOSTS"):
        await ssrf.check(url, NOTHING, PUBLIC)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "gopher://x/",
        "hooks.example.com/x",
        "http:///x",
    ],
)
async def test_only_http_and_https_with_a_host(url: str) -> None:
    with pytest.raises(ssrf.Refused, match=r"http|host"):
        await ssrf.check(url, NOTHING, PUBLIC)


async def test_unresolvable_names_are_refused() -> None:
    with pytest.raises(ssrf.Refused, match="cannot be resolved"):
        await ssrf.check("https://nowhere.example.com/", NOTHING, PUBLIC)


async def test_public_targets_keep_the_name_and_pin_the_address() -> None:
    target = await ssrf.check("https://hooks.example.com:8443/p?q=1", NOTHING, PUBLIC)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert target.address == ipaddress.ip_address("93.184.216.34")


@pytest.mark.parametrize(
    ("entries", "url"),
    [
        (["127.0.0.1"], "http://127.0.0.1:9000/"),
        (["10.0.0.0/8"], "http://intranet.example.com/"),
        (["intranet.example.com"], "http://intranet.example.com/"),
        (["::1"], "http://[::1]/"),
        (["fe80::/10"], "http://[fe80::1]/"),
    ],
)
async def test_the_allow_list_permits_names_addresses_and_ranges(
    entries: list[str], url: str
) -> None:
    await ssrf.check(url, ssrf.AllowList.parse(entries), PUBLIC)


async def test_the_allow_list_permits_only_what_it_names() -> None:
    allow = ssrf.AllowList.parse(["127.0.0.1"])
    with pytest.raises(ssrf.Refused):
        await ssrf.check("http://10.0.0.1/", allow, PUBLIC)
    with pytest.raises(ssrf.Refused):
        await ssrf.check("http://127.0.0.2/", allow, PUBLIC)
