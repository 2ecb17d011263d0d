"""A fixed-response HTTP/1.1 server on raw asyncio: the load generator's ceiling.

Answers every request on a keep-alive connection with the same small JSON body, doing no
parsing beyond finding the end of each request. Whatever req/s the load generator reaches
here is the most it can report for any real server.
"""

import asyncio

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

BODY = b'{"model_version":"1.0.0","predictions":[0]}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            i = head.find(b"content-length:")
            length = (
                int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else len(head)])
                if i >= 0
                else 0
            )
            if len(self.buf) < end + 4 + length:
                return
            del self.buf[: end + 4 + length]
            self.transport.write(RESPONSE)


async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    if uvloop is not None:
        uvloop.install()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
