# httpx (HTTP/2 through httpcore and h2) as a client of nethttp's HTTP/2 server, for
# tests/h2_interop.rs. Arguments: the base URL and the CA file to trust over TLS, or "" for
# h2c with prior knowledge on an http:// URL. Prints one line per check; the Rust test
# compares the lines. Every request has a 10 s timeout.
import ssl
import sys
import threading

import httpx

base, ca = sys.argv[1], sys.argv[2]
if ca:
    client = httpx.Client(
        http2=True, verify=ssl.create_default_context(cafile=ca), trust_env=False, timeout=10
    )
else:
    # Neither ALPN nor an upgrade: with HTTP/1.1 off httpx starts with the HTTP/2 preface.
    client = httpx.Client(http1=False, http2=True, trust_env=False, timeout=10)

with client:
    r = client.get(base + "/hello")
    print("get", r.http_version, r.status_code, r.text)

    # 1 MiB and a byte: past every default window, both ways.
    body = bytes(i * 7 % 251 for i in range((1 << 20) + 1))
    r = client.post(base + "/mirror", content=body, headers={"x-tag": "httpx"})
    print(
        "post",
        r.http_version,
        r.status_code,
        len(r.content),
        r.content == body,
        r.headers.get("x-tag"),
        r.headers.get("x-body-len"),
    )

    r = client.get(base + "/missing")
    print("missing", r.http_version, r.status_code)

    # Eight requests at once: the server answers each only once all eight are in, so they
    # must be streams in flight together; x-remote names the connection each came on.
    results = []
    lock = threading.Lock()

    def together():
        try:
            r = client.get(base + "/together")
            line = (r.http_version, r.status_code, r.text, r.headers.get("x-remote"))
        except Exception as e:  # noqa: BLE001 - reported, the Rust side fails on it
            line = ("error", repr(e))
        with lock:
            results.append(line)

    threads = [threading.Thread(target=together) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ok = sum(1 for x in results if x[:3] == ("HTTP/2", 200, "together"))
    conns = len({x[3] for x in results if len(x) == 4})
    print("together", ok, "connections", conns)
    bad = [x for x in results if x[:3] != ("HTTP/2", 200, "together")]
    if bad:
        print("failed", bad)
