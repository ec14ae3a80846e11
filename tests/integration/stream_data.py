"""Bulk data helpers shared by the guest programs of the vsock and net tests (embedded in the
guest by scripts.py) and the host side of test_vsock.py."""
# sys and time serve the guest programs this file is put in front of (scripts.py).
import hashlib, os, socket, struct, sys, threading, time  # noqa: F401


def chunks(n):
    """n bytes of data, as memoryviews of up to 1 MiB (the buffer is reused)."""
    base = bytearray(os.urandom(1 << 20))
    i = 0
    while n > 0:
        k = min(n, len(base))
        base[:8] = struct.pack("<Q", i)
        yield memoryview(base)[:k]
        n -= k
        i += 1


def drain(c, hashed=True):
    """Read c to its end: (sha256 hex or "", byte count)."""
    h, n, buf = hashlib.sha256(), 0, bytearray(1 << 20)
    while True:
        k = c.recv_into(buf)
        if not k:
            return (h.hexdigest() if hashed else ""), n
        if hashed:
            h.update(memoryview(buf)[:k])
        n += k


def pour(c, n, hashed=True):
    """Send n bytes of chunks(); their sha256 hex (or "")."""
    h = hashlib.sha256()
    for m in chunks(n):
        c.sendall(m)
        if hashed:
            h.update(m)
    return h.hexdigest() if hashed else ""


def exchange(c, data):
    """Send data (then SHUT_WR) while reading c to its end; what came back."""
    err = []

    def send():
        try:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send)
    t.start()
    got = bytearray()
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    t.join()
    if err:
        raise err[0]
    return bytes(got)
