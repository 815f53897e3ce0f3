"""A TCP proxy on loopback that can hold back the server's bytes: a slow dependency on demand."""

from __future__ import annotations

import asyncio
import threading

from suite.supervisor import free_address


class DelayProxy:
    """Forwards `listen` → `upstream`; each chunk from upstream waits `delay_s` first,
    and none passes at all while the proxy is stalled."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.address = free_address()
        self.delay_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        self._started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _shutdown(self) -> None:
        """Closes the listener and every open connection while the loop still runs."""
        self._server.close()
        current = asyncio.current_task()
        pipes = [task for task in asyncio.all_tasks() if task is not current]
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)

    def stall(self) -> None:
        """Holds every byte from upstream until `resume()`: a dependency that hangs."""
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._flowing.set()
        host, port = self.address.rsplit(":", 1)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, host, int(port))
        )
        self._started.set()
        self._loop.run_forever()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        host, port = self.upstream.rsplit(":", 1)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer, delayed=False),
            self._pipe(upstream_reader, client_writer, delayed=True),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if delayed:
                    await self._flowing.wait()
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
