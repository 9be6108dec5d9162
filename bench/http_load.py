"""Keep-alive HTTP/1.1 load: wrk when it is installed, else a small asyncio generator.

wrk is C and leaves the 2 cores to the servers under test; the asyncio fallback needs no
install but takes more of the CPU it measures, so its figures read lower. Every result says
which tool produced it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _percentile(latencies_ms: list[float], fraction: float) -> float:
    if not latencies_ms:
        return float("nan")
    ordered = sorted(latencies_ms)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def build_request(host: str, port: int, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def _connection_loop(
    host: str, port: int, request: bytes, *, stop_at: float, latencies: list[float], counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = await _read_response(reader)
            latencies.append((time.perf_counter() - started) * 1000)
            counts[0 if status < 400 else 1] += 1
    finally:
        writer.close()


async def _run(host: str, port: int, request: bytes, connections: int, seconds: float) -> LoadResult:
    latencies: list[float] = []
    counts = [0, 0]
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(
            _connection_loop(host, port, request, stop_at=stop_at, latencies=latencies, counts=counts)
            for _ in range(connections)
        )
    )
    seconds = time.perf_counter() - started
    return LoadResult(
        tool="asyncio",
        requests_per_second=counts[0] / seconds,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=_percentile(latencies, 0.99),
        errors=counts[1],
    )


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
local file = io.open("{body_path}", "rb")
wrk.body = file:read("*a")
file:close()
"""


def _wrk_milliseconds(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[match.group(2)]
    return float(match.group(1)) * scale


def run_wrk(
    host: str, port: int, path: str, body: bytes, *, connections: int, seconds: float, content_type: str
) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="spillway-wrk-") as folder:
        body_path = os.path.join(folder, "body")
        script_path = os.path.join(folder, "post.lua")
        with open(body_path, "wb") as handle:
            handle.write(body)
        with open(script_path, "w", encoding="utf-8") as handle:
            handle.write(WRK_SCRIPT.format(content_type=content_type, body_path=body_path))
        command = [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(int(seconds), 1)}s",
            "--latency",
            "-s",
            script_path,
            f"http://{host}:{port}{path}",
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    failures = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if not (rate and p50 and p99):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    return LoadResult(
        tool="wrk",
        requests_per_second=float(rate.group(1)),
        p50_ms=_wrk_milliseconds(p50.group(1)),
        p99_ms=_wrk_milliseconds(p99.group(1)),
        errors=int(failures.group(1)) if failures else 0,
    )


def run_load(
    host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    connections: int = 16,
    seconds: float = 10.0,
    content_type: str = "application/json",
    tool: str = "auto",
) -> LoadResult:
    if tool == "wrk" or (tool == "auto" and shutil.which("wrk")):
        return run_wrk(host, port, path, body, connections=connections, seconds=seconds, content_type=content_type)
    request = build_request(host, port, path, body, content_type)
    return asyncio.run(_run(host, port, request, connections, seconds))
