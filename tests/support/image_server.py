"""A tiny image server on 127.0.0.1:0 for the remote-image tests (raw sockets, one thread each
connection): it records every request's Host header, so a test can tell whether it was reached."""

from __future__ import annotations

import socket
import threading

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


class ImageServer:
    """HTTP/1.1 on 127.0.0.1:0: `/a.png` is a PNG, `/to?URL` redirects to URL (302).
    Remembers each request's Host header."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.hosts: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = conn.recv(65536)
                if not piece:
                    return
                head += piece
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            host = next(
                (h.split(":", 1)[1].strip() for h in lines if h.lower().startswith("host:")), ""
            )
            self.hosts.append(host)
            if target.startswith("/to?"):
                answer = f"HTTP/1.1 302 Found\r\nlocation: {target[4:]}\r\ncontent-length: 0\r\n"
                conn.sendall(answer.encode() + b"connection: close\r\n\r\n")
            else:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\nconnection: close\r\n"
                    + f"content-length: {len(PNG)}\r\n\r\n".encode()
                    + PNG
                )

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
        except OSError:
            pass
        self.listener.close()
