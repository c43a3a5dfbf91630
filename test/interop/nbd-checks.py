# nbdsh checks for test/interop/nbd-clients.test.ts, run with `nbdsh -c 'exec(open(F).read())'`
# against an NBD URI in $NBD_URI (both Swiftlet's gateway and nbdkit's memory plugin must pass).
# Prints "ok <name>" per check; any failed assertion exits non-zero.
import errno
import os
import nbd

uri = os.environ["NBD_URI"]
MiB = 1024 * 1024


def ok(name):
    print("ok " + name, flush=True)


def expect_errno(want, fn, *args):
    try:
        fn(*args)
    except nbd.Error as e:
        # libnbd's Python binding gives the errno's name ("EINVAL"); older ones the number.
        assert e.errno in (want, errno.errorcode[want]), "got errno %s (%s), wanted %s" % (e.errno, e, want)
        return
    raise AssertionError("no error, wanted errno %d" % want)


# -- Handshake in option mode: LIST, INFO of an unknown export, then GO on the same connection.
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_uri(uri)
names = []
h.opt_list(lambda name, desc: names.append(name))
assert h.get_export_name() in names or h.get_export_name() == "", names
if os.environ.get("NBD_NAMED_EXPORTS") == "1":  # nbdkit's memory plugin serves any name
    h.set_export_name("no-such-export")
    try:
        h.opt_info()
        raise AssertionError("INFO of an unknown export succeeded")
    except nbd.Error:
        pass
    ok("unknown export refused by INFO, connection still usable")
h.set_export_name(os.environ["NBD_EXPORT"])
contexts = []
h.opt_list_meta_context(lambda ctx: contexts.append(ctx))
assert "base:allocation" in contexts, contexts
h.add_meta_context("base:allocation")
h.opt_go()
assert h.get_structured_replies_negotiated()
assert h.can_meta_context("base:allocation")
size = h.get_size()
ok("LIST, LIST_META_CONTEXT, then GO")

# -- Data: write, FUA write, flush, read back.
pattern = bytes(range(256)) * 16
h.pwrite(pattern, 0)
h.pwrite(pattern, 4096, nbd.CMD_FLAG_FUA)
h.flush()
assert h.pread(8192, 0) == pattern * 2
ok("write, FUA write, flush, read")

# -- Structured read of a sparse range: hole chunks and data chunks, in bounds.
h.trim(MiB, MiB)
h.pwrite(b"\x07" * 4096, MiB + 65536)
chunks = []


def chunk(buf, offset, status, err):
    chunks.append((offset, len(buf), status))
    return 0


buf = h.pread_structured(2 * 65536, MiB, chunk)
assert buf[65536:65536 + 4096] == b"\x07" * 4096 and buf[:65536] == bytes(65536)
assert sum(c[1] for c in chunks) == 2 * 65536, chunks
assert any(c[2] == nbd.READ_DATA for c in chunks), chunks
ok("structured read: %d chunks" % len(chunks))
# DF: exactly one content chunk.
chunks.clear()
h.pread_structured(2 * 65536, MiB, chunk, nbd.CMD_FLAG_DF)
assert len(chunks) == 1 and chunks[0][2] == nbd.READ_DATA, chunks
ok("DF read: one chunk")

# -- Block status: trimmed ranges are holes, written data is never ZERO; REQ_ONE gives one extent.
entries = []


def extent(ctx, offset, ents, err):
    entries.append(list(ents))
    return 0


h.block_status(2 * MiB, 0, extent)
flat = entries[0]
pairs = list(zip(flat[0::2], flat[1::2]))
assert pairs[0][1] & nbd.STATE_ZERO == 0, pairs  # data at 0 is not ZERO
assert sum(p[0] for p in pairs) <= 2 * MiB
entries.clear()
h.block_status(2 * MiB, 0, extent, nbd.CMD_FLAG_REQ_ONE)
assert len(entries[0]) == 2, entries
ok("block status: %d extents; REQ_ONE: 1" % len(pairs))

# -- Zeroing: WRITE_ZEROES with and without NO_HOLE reads back as zeroes.
h.pwrite(b"\xff" * 8192, 2 * MiB)
h.zero(4096, 2 * MiB)
h.zero(4096, 2 * MiB + 4096, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(8192, 2 * MiB) == bytes(8192)
ok("write zeroes (with and without NO_HOLE)")
h.cache(65536, 0)
ok("cache")

# -- Out of range: EINVAL for reads, ENOSPC for writes; the connection survives.
h.set_strict_mode(0)  # let the requests reach the server
expect_errno(errno.EINVAL, h.pread, 4096, size - 100)
expect_errno(errno.ENOSPC, h.pwrite, b"x" * 4096, size - 100)
expect_errno(errno.EINVAL, h.trim, 4096, size)
assert h.pread(16, 0) == pattern[:16]
ok("out-of-range errors, connection alive")
h.shutdown()

# -- Simple replies (no structured replies negotiated).
h2 = nbd.NBD()
h2.set_request_structured_replies(False)
h2.set_export_name(os.environ["NBD_EXPORT"])
h2.connect_uri(uri)
assert not h2.get_structured_replies_negotiated()
assert h2.pread(4096, 4096) == pattern
ok("simple replies")
h2.shutdown()
