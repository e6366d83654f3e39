"""What every loopback stand-in for a third party shares: a threaded HTTP server on 127.0.0.1 in
a background thread, and a quiet handler that writes an answer whatever the client did."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from werkzeug.serving import make_server


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status: int, body: str, content_type: str) -> None:
        """Send ``body``; a client that already hung up (a timeout test) is not an error."""
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass


class LoopbackHTTPServer:
    """Serves ``handler`` on a free loopback port (``url``). ``lock`` guards what handlers
    record; ``release`` frees handlers told to stall, and is set on stop."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class LoopbackWSGIServer:
    """Serves a WSGI ``app`` (the Flask fakes of OAuth providers) on a free loopback port
    (``url``), in a background thread between ``start`` and ``stop``."""

    def serve(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll: shutdown() waits for the loop's next look (0.5 s by default, paid by
        # every test that starts a fake).
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
