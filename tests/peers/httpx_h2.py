# httpx (HTTP/2 through httpcore and h2) as a client of nethttp's HTTP/2 server, for
# tests/h2_interop.rs. Arguments: the base URL and the CA file to trust over TLS, or "" for
# h2c with prior knowledge on an http:// URL. Prints one line per check; the Rust test
# compares the lines. Every request has a 10 s timeout.
#
# Concurrent requests go through httpx.AsyncClient on one event loop: httpx's synchronous
# client shared by threads breaks its own HTTP/2 connection state (encode/httpx#3072; here it
# sent header blocks out of HPACK order and reset connections, against Go's server too).
import asyncio
import ssl
import sys

import httpx

base, ca = sys.argv[1], sys.argv[2]


def pattern(n, seed=0):
    return bytes((i * 7 + seed) % 251 for i in range(n))


async def main():
    if ca:
        client = httpx.AsyncClient(
            http2=True, verify=ssl.create_default_context(cafile=ca), trust_env=False, timeout=10
        )
    else:
        # Neither ALPN nor an upgrade: with HTTP/1.1 off httpx starts with the HTTP/2 preface.
        client = httpx.AsyncClient(http1=False, http2=True, trust_env=False, timeout=10)
    async with client:
        r = await client.get(base + "/hello")
        print("get", r.http_version, r.status_code, r.text)

        # 1 MiB and a byte: past every default window, both ways.
        body = pattern((1 << 20) + 1)
        r = await client.post(base + "/mirror", content=body, headers={"x-tag": "httpx"})
        print(
            "post",
            r.http_version,
            r.status_code,
            len(r.content),
            r.content == body,
            r.headers.get("x-tag"),
            r.headers.get("x-body-len"),
        )

        r = await client.get(base + "/missing")
        print("missing", r.http_version, r.status_code)

        # Eight requests at once: the server answers each only once all eight are in, so they
        # must be streams in flight together; x-remote names the connection each came on.
        async def together():
            try:
                r = await client.get(base + "/together")
                return (r.http_version, r.status_code, r.text, r.headers.get("x-remote"))
            except Exception as e:  # noqa: BLE001 - printed, and the Rust side fails on it
                return ("error", repr(e))

        results = await asyncio.gather(*[together() for _ in range(8)])
        ok = sum(1 for x in results if x[:3] == ("HTTP/2", 200, "together"))
        conns = len({x[3] for x in results if len(x) == 4})
        print("together", ok, "connections", conns)
        for x in results:
            if x[:3] != ("HTTP/2", 200, "together"):
                print("failed", x)

        # Eight uploads of half a MiB at once, each echoed back: the connection's windows
        # shared by streams sending and receiving together.
        async def upload(i):
            b = pattern((512 << 10) + i, i)
            try:
                r = await client.post(base + "/mirror", content=b)
                return r.http_version == "HTTP/2" and r.status_code == 200 and r.content == b
            except Exception as e:  # noqa: BLE001 - printed, and the Rust side fails on it
                return repr(e)

        results = await asyncio.gather(*[upload(i) for i in range(8)])
        print("uploads", sum(1 for x in results if x is True))
        for x in results:
            if x is not True:
                print("failed", x)


asyncio.run(main())
