#!/usr/bin/python3
# The idle suite's fast fill for the Swift all-in-one (bench/scripts/swift-aio.sh): the objects of
# a plan (bench/idle-plan.ts writes it: one TSV line per object, "container name size offset kind
# timestamp delete_at etag", and the body block) written as an object PUT (or PUT then DELETE)
# leaves them on every primary, with Swift's own code:
#   - objects: DiskFileManager.get_diskfile(...).create() / write / put / commit, and
#     DiskFile.delete for the deleted ones (a .ts): invalidate_hash, cleanup, the lot, except the
#     fsyncs (one syncfs at the end), the page-cache drop behind each file (the suite drops the
#     whole cache after the sync) and eventlet's thread-pool hop; one process per node;
#   - listing rows: ContainerBroker.merge_items into each container replica (deleted rows as
#     ContainerBroker.delete_object makes them), and the user account's stats put with
#     AccountBroker.put_container and marked reported (what the container-updater would do);
#   - the expirer's queue: for objects with X-Delete-At, the rows the object server's
#     delete_at_update sends to the .expiring_objects account (get_expirer_container,
#     build_task_obj), in containers created with ContainerBroker.initialize, listed in that
#     account's databases.
# The user's containers must exist (PUT through the API first).
#
# Usage: /usr/bin/python3 swift-fill-objects.py <swift-aio dir> <account> <plan.tsv> <block file>
# Prints one JSON line: {"files", "object_seconds", "sync_seconds", "row_seconds", "seconds",
# "expiring_containers"}.
import configparser
import glob
import json
import multiprocessing
import os
import subprocess
import sys
import time

swift_dir, account, plan_path, block_path = sys.argv[1:5]
etc = os.path.join(swift_dir, 'etc')

from swift.common import utils  # noqa: E402

utils.SWIFT_CONF_FILE = os.path.join(etc, 'swift.conf')
utils.HASH_PATH_PREFIX = b''
utils.HASH_PATH_SUFFIX = b''
utils.validate_configuration()
from swift.common import storage_policy  # noqa: E402

storage_policy.reload_storage_policies()
from swift.common.ring import Ring  # noqa: E402
from swift.common.utils import Timestamp, get_expirer_container, hash_path, storage_directory  # noqa: E402
from swift.account.backend import AccountBroker, DATADIR as ACCOUNT_DATADIR  # noqa: E402
from swift.container.backend import ContainerBroker, DATADIR as CONTAINER_DATADIR  # noqa: E402
from swift.obj import diskfile  # noqa: E402
from swift.obj.expirer import build_task_obj  # noqa: E402

EXPIRING_ACCOUNT = '.expiring_objects'
DIVISOR = 86400  # expiring_objects_container_divisor's default
EMPTY_ETAG = 'd41d8cd98f00b204e9800998ecf8427e'
CONTENT_TYPE = 'application/octet-stream'
BATCH = 10000


def die(msg):
    sys.stderr.write('swift-fill-objects: %s\n' % msg)
    sys.exit(1)


def roots(kind):
    """(ip, port) of each <kind> server -> its devices root, from the run's configs."""
    out = {}
    for conf in glob.glob(os.path.join(etc, '%s-server-*.conf' % kind)):
        cp = configparser.ConfigParser()
        cp.read(conf)
        c = cp.defaults()
        out[(c['bind_ip'], int(c['bind_port']))] = c['devices']
    return out


def read_plan():
    with open(plan_path) as f:
        for line in f:
            c, name, size, off, kind, ts, delete_at, etag = line.rstrip('\n').split('\t')
            yield c, name, int(size), int(off), kind, ts, (None if delete_at == '-' else int(delete_at)), etag


def write_node(node_root):
    """Writes every replica that lands on one node (a worker process)."""
    # No fsync per file (one syncfs at the end) and no eventlet thread-pool hop: the rest is
    # DiskFileWriter as the object server runs it.
    # (this process does nothing else: every fsync goes, the directories' ones in
    # link_fd_to_path included)
    os.fsync = lambda fd: None
    os.fdatasync = lambda fd: None
    diskfile.fsync = lambda fd: None
    diskfile.fdatasync = lambda fd: None
    diskfile.fsync_dir = lambda path: None
    utils.fsync_dir = lambda path: None
    # Dropping the cache behind a file that was never synced starts its writeback then and there
    # (0.8 ms a file here): with the one sync at the end, the page cache is dropped after it.
    diskfile.drop_buffer_cache = lambda *a, **kw: None
    diskfile.tpool.execute = lambda f, *a, **kw: f(*a, **kw)
    ring = Ring(etc, ring_name='object')
    mine = {k for k, v in roots('object').items() if v == node_root}
    policy = storage_policy.POLICIES[0]
    mgr = diskfile.DiskFileRouter({'devices': node_root, 'mount_check': 'false'}, utils.get_logger({}, log_route='fill'))[policy]
    with open(block_path, 'rb') as f:
        block = f.read()
    files = 0
    for k, (c, name, size, off, kind, ts, delete_at, etag) in enumerate(read_plan()):
        part, nodes = ring.get_nodes(account, c, name)
        for node in nodes:
            if (node['ip'], node['port']) not in mine:
                continue
            df = mgr.get_diskfile(node['device'], part, account, c, name, policy=policy)
            if kind == 'deleted':
                df.delete(Timestamp(ts))
            else:
                body = block[off:off + size]
                with df.create(size=size) as writer:
                    writer.write(body)
                    md = {'X-Timestamp': Timestamp(ts).internal, 'Content-Type': CONTENT_TYPE, 'ETag': etag, 'Content-Length': str(size)}
                    if delete_at is not None:
                        md['X-Delete-At'] = str(delete_at)
                    writer.put(md)
                    writer.commit(Timestamp(ts))
            files += 1
        if k % 20000 == 0 and k:
            sys.stderr.write('  swift fill: %s: %d objects\n' % (os.path.basename(node_root), k))
    return files


def db_path(root, device, datadir, part, name_hash):
    return os.path.join(root, device, storage_directory(datadir, part, name_hash), name_hash + '.db')


def container_brokers(ring, roots_, acct, cont, create_ts=None):
    part, nodes = ring.get_nodes(acct, cont)
    h = hash_path(acct, cont)
    out = []
    for node in nodes:
        path = db_path(roots_[(node['ip'], node['port'])], node['device'], CONTAINER_DATADIR, part, h)
        b = ContainerBroker(path, account=acct, container=cont)
        if not os.path.exists(path):
            if create_ts is None:
                die('%s does not exist (was the container PUT through the API first?)' % path)
            b.initialize(create_ts, 0)
        out.append(b)
    return out


def account_brokers(ring, roots_, acct, create_ts):
    part, nodes = ring.get_nodes(acct)
    h = hash_path(acct)
    out = []
    for node in nodes:
        path = db_path(roots_[(node['ip'], node['port'])], node['device'], ACCOUNT_DATADIR, part, h)
        b = AccountBroker(path, account=acct)
        if not os.path.exists(path):
            b.initialize(create_ts)
        out.append(b)
    return out


def merge(brokers, rows):
    for b in brokers:
        # merge_items rewrites the dicts: a fresh copy per replica
        b.merge_items([dict(r) for r in rows])


def report(brokers, acct_brokers, cont):
    """The container's stats into the account, marked reported (the container-updater's job)."""
    for b in brokers:
        info = b.get_info()
        b.reported(info['put_timestamp'], info['delete_timestamp'], info['object_count'], info['bytes_used'])
    info = brokers[0].get_info()
    for a in acct_brokers:
        a.put_container(cont, info['put_timestamp'], info['delete_timestamp'], info['object_count'], info['bytes_used'], 0)


def rows_phase():
    cring = Ring(etc, ring_name='container')
    aring = Ring(etc, ring_name='account')
    croots = roots('container')
    aroots = roots('account')
    now = Timestamp.now().internal
    user = {}
    queue = {}
    brokers = {}

    def flush(pending, key, make):
        rows = pending.pop(key, [])
        if rows:
            if key not in brokers:
                brokers[key] = make()
            merge(brokers[key], rows)

    for c, name, size, off, kind, ts, delete_at, etag in read_plan():
        if kind == 'deleted':
            row = {'name': name, 'created_at': ts, 'size': 0, 'content_type': 'application/deleted', 'etag': 'noetag', 'deleted': 1, 'storage_policy_index': 0}
        else:
            row = {'name': name, 'created_at': ts, 'size': size, 'content_type': CONTENT_TYPE, 'etag': etag, 'deleted': 0, 'storage_policy_index': 0}
        user.setdefault(('u', c), []).append(row)
        if len(user[('u', c)]) >= BATCH:
            flush(user, ('u', c), lambda: container_brokers(cring, croots, account, c))
        if delete_at is not None:
            qc = get_expirer_container(delete_at, DIVISOR, account, c, name)
            queue.setdefault(('q', qc), []).append({'name': build_task_obj(delete_at, account, c, name), 'created_at': ts, 'size': 0, 'content_type': 'text/plain', 'etag': EMPTY_ETAG, 'deleted': 0, 'storage_policy_index': 0})
            if len(queue[('q', qc)]) >= BATCH:
                flush(queue, ('q', qc), lambda: container_brokers(cring, croots, EXPIRING_ACCOUNT, qc, now))
    for key in list(user):
        flush(user, key, lambda: container_brokers(cring, croots, account, key[1]))
    for key in list(queue):
        flush(queue, key, lambda: container_brokers(cring, croots, EXPIRING_ACCOUNT, key[1], now))
    user_accounts = account_brokers(aring, aroots, account, now)
    queue_accounts = account_brokers(aring, aroots, EXPIRING_ACCOUNT, now)
    n_queue = 0
    for (kind, cont), bs in brokers.items():
        if kind == 'u':
            report(bs, user_accounts, cont)
        else:
            report(bs, queue_accounts, cont)
            n_queue += 1
    return n_queue


def main():
    t0 = time.time()
    nodes = sorted(set(roots('object').values()))
    with multiprocessing.Pool(len(nodes)) as pool:
        files = sum(pool.map(write_node, nodes))
    sys.stderr.write('\n')
    t1 = time.time()
    n_queue = rows_phase()
    t2 = time.time()
    subprocess.check_call(['sync', '-f', nodes[0]])
    t3 = time.time()
    print(json.dumps({'files': files, 'object_seconds': round(t1 - t0, 3), 'row_seconds': round(t2 - t1, 3),
                      'sync_seconds': round(t3 - t2, 3), 'seconds': round(t3 - t0, 3), 'expiring_containers': n_queue}))


main()
