"""A browser, as far as the server can tell: sign in, send a prompt, follow the answer as htmx does.

What a page does (templates/base.html, conversations/_turn.html, htmx 2):

- Sending the composer form is a plain POST (csrf token, `client_token`,
  `prompt`); the 302 leads to the conversation page, which the browser loads.
- Each active turn on that page is an ``<article ... hx-get=".../live/?v=..."
  hx-swap="outerHTML">`` that is fetched again on a timer, in one of two ways
  (the page says which, so both are emulated):
  * ``hx-trigger="live"`` plus ``<body data-live-poll-ms data-live-poll-hidden-ms>``
    (static/js/turns.js): one page timer, armed at DOMContentLoaded and re-armed
    right after each firing (fixed rate, whatever the answers), triggers every
    active turn; while the tab is hidden it uses the hidden interval, and a
    visibility change re-arms it.
  * ``hx-trigger="every Nms"``: htmx arms a timer per element when it is
    processed (page load, or the swap that inserted it), re-armed every N ms
    after issuing each request.
  A firing while the element's previous request is still in flight queues one
  request (htmx's default queue "last"), sent as soon as the previous returns.
- 204 changes nothing. 200 replaces the element with the fragment (with its own
  `?v=`). A finished turn has no hx-trigger and no data-active: polling stops,
  and its `data-status` is the outcome the user sees.
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

ACTIVE = ("waiting", "queued", "in_progress")  # not finished: queued (waiting), starting, running
EVERY = re.compile(r"every\s+(\d+(?:\.\d+)?)(ms|s)?")


class PageParser(HTMLParser):
    """Form fields and turn articles of a page or fragment."""

    def __init__(self):
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.turns: list[dict[str, str]] = []
        self.conversation_links: list[str] = []
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = attrs
        if tag == "a" and "conversation-link" in attrs.get("class", "").split():
            self.conversation_links.append(attrs.get("href", ""))
        if tag == "input" and attrs.get("name") and attrs["name"] not in self.inputs:
            self.inputs[attrs["name"]] = attrs.get("value", "")
        elif tag == "article" and "turn" in attrs.get("class", "").split():
            self.turns.append(attrs)


# The start tags PageParser reads (quoted attribute values may hold ">"), and what holds no such tag.
WANTED_TAGS = re.compile(r"""<(?:body|a|input|article)\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
NOT_MARKUP = re.compile(r"<!--.*?-->|<script\b.*?</script\s*>|<style\b.*?</style\s*>", re.IGNORECASE | re.DOTALL)


def parse(html: str) -> PageParser:
    """PageParser's fields of a page: only the start tags it reads are fed to it.

    The client runs on the server's machine, so its CPU is taken from the server's: a whole page through
    html.parser cost it about as much as the server spent drawing it (benchmarks.push: 0.16 of a core while
    sending). Same result as feeding the whole page (tests/ops/test_bench_client.py)."""
    parser = PageParser()
    parser.feed("".join(WANTED_TAGS.findall(NOT_MARKUP.sub("", html))))
    return parser


def poll_interval(turn: dict[str, str]) -> float | None:
    """Seconds between polls from hx-trigger, or None when the turn does not poll."""
    match = EVERY.search(turn.get("hx-trigger", ""))
    if not match:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2) in (None, "ms") else value


def is_finished(turn: dict[str, str]) -> bool:
    return turn.get("data-status") not in ACTIVE and not turn.get("hx-trigger")


@dataclass
class Timing:
    start: float  # wall clock (time.time()), comparable with the database's timestamps
    seconds: float
    status: int


@dataclass
class NewTurn:
    turn_id: str
    conversation_url: str
    post_start: float
    redirect_at: float
    page_at: float
    turn: dict[str, str]
    html: str
    timings: list[Timing]  # POST, then the page load after the redirect


@dataclass
class Followed:
    visible_at: float | None  # when the finished fragment (or page) arrived
    status: str  # data-status the user finally saw ("" when never finished)
    fragment: str
    polls: list[Timing] = field(default_factory=list)
    changed: int = 0  # 200 answers (swaps) before the finished one
    errors: int = 0


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    text: str


class Browser:
    """One browser tab: one kept-alive connection, the user's cookies.

    Plain http.client rather than requests: a few hundred tabs run in this
    process on the same two cores as the server, so each request should cost
    the client as little CPU as possible.
    """

    def __init__(self, base_url: str, cookies: dict[str, str] | None = None):
        self.base_url = base_url
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.cookies: dict[str, str] = dict(cookies or {})
        self.conn: http.client.HTTPConnection | None = None

    def tab(self) -> Browser:
        """A new tab of the same browser (same cookies, its own connection)."""
        return Browser(self.base_url, self.cookies)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Response:
        headers = {
            "Host": f"{self.host}:{self.port}",
            "User-Agent": "aimlweb-bench/1.0 (htmx emulation)",
            "Accept": "text/html,application/xhtml+xml,*/*",
            **headers,
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed a kept-alive connection: a browser re-sends on a new
                # one, but only if nothing can have been processed (never a POST).
                self.close()
                if fresh or attempt == 2 or method != "GET":
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close" or resp.will_close:
                self.close()
            break
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                if "max-age=0" in value.lower() or not cookie_value:
                    self.cookies.pop(key.strip(), None)
                else:
                    self.cookies[key.strip()] = cookie_value
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data.decode("utf-8", "replace"))

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[Response, Timing]:
        start = time.time()
        t0 = time.perf_counter()
        resp = self._request("GET", path, None, headers or {})
        return resp, Timing(start, time.perf_counter() - t0, resp.status_code)

    def post(self, path: str, data: dict) -> tuple[Response, Timing]:
        start = time.time()
        t0 = time.perf_counter()
        headers = {
            "Origin": self.base_url,
            "Referer": self.base_url + path,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        resp = self._request("POST", path, urlencode(data).encode(), headers)
        return resp, Timing(start, time.perf_counter() - t0, resp.status_code)

    def login(self, username: str, password: str) -> None:
        resp, _ = self.get("/login/")
        token = parse(resp.text).inputs["csrfmiddlewaretoken"]
        resp, _ = self.post(
            "/login/", {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": ""}
        )
        if resp.status_code != 302:
            raise RuntimeError(f"login of {username} failed: HTTP {resp.status_code}")

    def send_from_home(
        self, prompt: str | Callable[[], str], errors: list[str], label: str
    ) -> tuple[NewTurn, Timing] | None:
        """Load the home page and send `prompt` (or what `prompt()` says once the page is loaded) with its
        composer, as someone opening a tab: the new turn and the home page's timing; None when that failed
        (`label: why` added to `errors`)."""
        try:
            home, timing = self.get("/")
            return self.send_prompt(prompt() if callable(prompt) else prompt, home.text), timing
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{label}: {exc}")
            return None

    def send_prompt(self, prompt: str, form_html: str, path: str = "/") -> NewTurn:
        """Submit the composer of an already loaded page, then load the page it redirects to."""
        fields = parse(form_html).inputs
        data = {
            "csrfmiddlewaretoken": fields["csrfmiddlewaretoken"],
            "client_token": fields["client_token"],
            "prompt": prompt,
        }
        resp, post = self.post(path, data)
        if resp.status_code != 302:
            raise RuntimeError(f"POST {path} answered {resp.status_code}, not a redirect")
        location = resp.headers["location"]
        redirect_at = post.start + post.seconds
        page, load = self.get(location)
        page_at = load.start + load.seconds
        if page.status_code != 200:
            raise RuntimeError(f"GET {location} answered {page.status_code}")
        turns = parse(page.text).turns
        if not turns:
            raise RuntimeError(f"no turn on {location}")
        turn = turns[-1]
        return NewTurn(
            turn_id=turn["id"].removeprefix("turn-"),
            conversation_url=location,
            post_start=post.start,
            redirect_at=redirect_at,
            page_at=page_at,
            turn=turn,
            html=page.text,
            timings=[post, load],
        )

    def follow(
        self, new: NewTurn, deadline: float, stop: threading.Event | None = None, tab: TabState | None = None
    ) -> Followed:
        """Poll the turn's live endpoint as the page would, until it shows a finished turn.

        Two ways a page may drive the poll (see the module docstring); which one
        is read from the page itself:
        - page timer: ``<body data-live-poll-ms data-live-poll-hidden-ms>`` and
          turns with ``hx-trigger="live"``; turns.js fires every N ms (the hidden
          interval while the tab is hidden, re-armed when visibility changes),
          whatever was swapped meanwhile.
        - element timer: ``hx-trigger="every N ms"`` on the turn; a swap
          brings a new element with a new timer.
        """
        turn = new.turn
        tab = tab or TabState()
        if is_finished(turn):
            return Followed(new.page_at, turn.get("data-status", ""), new.html)
        page = parse(new.html)
        csrf = page.inputs.get("csrfmiddlewaretoken", "")
        headers = {
            "HX-Request": "true",
            "HX-Trigger": turn["id"],
            "HX-Target": turn["id"],
            "HX-Current-URL": self.base_url + new.conversation_url,
            "X-CSRFToken": csrf,
            "Accept": "*/*",
        }
        element_timer = poll_interval(turn)
        visible_s = int(page.body.get("data-live-poll-ms") or 1000) / 1000
        hidden_s = int(page.body.get("data-live-poll-hidden-ms") or page.body.get("data-live-poll-ms") or 1000) / 1000

        def interval() -> float:
            if element_timer:
                return element_timer
            return hidden_s if tab.hidden else visible_s

        result = Followed(None, turn.get("data-status", ""), "")
        url = turn["hx-get"]
        seen_change = tab.changed_at
        grid = new.page_at + interval()  # the timer armed when the page loaded
        issue_at = grid
        while time.time() < deadline and not (stop and stop.is_set()):
            delay = issue_at - time.time()
            if delay > 0:
                # Sleep until the timer fires, or until the tab is hidden/shown.
                tab.wake.wait(min(delay, 0.5))
                tab.wake.clear()
                if tab.changed_at != seen_change and not element_timer:
                    # turns.js: clearTimeout, then re-arm with the new visibility's interval.
                    seen_change = tab.changed_at
                    grid = issue_at = tab.changed_at + interval()
                continue
            try:
                resp, timing = self.get(url, headers=headers)
            except (OSError, http.client.HTTPException):
                result.errors += 1
                resp, timing = None, None
            done = time.time()
            if timing:
                result.polls.append(timing)
            started = timing.start if timing else done
            if resp is not None and resp.status_code == 200:
                fragment = parse(resp.text).turns
                if fragment:
                    turn = fragment[0]
                    result.status = turn.get("data-status", "")
                    if is_finished(turn):
                        result.visible_at = done
                        result.fragment = resp.text
                        return result
                    result.changed += 1
                    url = turn["hx-get"]
                    headers["HX-Trigger"] = headers["HX-Target"] = turn["id"]
                    if element_timer:
                        # Swapped in: the new element arms its own timer.
                        element_timer = poll_interval(turn) or element_timer
                        grid = issue_at = done + element_timer
                        continue
            elif resp is not None and resp.status_code != 204:
                result.errors += 1
            if tab.changed_at != seen_change and not element_timer:
                seen_change = tab.changed_at
                grid = tab.changed_at + interval()
            # The timer kept its rhythm; a tick during the request queued one more (htmx "last").
            while grid <= started:
                grid += interval()
            if grid <= done:
                while grid <= done:
                    grid += interval()
                issue_at = done
            else:
                issue_at = grid
        return result


@dataclass
class TabState:
    """Whether a tab is hidden (another tab of the same browser is in front)."""

    hidden: bool = False
    changed_at: float = 0.0
    wake: threading.Event = field(default_factory=threading.Event)

    def hide(self) -> None:
        self.hidden = True
        self.changed_at = time.time()
        self.wake.set()


def signed_in_browsers(base_url: str, users: int, password: str) -> list[Browser]:
    """One browser per user of dbsetup (bench0, bench1, ...), each signed in."""
    browsers = [Browser(base_url) for _ in range(users)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda ub: ub[1].login(f"bench{ub[0]}", password), enumerate(browsers)))
    return browsers


def browse(base_url: str, cookies: dict[str, str], stop, until: float, pause: float, results, go=None) -> None:
    """Someone using the app meanwhile: home page, then one of their conversations, and so on.

    Runs in its own process (multiprocessing), so its timings do not include
    waiting for the GIL behind hundreds of polling tabs. Puts a list of
    (kind, Timing) on `results` when `stop` is set or at `until`. With `go`
    (an event), loads pages only while it is set.
    """
    import random

    tab = Browser(base_url, cookies)
    loads: list[tuple[str, Timing]] = []
    links: list[str] = []
    k = 0
    while not stop.is_set() and time.time() < until:
        if go is not None and not go.wait(0.1):
            continue
        path = "/" if k % 2 == 0 or not links else random.choice(links)
        kind = "/" if path == "/" else "/c/<id>/"
        try:
            resp, timing = tab.get(path)
            if path == "/" and resp.status_code == 200:
                links = parse(resp.text).conversation_links
        except (OSError, http.client.HTTPException):
            timing = Timing(time.time(), float("nan"), -1)
            tab.close()
        loads.append((kind, timing))
        k += 1
        stop.wait(pause)
    results.put(loads)


class Browsing:
    """Someone using the app meanwhile (`browse`) in a process of its own, from start() to loads().

    `asked`: pages are loaded only while `go` is set (to measure windows with and without them).
    """

    def __init__(self, pause: float, asked: bool = False):
        self._mp = multiprocessing.get_context("spawn")
        self.pause = pause
        self._stop, self._results = self._mp.Event(), self._mp.Queue()
        self.go = self._mp.Event() if asked else None
        self.process = None

    def start(self, base_url: str, cookies: dict[str, str], until: float = math.inf) -> int:
        """Start browsing as the owner of `cookies` (until `until` at the latest); the process id."""
        self.process = self._mp.Process(
            target=browse,
            args=(base_url, cookies, self._stop, until, self.pause, self._results, self.go),
            daemon=True,
        )
        self.process.start()
        return self.process.pid

    def loads(self) -> list[tuple[str, Timing]]:
        """Stop browsing: every page load, as (kind, Timing)."""
        self._stop.set()
        loads = self._results.get(timeout=30)
        self.process.join(timeout=10)
        return loads

    def end(self) -> None:
        """Stopped for good, whatever happened (a run's `finally`)."""
        self._stop.set()
        if self.process is not None:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
