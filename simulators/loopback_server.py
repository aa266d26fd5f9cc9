"""Serving an aiohttp app on a loopback port: what both simulators share."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """An aiohttp app served on host:port (port 0: any free one) until stop()."""

    def __init__(self) -> None:
        """Create the app; subclasses add their routes to `self.app`."""
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        """Return the base URL (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve; return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # noqa: SLF001 - the bound port when port=0
        assert server is not None
        self.host = host
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.url

    async def serve_on_another_port(self) -> int:
        """Serve the same app on one more port of the same host; return that port."""
        assert self._runner is not None, "start() first"
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server  # noqa: SLF001 - the bound port
        assert server is not None
        return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def stop(self) -> None:
        """Stop serving (safe to repeat)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
