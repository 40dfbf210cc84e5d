"""Endpoint batches, sequential vs concurrent, measured side by side in one run.

    python benchmarks/endpoint_batch.py [--latency 0.4] [--batch 8] [--repeats 3]

A threaded server on 127.0.0.1 stands in for a continuous-batching server (vLLM): each
request streams its answer over `--latency` seconds, whatever else is in flight. Prints one
request's time, a batch sent one request at a time (a loop over `generate`, as
`generate_batch` did before), the same batch through `generate_batch`, and their ratio.
Timings are medians over interleaved repeats, so machine noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from coassist.llm import GenerationSettings, parse_model_spec
from coassist.llm.endpoint import EndpointChatModel

CHUNKS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.4, help="seconds each request takes on the server")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    server = _latency_server(args.latency)
    port = server.server_address[1]
    model = EndpointChatModel(parse_model_spec(f"openai:http://127.0.0.1:{port}/v1#bench"))
    settings = GenerationSettings(max_new_tokens=CHUNKS)
    conversations = [[{"role": "user", "content": f"question {i}"}] for i in range(args.batch)]
    try:
        single, sequential, concurrent = [], [], []
        for _ in range(args.repeats):
            single.append(_seconds(lambda: model.generate(conversations[0], settings)))
            sequential.append(_seconds(lambda: [model.generate(c, settings) for c in conversations]))
            concurrent.append(_seconds(lambda: model.generate_batch(conversations, settings)))
    finally:
        server.shutdown()
        server.server_close()

    one, loop, batch = (statistics.median(times) for times in (single, sequential, concurrent))
    rows = [
        ("one request", f"{one:.3f} s", ""),
        (f"batch of {args.batch}, sequential (loop over generate)", f"{loop:.3f} s", f"{loop / one:.2f}x one request"),
        (
            f"batch of {args.batch}, generate_batch (max_concurrent_requests={model.max_concurrent_requests})",
            f"{batch:.3f} s",
            f"{batch / one:.2f}x one request",
        ),
        ("sequential / generate_batch", f"{loop / batch:.2f}x", "speed-up"),
    ]
    print(f"server latency {args.latency} s per request, median of {args.repeats} interleaved repeats")
    width = max(len(row[0]) for row in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _latency_server(latency: float) -> ThreadingHTTPServer:
    """An OpenAI-compatible stub whose every answer streams `CHUNKS` pieces over `latency` s."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for _ in range(CHUNKS):
                time.sleep(latency / CHUNKS)
                chunk = {"choices": [{"index": 0, "delta": {"content": "token "}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


if __name__ == "__main__":
    main()
