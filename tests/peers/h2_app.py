# An ASGI app for hypercorn, the upstream of tests/h2_client_interop.rs. The same paths as
# the other HTTP/2 upstreams there: GET /small.txt (a line of text), GET /big.bin (1 MiB of
# peers::pattern), GET /trailers (a line, then the trailer x-sum: 42; hypercorn sends
# trailers only to a request with te: trailers), POST to any path (the request body back),
# anything else 404. Every response says the protocol it went over in x-http-version.

BIG = bytes(i * 7 % 251 for i in range(1 << 20))


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    status, body = 404, b"not found\n"
    if scope["method"] == "POST":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        status, body = 200, b"".join(chunks)
    elif scope["path"] == "/small.txt":
        status, body = 200, b"hello from hypercorn\n"
    elif scope["path"] == "/big.bin":
        status, body = 200, BIG
    elif scope["path"] == "/trailers":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"x-http-version", scope["http_version"].encode())],
                "trailers": True,
            }
        )
        await send({"type": "http.response.body", "body": b"body\n"})
        await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"42")]})
        return
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"x-http-version", scope["http_version"].encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
