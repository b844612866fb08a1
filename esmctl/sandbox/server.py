"""The sandbox as a local HTTP server: patched moto behind moto's ThreadedMotoServer.

`start_server()` serves in a background thread of this process (so `control` still steers it);
`serve_forever()` is what `esmctl sandbox` runs. Every AWS service moto knows is served on the one
URL; point boto3 at it with `endpoint_url=` or AWS_ENDPOINT_URL. Each request passes faults.py's
checks (new keys, rate limits, injected faults), then `_served.ServedRecorder` notes its IAM action
in `control.served`, then moto answers it.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .patching import apply_patches


@dataclass
class SandboxServer:
    """A running sandbox server: `url` is what clients use as their endpoint URL."""

    host: str
    port: int
    _moto: Any = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._moto.stop()
        if self._moto._server is not None:
            self._moto._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _moto_server_class() -> type:
    """ThreadedMotoServer, binding its port in the caller's thread.

    moto's own start() binds inside the server thread, so a port already in use leaves start()
    waiting forever; here the OSError reaches the caller.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class _SandboxMotoServer(ThreadedMotoServer):
        def start(self) -> None:
            _check_port_free(self._ip_address, self._port)
            from ._served import ServedRecorder
            from .control import control
            from .faults import FaultMiddleware

            # faults.py's checks first, then `control.served` notes what moto is handed (_served.py).
            moto_app = ServedRecorder(DomainDispatcherApplication(create_backend_app), control)
            app = FaultMiddleware(moto_app, lambda: control.request_hook)
            try:
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
                )
            except SystemExit:  # werkzeug prints and exits when the port is taken
                raise OSError(errno.EADDRINUSE, f"Port {self._port} on {self._ip_address} is in use") from None
            self._server_ready_event.set()
            self._thread = threading.Thread(target=self._server.serve_forever, name="esmctl-sandbox", daemon=True)
            self._thread.start()

    return _SandboxMotoServer


def _check_port_free(host: str, port: int) -> None:
    """Raise OSError if host:port cannot be bound (werkzeug would print and sys.exit instead)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug's server does
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(error.errno, f"Cannot listen on {host}:{port}: {error.strerror}") from None


def start_server(port: int = 0, host: str = "127.0.0.1") -> SandboxServer:
    """Apply the patches and serve the sandbox on host:port (0 = a free port) in a daemon thread."""
    apply_patches()
    moto_server = _moto_server_class()(ip_address=host, port=port, verbose=False)
    moto_server.start()
    _, bound_port = moto_server.get_host_and_port()
    return SandboxServer(host=host, port=int(bound_port), _moto=moto_server)


def serve_forever(
    port: int, host: str = "127.0.0.1", on_ready: Callable[[SandboxServer], None] | None = None
) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt), then stop cleanly.

    `on_ready` is called once the server listens (e.g. to print the export lines with the real
    port when `port` is 0).
    """
    server = start_server(port, host)
    try:
        if on_ready is not None:
            on_ready(server)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
