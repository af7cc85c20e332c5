#!/usr/bin/env python3
"""Looks at the dashboard in a real browser (headless Chromium, driven over the DevTools
protocol) as a reader would, and prints what it found as JSON; exits 1 on any failure.

    scripts/browser_check.py BASE_URL [CHROMIUM] [final|live|traffic|shots|counties:CODE]

final (a job whose results are complete): at 390, 1024 and 1440 px wide (and 360 and 2560),
the page must not scroll sideways or log a console error; its cards, heading and table must
say what /api/results does, and every chart must count the votes the card does (one epoch per
view); chart text must be at least 12 px as shown and inside its chart, every candidate must
be in every legend, and every text of the page must meet WCAG AA contrast; a view of
unchanged results must fetch no chart again. Pointing at a state's tile must show its tooltip,
a click must open its panel at #CODE, the address must reopen it, Enter on a focused state
must open that one, the table must sort, and a panel opened while a view is in flight must get
its charts. With TALLY_SCREENSHOTS=DIR, each size is saved
there.

live (a job still counting): each new view must reach the page within 2 s of its results (and,
with a baseline, the projections show: the outlook chart, the map's key, a projected state's
panel with its estimate); put behind another tab, the page must close its event stream and draw nothing, and brought back,
draw again.

traffic (a job still counting): what one open tab downloads over TALLY_TRAFFIC_SECONDS (60),
by kind (the event stream, charts, the page and API), measured, not checked.

counties:CODE (a job whose records name counties): the state's panel, opened from its
address, must map every county /api/results?state=CODE lists (one hotspot per county, the
largest one's tooltip naming it) and list them in its table, most votes first, sorting by name
at a click on the County header.

shots: full-page screenshots at 1440×1000 and 390×844 into TALLY_SCREENSHOTS (the docs'
pictures), nothing checked.

An open event stream never lets the page go idle, so the checks wait on conditions in the page
(with a deadline) rather than on the page being idle. Needs `websocket-client` (PyPI).
"""
import base64
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

VIEWPORTS = [(390, 844, True), (1024, 768, False), (1440, 1000, False), (360, 740, True), (2560, 1440, False)]
DEADLINE = 30.0


class Page:
    """One tab, attached through the browser's DevTools endpoint (flattened sessions)."""

    def __init__(self, browser_ws):
        self.ws = websocket.create_connection(browser_ws, timeout=DEADLINE)
        self.next_id = 0
        self.events = []
        self.target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
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

    def close(self):
        """Closes the tab (so the next one is the browser's only, focused tab) and the connection."""
        try:
            self.call("Target.closeTarget", {"targetId": self.target})
        finally:
            self.ws.close()

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


CHART_CHECK = """(() => {
    const failures = [];
    const names = %s;
    for (const figure of document.querySelectorAll('main figure[data-chart]')) {
        const svg = figure.querySelector('svg');
        const chart = figure.dataset.chart;
        if (!svg) { failures.push(chart + ': not drawn'); continue; }
        const box = svg.getBoundingClientRect();
        const texts = [...svg.querySelectorAll('text')];
        for (const text of texts) {
            // Size as shown: the font size times the drawing's scale on the screen.
            const px = parseFloat(getComputedStyle(text).fontSize) * svg.getScreenCTM().a;
            const at = text.getBoundingClientRect();
            if (px < 11.9) failures.push(chart + ': ' + JSON.stringify(text.textContent.trim()) + ' is ' + px.toFixed(1) + ' px');
            if (at.left < box.left - 1 || at.right > box.right + 1)
                failures.push(chart + ': ' + JSON.stringify(text.textContent.trim()) + ' overflows its chart');
        }
        const words = texts.map(t => t.textContent.trim());
        if (['gender', 'age', 'states', 'timeline', 'candidates'].includes(chart))
            for (const name of names)
                if (!words.some(w => w === name || w.includes(name))) failures.push(chart + ': no ' + name + ' in its legend');
        const desc = svg.querySelector('desc');
        if (!desc || !desc.textContent) failures.push(chart + ': no description');
    }
    return failures;
})()"""


CONTRAST_CHECK = """(() => {
    // WCAG AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold), against the first
    // opaque background behind the text.
    const rgb = c => (c.match(/[0-9.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const failures = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    while (walker.nextNode()) {
        const element = walker.currentNode.parentElement;
        if (!walker.currentNode.textContent.trim() || seen.has(element) || element.closest('svg, dialog:not([open]), [hidden], .visually-hidden')) continue;
        seen.add(element);
        const style = getComputedStyle(element);
        let back = element, background = null;
        while (back) {
            const c = rgb(getComputedStyle(back).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] === 1)) { background = c.slice(0, 3); break; }
            back = back.parentElement;
        }
        background = background || [255, 255, 255];
        const [l1, l2] = [lum(rgb(style.color)), lum(background)].sort((a, b) => b - a);
        const ratio = (l1 + 0.05) / (l2 + 0.05);
        const px = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
        const needed = px >= 24 || (bold && px >= 18.66) ? 3 : 4.5;
        if (ratio < needed) failures.push('contrast ' + ratio.toFixed(2) + ':1 for ' + JSON.stringify(element.textContent.trim().slice(0, 40)));
    }
    return failures;
})()"""


def check_viewport(page, base, results, width, height, mobile, shots):
    """Loads the dashboard at one size and returns what it saw and what failed."""
    failures = []
    page.call("Emulation.setDeviceMetricsOverride",
              {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, session=True)
    page.call("Page.navigate", {"url": base + "/"}, session=True)
    page.wait_for("the dashboard", "location.href.startsWith(%s) && document.readyState === 'complete'" % json.dumps(base))
    page.wait_for("results on the page", "document.getElementById('votes').textContent.replace(/,/g, '') === '%d'" % results["votes"])
    page.wait_for("every chart", "[...document.querySelectorAll('main figure[data-chart]')].every(f => f.querySelector('svg'))")
    seen = page.evaluate("""({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        votes: document.getElementById('votes').textContent,
        leader: document.getElementById('leader').textContent,
        shares: document.getElementById('shares').textContent,
        election: document.getElementById('election').textContent,
        title: document.title,
        banner: (b => b && !b.hidden && b.offsetHeight > 0 ? b.textContent : null)(document.getElementById('test-banner')),
        landmarks: ['header', 'main', 'h1'].filter(tag => document.querySelector(tag)),
        rows: document.querySelectorAll('#states tr').length,
        chartVotes: [...document.querySelectorAll('main figure[data-chart] desc')].map(d => d.textContent)
            .filter(t => /^[0-9,]+ votes counted/.test(t)).map(t => t.match(/^([0-9,]+) votes counted/)[1]),
    })""")
    seen["width"], seen["height"] = width, height
    where = f"{width}x{height}"
    # The page must fit the screen: a wider page widens a phone's layout viewport too.
    if seen["scrollWidth"] > width or seen["innerWidth"] > width:
        failures.append(f"{where}: scrolls sideways (page {seen['scrollWidth']} px wide)")
    shares = " · ".join(f"{c['name']} {c['share'] * 100:.1f}%" for c in results["candidates"][:3])
    if seen["shares"] != (shares or "—"):
        failures.append(f"{where}: shares {seen['shares']!r}, /api/results {shares!r}")
    if seen["landmarks"] != ["header", "main", "h1"]:
        failures.append(f"{where}: landmarks {seen['landmarks']}")
    expected_leader = results.get("winner") or results.get("leader") or "—"
    if seen["leader"] != expected_leader:
        failures.append(f"{where}: leader {seen['leader']!r}, /api/results {expected_leader!r}")
    if results.get("election") and seen["election"] != results["election"]:
        failures.append(f"{where}: heading {seen['election']!r}, not the election {results['election']!r}")
    # A rehearsal says so, visibly and in the tab's title; a live count does not.
    is_test = bool(results.get("test"))
    if is_test != (seen["banner"] is not None and "TEST" in seen["banner"]):
        failures.append(f"{where}: test {is_test}, banner {seen['banner']!r}")
    if is_test != seen["title"].startswith("TEST"):
        failures.append(f"{where}: test {is_test}, title {seen['title']!r}")
    if seen["rows"] != len(results["states"]):
        failures.append(f"{where}: the table has {seen['rows']} rows")
    # One view, one epoch: every chart that counts votes counts what the card does.
    if any(v != seen["votes"] for v in seen["chartVotes"]):
        failures.append(f"{where}: charts count {seen['chartVotes']}, the card {seen['votes']}")
    names = [c["name"] for c in results["candidates"][:8]]
    failures += [f"{where}: {f}" for f in page.evaluate(CHART_CHECK % json.dumps(names))]
    failures += [f"{where}: {f}" for f in page.evaluate(CONTRAST_CHECK)]
    # Only changed charts move: a view of the same (final) results fetches no chart again.
    page.evaluate("window.tallyViews.length = 0; pump.force = true; pump()")
    again = page.wait_for("a second view", "window.tallyViews.length > 0 && window.tallyViews[0]")
    if again["charts"] != 0:
        failures.append(f"{where}: a view of unchanged results redrew {again['charts']} charts")
    shot = page.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
    if shots:
        with open(os.path.join(shots, f"dashboard-{width}x{height}.png"), "wb") as out:
            out.write(base64.b64decode(shot["data"]))
    return seen, failures


def check_panel(page, base, results):
    """A click on a state's tile opens its panel, and its address keeps it."""
    failures = []
    code = max(results["states"], key=lambda c: results["states"][c]["electoral_votes"])
    name = results["states"][code]["name"]
    page.call("Emulation.setDeviceMetricsOverride",
              {"width": 1024, "height": 768, "deviceScaleFactor": 1, "mobile": False}, session=True)
    page.call("Page.navigate", {"url": base + "/"}, session=True)
    page.wait_for("the states map", "document.querySelector('[data-state=%s]') !== null" % json.dumps(code))
    page.evaluate("document.querySelector('[data-state=%s]').scrollIntoView({block: 'center'})" % json.dumps(code))
    box = page.evaluate("(() => { const b = document.querySelector('[data-state=%s]').getBoundingClientRect();"
                        " return [b.left + b.width / 2, b.top + b.height / 2]; })()" % json.dumps(code))
    page.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]}, session=True)
    # Pointing at a tile shows its tooltip, which names the state.
    try:
        page.wait_for("a tooltip naming " + name, "!document.getElementById('tip').hidden && "
                      "document.getElementById('tip').textContent.includes(%s)" % json.dumps(name))
    except RuntimeError:
        tip = page.evaluate("document.getElementById('tip').textContent")
        failures.append(f"panel: the tooltip says {tip!r}, not {name}")
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1}, session=True)
    page.wait_for("the panel of " + name, "document.getElementById('panel').open && "
                  "document.getElementById('panel-title').textContent.startsWith(%s)" % json.dumps(name))
    if page.evaluate("location.hash") != "#" + code:
        failures.append(f"panel: the address is {page.evaluate('location.hash')!r}, not #{code}")
    page.wait_for("the panel's charts", "[...document.querySelectorAll('#panel figure')].every(f => f.querySelector('svg'))")
    page.call("Page.navigate", {"url": base + "/#" + code}, session=True)
    page.wait_for("the panel from its address", "document.getElementById('panel').open && "
                  "document.getElementById('panel-title').textContent.startsWith(%s)" % json.dumps(name))
    # The keyboard reaches a state and opens it with Enter.
    page.evaluate("document.getElementById('panel').close()")
    page.wait_for("the closed panel to leave the address", "location.hash === ''")
    other = "TX" if code != "TX" else "NY"
    page.call("Page.bringToFront", session=True)
    page.evaluate("document.querySelector('[data-state=%s]').focus()" % json.dumps(other))
    page.wait_for("the keyboard's focus on " + other, "document.hasFocus() && document.activeElement && "
                  "document.activeElement.dataset.state === %s" % json.dumps(other))
    for kind in ("keyDown", "keyUp"):
        page.call("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}, session=True)
    other_name = results["states"][other]["name"]
    page.wait_for("the panel of " + other_name + " from the keyboard", "document.getElementById('panel').open && "
                  "document.getElementById('panel-title').textContent.startsWith(%s) && location.hash === '#%s'" % (json.dumps(other_name), other))
    # The table sorts by a column at a click.
    page.evaluate("document.getElementById('panel').close()")
    page.evaluate("document.querySelector('th[data-sort=electoral_votes] button').click()")
    first = page.evaluate("document.querySelector('#states tr td').textContent")
    if first != name:
        failures.append(f"table: sorted by electoral votes, most first, it starts with {first!r}, not {name!r}")
    # A panel opened while a view is in flight gets its charts when that view lands, even with
    # no epoch to come (the count has ended).
    page.evaluate("document.getElementById('panel').close()")
    page.wait_for("the closed panel to leave the address", "location.hash === ''")
    page.evaluate("lastView = 0; pump.force = true; pump(); if (!busy) throw new Error('no view in flight'); openPanel('NY')")
    page.wait_for("the charts of a panel opened during a view",
                  "document.getElementById('panel').open && "
                  "[...document.querySelectorAll('#panel figure')].every(f => f.querySelector('svg'))")
    return failures


def check_counties(page, base, code):
    """A state's panel maps its counties (one shape per unit, each with a tooltip naming it) and
    lists them in a table that sorts."""
    failures = []
    document = json.load(urllib.request.urlopen(f"{base}/api/results?state={code}", timeout=10))
    units = document["units"]
    if not units:
        return [f"counties: {code} has no counties in /api/results"]
    page.call("Emulation.setDeviceMetricsOverride",
              {"width": 1024, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=True)
    page.call("Page.navigate", {"url": base + "/#" + code}, session=True)
    page.wait_for("the county map", "document.getElementById('panel').open && "
                  "document.querySelector('#panel figure[data-chart=counties] [data-key^=\"county-\"]') !== null")
    page.wait_for("the county table", "document.querySelectorAll('#counties tr').length === %d" % len(units))
    keys = page.evaluate("[...new Set([...document.querySelectorAll('#panel figure[data-chart=counties] [data-key^=\"county-\"]')]"
                         ".map(e => e.dataset.key.split('-')[1]))]")
    want = sorted(u["county"] for u in units)
    if sorted(keys) != want:
        missing = sorted(set(want) - set(keys))[:5]
        failures.append(f"counties: the map has {len(keys)} counties of {len(want)}; missing e.g. {missing}")
    # Pointing at the largest county shows its tooltip, naming it.
    largest = max(units, key=lambda u: u["votes"])
    selector = "#panel figure[data-chart=counties] [data-key=\"county-%s\"]" % largest["county"]
    page.evaluate("document.querySelector(%s).scrollIntoView({block: 'center'})" % json.dumps(selector))
    box = page.evaluate("(() => { const b = document.querySelector(%s).getBoundingClientRect();"
                        " return [b.left + b.width / 2, b.top + b.height / 2]; })()" % json.dumps(selector))
    page.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]}, session=True)
    try:
        page.wait_for("a tooltip naming " + largest["name"], "!document.getElementById('tip').hidden && "
                      "document.getElementById('tip').textContent.includes(%s)" % json.dumps(largest["name"]))
    except RuntimeError:
        tip = page.evaluate("document.getElementById('tip').textContent")
        failures.append(f"counties: pointing at {largest['name']} shows {tip!r}")
    # Most votes first; a click on the County header sorts by name.
    first = page.evaluate("document.querySelector('#counties tr td').textContent")
    if first != largest["name"]:
        failures.append(f"counties: the table starts with {first!r}, not the largest county {largest['name']!r}")
    page.evaluate("document.querySelector('th[data-county-sort=name] button').click()")
    first = page.evaluate("document.querySelector('#counties tr td').textContent")
    alphabetical = min(u["name"] for u in units)
    if first != alphabetical:
        failures.append(f"counties: sorted by name the table starts with {first!r}, not {alphabetical!r}")
    return failures


def check_live(page, base):
    """While results change, each one reaches the page (numbers and charts) within 2 s of its
    computation."""
    page.call("Page.navigate", {"url": base + "/"}, session=True)
    views = page.wait_for("three live views", "window.tallyViews && window.tallyViews.length >= 4 && window.tallyViews")
    lags = [v["shown_at"] - v["as_of"] for v in views[1:]]
    failures = [f"live: a view shown {lag} ms after its results" for lag in lags if lag > 2000]
    # In the background (another tab in front), the page closes its stream and draws nothing;
    # in front again, it catches up at once.
    other = page.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    page.call("Target.activateTarget", {"targetId": other})
    page.wait_for("the hidden tab to close its stream", "document.hidden && events === null")
    before = page.evaluate("window.tallyViews.length")
    time.sleep(3)  # an absence is observed over a while: views arrive every second when shown
    during = page.evaluate("window.tallyViews.length")
    if during != before:
        failures.append(f"live: {during - before} views drawn in 3 s in the background")
    page.call("Page.bringToFront", session=True)
    page.wait_for("a view once in front again", f"!document.hidden && window.tallyViews.length > {during}")
    return {"lags_ms": lags, "views_in_background": during - before}, failures


def check_projections(page, base):
    """With a baseline, the page shows the projections: the outlook chart names the favourite and
    a chance; the states map keys projected states apart from called ones; a state projected but
    not called says so in its panel, with its estimate and band."""
    failures = []
    page.call("Page.navigate", {"url": base + "/"}, session=True)
    page.wait_for("the outlook chart", "document.querySelector('figure[data-chart=outlook] svg') !== null && "
                  "/\\d+%/.test(document.querySelector('figure[data-chart=outlook] svg').textContent)")
    if "projected, not called" not in page.evaluate("document.querySelector('figure[data-chart=states] svg').textContent"):
        failures.append("projections: the states map has no key for projected states")
    seen = None
    deadline = time.monotonic() + 30
    while seen is None and time.monotonic() < deadline:
        results = json.load(urllib.request.urlopen(f"{base}/api/results", timeout=10))
        projected = [c for c, s in results["states"].items()
                     if s.get("projected") and not s.get("called") and (s.get("estimate") or {}).get("sd", 0) > 0]
        if not projected:
            time.sleep(0.2)  # the next publication is 100 ms away
            continue
        code = projected[0]
        page.evaluate("location.hash = %s" % json.dumps("#" + code))
        try:
            seen = page.wait_for(f"{code}'s panel to show its projection",
                                 "document.getElementById('panel').open && "
                                 "document.getElementById('panel-facts').textContent.includes('projected for') && "
                                 "document.getElementById('panel-facts').textContent.includes('estimated final') && "
                                 "document.getElementById('panel-facts').textContent")
            break
        except RuntimeError:
            continue  # called meanwhile: try another
    if seen is None:
        failures.append("projections: no panel showed a projection with its estimate")
    return {"panel": seen}, failures


def measure_traffic(page, base, seconds):
    """What one open tab costs: requests and bytes on the wire (compressed, headers included)
    over `seconds`, by kind, while the job publishes."""
    page.call("Network.enable", session=True)
    page.events.clear()
    page.call("Page.navigate", {"url": base + "/"}, session=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.evaluate("1")  # collects the events that arrived meanwhile
        time.sleep(0.5)
    kinds, urls = {}, {}
    for event in page.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif method in ("Network.loadingFinished", "Network.dataReceived"):
            url = urls.get(params["requestId"], "")
            kind = "events" if "/api/events" in url else "charts" if "/charts/" in url else "page and API"
            entry = kinds.setdefault(kind, {"requests": set(), "bytes": 0})
            entry["requests"].add(params["requestId"])
            if method == "Network.loadingFinished" and kind != "events":
                entry["bytes"] += params.get("encodedDataLength", 0)
            elif method == "Network.dataReceived" and kind == "events":
                entry["bytes"] += params.get("encodedDataLength", 0)
    report = {k: {"requests": len(v["requests"]), "bytes": v["bytes"]} for k, v in kinds.items()}
    total = sum(v["bytes"] for v in report.values())
    report["total_bytes"] = total
    report["megabytes_per_hour"] = round(total * 3600 / seconds / 1e6, 1)
    report["views"] = page.evaluate("(window.tallyViews || []).length")
    return report


def main():
    base = sys.argv[1].rstrip("/")
    chromium = sys.argv[2] if len(sys.argv) > 2 else shutil.which("chromium") or "chromium"
    mode = sys.argv[3] if len(sys.argv) > 3 else "final"
    shots = os.environ.get("TALLY_SCREENSHOTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
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
        if mode == "shots":
            # The pictures in docs/: whatever the job shows now, at a desktop's and a phone's size.
            for width, height, mobile in [(1440, 1000, False), (390, 844, True)]:
                page = Page(endpoint)
                page.call("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, session=True)
                page.call("Page.navigate", {"url": base + "/"}, session=True)
                page.wait_for("every chart", "window.tallyViews && window.tallyViews.length > 0")
                shot = page.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
                with open(os.path.join(shots or ".", f"dashboard-{width}x{height}.png"), "wb") as out:
                    out.write(base64.b64decode(shot["data"]))
                page.close()
        elif mode == "traffic":
            page = Page(endpoint)
            page.call("Emulation.setDeviceMetricsOverride",
                      {"width": 1440, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=True)
            report["traffic"] = measure_traffic(page, base, float(os.environ.get("TALLY_TRAFFIC_SECONDS", "60")))
            page.close()
        elif mode.startswith("counties:"):
            page = Page(endpoint)
            report["failures"] += check_counties(page, base, mode.split(":", 1)[1])
            report["failures"] += [f"counties: console error {e}" for e in page.errors()]
            page.close()
        elif mode == "live":
            page = Page(endpoint)
            seen, failures = check_live(page, base)
            report["live"] = seen
            report["failures"] += failures + [f"live: console error {e}" for e in page.errors()]
            page.close()
            if "outlook" in json.load(urllib.request.urlopen(f"{base}/api/results", timeout=10)):
                page = Page(endpoint)
                seen, failures = check_projections(page, base)
                report["projections"] = seen
                report["failures"] += failures + [f"projections: console error {e}" for e in page.errors()]
                page.close()
        else:
            results = json.load(urllib.request.urlopen(f"{base}/api/results", timeout=10))
            for width, height, mobile in VIEWPORTS:
                page = Page(endpoint)
                seen, failures = check_viewport(page, base, results, width, height, mobile, shots)
                seen["errors"] = page.errors()
                report["viewports"].append(seen)
                report["failures"] += failures + [f"{width}x{height}: console error {e}" for e in seen["errors"]]
                page.close()
            page = Page(endpoint)
            report["failures"] += check_panel(page, base, results)
            report["failures"] += [f"panel: console error {e}" for e in page.errors()]
            page.close()
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
