"""Servers that misbehave on purpose, on loopback: one that accepts a
connection and never answers, and a proxy in front of slapd that passes the
first bytes of the server's answers through and then stalls or hangs up
(a server dying or freezing in the middle of a read)."""

from __future__ import annotations

import socket
import threading


class Silent:
    """Accepts connections and never says a word."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


class Cutoff:
    """Forwards to ``port`` until the server has sent ``after`` bytes, then
    ``stalls`` (keeps the connection open, forwards nothing more) or hangs up."""

    def __init__(self, port: int, after: int, stall: bool) -> None:
        self.target, self.after, self.stall = port, after, stall
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.forwarded = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(4096):
                if answers:
                    room = self.after - self.forwarded
                    if room <= 0:
                        if self.stall:
                            continue  # swallow it: the client waits for ever
                        break
                    data = data[:room]
                    self.forwarded += len(data)
                sink.sendall(data)
        except OSError:
            pass
        if not (answers and self.stall):
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            sock.close()
