"""aimlweb/gate.py: the gate that keeps a process from running too many Django views at once."""

import asyncio

from aimlweb.gate import ViewGate


class SlowApp:
    """An ASGI app whose requests wait for the test to let them answer, or stream forever."""

    def __init__(self):
        self.inside = 0
        self.most_inside = 0
        self.release = asyncio.Event()

    async def __call__(self, scope, receive, send):
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            if scope["path"] == "/events/":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                self.inside -= 1
                await asyncio.Event().wait()  # an open stream: never ends by itself
            await self.release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            if scope["path"] != "/events/":
                self.inside -= 1


async def request(app, path):
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    await app({"type": "http", "path": path}, receive, send)
    return sent


def test_at_most_n_views_run_at_once_and_an_open_stream_holds_no_place():
    async def scenario():
        inner = SlowApp()
        gate = ViewGate(inner, limit=2)
        streams = [asyncio.create_task(request(gate, "/events/")) for _ in range(3)]
        pages = [asyncio.create_task(request(gate, "/c/1/")) for _ in range(5)]
        for _ in range(50):
            await asyncio.sleep(0)
        # Three streams opened although the gate holds two: each left it when its response started.
        assert gate.semaphore._value == 0 and inner.inside == 2
        inner.release.set()
        answers = await asyncio.gather(*pages)
        assert inner.most_inside == 2
        assert all(a[-1]["body"] == b"ok" for a in answers)
        for stream in streams:
            assert not stream.done()
            stream.cancel()

    asyncio.run(scenario())


def test_a_failing_view_gives_its_place_back():
    async def boom(scope, receive, send):
        raise RuntimeError("view failed")

    async def scenario():
        gate = ViewGate(boom, limit=1)
        for _ in range(3):
            try:
                await request(gate, "/")
            except RuntimeError:
                pass
        assert gate.semaphore._value == 1

    asyncio.run(scenario())


def test_no_limit_is_no_gate():
    async def scenario():
        inner = SlowApp()
        gate = ViewGate(inner, limit=0)
        pages = [asyncio.create_task(request(gate, "/")) for _ in range(5)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert inner.inside == 5
        inner.release.set()
        await asyncio.gather(*pages)

    asyncio.run(scenario())
