"""A minimal Chrome DevTools Protocol client for tests: Debian's headless
Chromium driven over --remote-debugging-pipe (JSON messages separated by NUL on
file descriptors 3 and 4), so no browser download, no port and no client
library. Enough to load a page, click like a user and take a screenshot.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--remote-debugging-pipe"]
TIMEOUT_S = 30


class Chromium:
    def __init__(self, user_data_dir: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def to_fds_3_and_4() -> None:  # in the child, before exec; via fds >= 10 so neither overwrites the other
            read_end, write_end = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w))
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
                                     preexec_fn=to_fds_3_and_4, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def close(self) -> None:
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.proc.terminate()
        self.proc.wait(timeout=10)

    # -- protocol -------------------------------------------------------------

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._from_browser, 1 << 16) if ready else b""
            if not chunk:
                raise AssertionError("chromium did not answer in time" if not ready else "chromium went away")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, *, page: bool = False, **params) -> dict:
        """Send one command (to the attached page when `page`) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if page:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                return answer["result"]
            self._events.append(answer)

    def wait_for(self, event: str) -> dict:
        """The next (not yet consumed) event of that name."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for i, seen in enumerate(self._events):
                if seen.get("method") == event:
                    return self._events.pop(i)["params"]
            self._events.append(self._receive(deadline))

    def events(self, event: str) -> list[dict]:
        """Every event of that name received so far (and not yet consumed), consumed now."""
        found = [e["params"] for e in self._events if e.get("method") == event]
        self._events = [e for e in self._events if e.get("method") != event]
        return found

    # -- what a user does ------------------------------------------------------

    def open(self, url: str) -> None:
        self.call("Page.navigate", page=True, url=url)
        self.wait_for("Page.loadEventFired")

    def click(self, selector: str) -> None:
        """A real left click in the middle of the element (as a mouse would, no script involved)."""
        root = self.call("DOM.getDocument", page=True)["root"]["nodeId"]
        node = self.call("DOM.querySelector", page=True, nodeId=root, selector=selector)["nodeId"]
        assert node, f"no element matches {selector!r}"
        quad = self.call("DOM.getBoxModel", page=True, nodeId=node)["model"]["content"]
        x, y = sum(quad[0::2]) / 4, sum(quad[1::2]) / 4
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", page=True, type=kind, x=x, y=y, button="left", clickCount=1)

    def checkboxes(self) -> dict[str, bool]:
        """{accessible name: checked} of every checkbox, as assistive technology sees the page."""
        nodes = self.call("Accessibility.getFullAXTree", page=True)["nodes"]
        return {n["name"]["value"]: any(p["name"] == "checked" and p["value"]["value"] == "true"
                                        for p in n.get("properties", []))
                for n in nodes if n.get("role", {}).get("value") == "checkbox"}
