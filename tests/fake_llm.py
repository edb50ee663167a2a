"""An OpenAI-compatible chat-completions server on 127.0.0.1: the one allowed fake (no LLM is reachable here).

Modes: "ok" streams a cited answer token by token; "uncited" streams an answer citing nothing;
"hang" never answers; "error" returns HTTP 500; "garbage" streams bytes that are not SSE JSON;
"slow" streams the cited answer one token every `drip` seconds; "keepalive" sends only SSE keep-alive
comments every `drip` seconds for 5 s, then the cited answer. Neither ever goes quiet for a whole read timeout.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self):
        self.mode = "ok"
        self.requests: list[dict] = []
        self.answer = "You can change your plan under Settings → Billing → Change plan [1]."
        self.drip = 0.25
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                if server.mode == "hang":
                    time.sleep(30)
                    return
                if server.mode == "error":
                    self.send_response(500)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "boom"}}')
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                if server.mode == "garbage":
                    self.wfile.write(b"data: {not json at all\n\n")
                    self.wfile.flush()
                    return
                try:
                    self.stream()
                except OSError:  # the client gave up and closed the connection
                    pass

            def stream(self):
                if server.mode == "keepalive":
                    for _ in range(int(5 / server.drip)):
                        self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
                        time.sleep(server.drip)
                text = server.answer if server.mode != "uncited" else "Sure, just click around until it works."
                for i, token in enumerate(text.split(" ")):
                    if server.mode == "slow":
                        time.sleep(server.drip)
                    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                             "choices": [{"index": 0, "delta": {"content": ("" if i == 0 else " ") + token},
                                          "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
