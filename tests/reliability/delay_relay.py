"""A TCP relay that holds every chunk for a fixed time in each direction: the test network's delay (netns.py).

    python delay_relay.py <listen address> <listen port> <target address> <target port> <milliseconds>

It prints "listening" once it accepts connections, and runs until it is killed.
"""

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Chunks leave in the order they came, each `delay` seconds after it arrived."""
    queue: asyncio.Queue = asyncio.Queue()

    async def send() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, chunk = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
        writer.close()

    sender = asyncio.ensure_future(send())
    loop = asyncio.get_running_loop()
    try:
        while True:
            chunk = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, chunk))
            if not chunk:
                break
    except ConnectionError:
        queue.put_nowait((loop.time(), b""))
    await sender


async def main(listen_host: str, listen_port: int, target_host: str, target_port: int, milliseconds: int) -> None:
    delay = milliseconds / 1000.0

    async def serve(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer, delay), _pipe(server_reader, client_writer, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(serve, listen_host, listen_port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    host, port, target, target_port, ms = sys.argv[1:6]
    asyncio.run(main(host, int(port), target, int(target_port), int(ms)))
