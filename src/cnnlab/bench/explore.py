"""The explorer's server-side response time: one control change on the Convolution tab at 64 × 64.

A live ``cnnlab explore --port 0`` runs in a subprocess; a websocket client speaks Shiny's protocol to it
(no browser), starts a session showing the Convolution tab on the built-in cat at 64 × 64 × 3 with
2 filters, then sends one change at a time and waits for the message carrying the re-rendered outputs.
The time from sending to receiving is what the server spends (checking the input, ``conv_forward``,
the cell's partial sums and the HTML of every output of the tab) plus a local round trip; the browser's
own drawing is not included. Target (issue 15): under 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import websockets  # the client; when it is missing, run_all reports this benchmark as not available

from cnnlab.bench import row

TARGET_MS = 100.0
#: The outputs of the Convolution tab, reported visible so that the server renders them all.
CONV_OUTPUTS = ("msg", "filter_note", "play_state", "shapes", "volumes", "cell_view", "formula")


def _start() -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-c", "import sys; from cnnlab.cli import main; sys.exit(main())"]
    proc = subprocess.Popen([*cmd, "explore", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        for line in list(lines):
            if "serving on " in line:
                return proc, line.split("serving on ", 1)[1].split()[0]
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"cnnlab explore did not start: {''.join(lines)}")


async def _until_rendered(ws, output: str) -> float:
    """Wait for the ``values`` message that carries ``output``; the time it arrived."""
    while True:
        msg = json.loads(await ws.recv())
        if output in msg.get("values", {}):
            return time.perf_counter()


async def _measure(url: str, changes: list[dict], repeat: int) -> list[float]:
    """Seconds from sending each change to receiving the re-rendered Convolution tab."""
    init = {"conv-source": "cat", "conv-img_size": "64", "conv-channels": 3, "conv-filters": 2}
    init |= {f".clientdata_output_conv-{o}_hidden": False for o in CONV_OUTPUTS}
    times = []
    async with websockets.connect(url.replace("http", "ws", 1) + "websocket/", max_size=2**26) as ws:
        await ws.send(json.dumps({"method": "init", "data": init}))
        await _until_rendered(ws, "conv-volumes")
        for i in range(repeat):
            change = changes[i % len(changes)]
            t0 = time.perf_counter()
            await ws.send(json.dumps({"method": "update", "data": change}))
            times.append(await _until_rendered(ws, "conv-cell_view") - t0)
    return times


def run(quick: bool = False) -> list[dict]:
    repeat = 6 if quick else 30
    proc, url = _start()
    try:
        pads = [{"conv-pad": p} for p in (2, 3, 4, 0, 1)]
        clicks = [
            {"conv-click": {"h": h, "w": w, "c": h % 2}} for h, w in ((5, 9), (40, 3), (63, 63), (0, 0))
        ]
        rows = []
        for case, changes in (("pad slider", pads), ("click an output cell", clicks)):
            times = asyncio.run(_measure(url, changes, repeat))
            med = 1000 * statistics.median(times)
            spread = (
                f"median of {len(times)}; best {1000 * min(times):.1f} ms, worst {1000 * max(times):.1f} ms"
            )
            case_name = f"conv tab 64x64x3, 2 filters: {case} -> re-rendered (server side)"
            rows.append(row("explore", case_name, med, "ms", f"< {TARGET_MS:g}", med < TARGET_MS, spread))
        return rows
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
