#!/usr/bin/env python3
"""Looks at the dashboard in a real browser (headless Chromium, driven over the DevTools
protocol) as a reader would, at phone, laptop and desktop sizes, and prints what it found as
JSON. It exits 1 when the page scrolls sideways, logs a console error, shows numbers that
differ from /api/results (votes, leader, popular-vote shares), lacks its landmarks, or describes a
chart without its figures.

    scripts/browser_check.py BASE_URL [CHROMIUM]

An open event stream never lets the page go idle, so the checks wait on conditions in the page
(with a deadline) rather than on the page being idle. Needs `websocket-client` (PyPI).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

VIEWPORTS = [(390, 844, True), (1024, 768, False), (1440, 1000, False)]
DEADLINE = 30.0


class Page:
    """One tab, attached through the browser's DevTools endpoint (flattened sessions)."""

    def __init__(self, browser_ws):
        self.ws = websocket.create_connection(browser_ws, timeout=DEADLINE)
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable", session=True)

    def call(self, method, params=None, session=False):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, what, expression):
        """Polls `expression` until it is truthy; until the new document has loaded it may
        throw (the old one is still there), which counts as not yet."""
        guarded = f"(() => {{ try {{ return {expression}; }} catch (e) {{ return false; }} }})()"
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            value = self.evaluate(guarded)
            if value:
                return value
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    def errors(self):
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", "")) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found


def main():
    base = sys.argv[1].rstrip("/")
    chromium = sys.argv[2] if len(sys.argv) > 2 else shutil.which("chromium") or "chromium"
    profile = tempfile.mkdtemp(prefix="tally-chromium-")
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    report = {"viewports": [], "failures": []}
    try:
        endpoint = None
        deadline = time.monotonic() + DEADLINE
        while endpoint is None and time.monotonic() < deadline:
            line = browser.stderr.readline()
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            endpoint = found.group(1) if found else None
        if endpoint is None:
            raise RuntimeError("chromium did not open its DevTools endpoint")
        results = json.load(urllib.request.urlopen(f"{base}/api/results", timeout=10))
        for width, height, mobile in VIEWPORTS:
            page = Page(endpoint)
            page.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, session=True)
            page.call("Page.navigate", {"url": base + "/"}, session=True)
            page.wait_for("the dashboard", "location.href.startsWith(%s) && document.readyState === 'complete'" % json.dumps(base))
            page.wait_for("results on the page", "document.getElementById('votes').textContent.replace(/,/g, '') === '%d'" % results["votes"])
            page.wait_for("every chart", "[...document.querySelectorAll('img[data-chart]')].every(i => i.complete && i.naturalWidth > 0)")
            seen = page.evaluate("""({
                scrollWidth: document.documentElement.scrollWidth,
                innerWidth: window.innerWidth,
                votes: document.getElementById('votes').textContent,
                leader: document.getElementById('leader').textContent,
                shares: document.getElementById('shares').textContent,
                title: document.title,
                landmarks: ['header', 'main', 'h1'].filter(tag => document.querySelector(tag)),
                alts: [...document.querySelectorAll('img[data-chart]')].map(i => i.alt),
            })""")
            seen["width"], seen["height"] = width, height
            seen["errors"] = page.errors()
            report["viewports"].append(seen)
            # The page must fit the screen: a wider page widens a phone's layout viewport too.
            if seen["scrollWidth"] > width or seen["innerWidth"] > width:
                report["failures"].append(f"{width}x{height}: scrolls sideways (page {seen['scrollWidth']} px wide)")
            if seen["errors"]:
                report["failures"].append(f"{width}x{height}: console errors {seen['errors']}")
            shares = " · ".join(f"{c['name']} {c['share'] * 100:.1f}%" for c in results["candidates"][:3])
            if seen["shares"] != (shares or "—"):
                report["failures"].append(f"{width}x{height}: shares {seen['shares']!r}, /api/results {shares!r}")
            if seen["landmarks"] != ["header", "main", "h1"]:
                report["failures"].append(f"{width}x{height}: landmarks {seen['landmarks']}")
            top = results["candidates"][0]["name"] if results["candidates"] else None
            if top and not all(top in alt for alt in seen["alts"]):
                report["failures"].append(f"{width}x{height}: chart descriptions without the figures: {seen['alts']}")
            if seen["leader"] != (results.get("leader") or "—"):
                report["failures"].append(f"{width}x{height}: leader {seen['leader']!r}, /api/results {results.get('leader')!r}")
            page.ws.close()
    except Exception as error:  # a failed check, reported as one
        report["failures"].append(f"{type(error).__name__}: {error}")
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["failures"] else 0)


if __name__ == "__main__":
    main()
