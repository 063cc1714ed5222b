"""A limit on the requests of one ASGI process inside Django at once (aimlweb/asgi.py)."""

import asyncio


class ViewGate:
    """At most `limit` requests of this process inside Django at once; the others wait their turn.

    Django runs each sync view in a thread of its own under ASGI, so 50 requests at once would be
    50 threads taking turns on one interpreter lock, each finishing late. Waiting here costs
    nothing (the event loop holds the request), and a request leaves the gate as soon as its
    response starts: an open event stream or a long download holds no place.
    """

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit
        self.semaphore = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.limit <= 0:
            return await self.app(scope, receive, send)
        if self.semaphore is None:
            self.semaphore = asyncio.Semaphore(self.limit)
        await self.semaphore.acquire()
        inside = True

        async def leave_on_start(message):
            nonlocal inside
            if inside and message["type"] == "http.response.start":
                inside = False
                self.semaphore.release()
            await send(message)

        try:
            await self.app(scope, receive, leave_on_start)
        finally:
            if inside:
                self.semaphore.release()
