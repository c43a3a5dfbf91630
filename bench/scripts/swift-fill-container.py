#!/usr/bin/python3
# Fills an existing container of the bench's Swift all-in-one (bench/scripts/swift-aio.sh) with N
# empty objects named d<i % 100>/o<i> ("d%03d/o%08d"), by merging the listing rows straight into
# the container database of every primary: the rows 0-byte PUTs would have left there (name,
# timestamp, size 0, application/octet-stream, the MD5 of an empty body), with Swift's own
# ContainerBroker.merge_items, so the object count and bytes used follow through Swift's SQL
# triggers exactly as for PUTs. No object data is written: the listing benchmark only reads
# listings. The container must exist (PUT it through the API first).
#
# Usage: /usr/bin/python3 swift-fill-container.py <swift-aio dir> <account> <container> <n>
#            <first timestamp, 1e-5 s ticks> [batch rows]
# Object i gets timestamp first + i ticks (10 µs apart, as if PUT one after another).
# Prints one JSON line: {"partition", "replicas": [{"device", "db", "seconds", "object_count",
# "bytes_used"}], "seconds"}. Exits non-zero (message on stderr) if a primary's database is
# missing or ends up with the wrong object count.
import configparser
import glob
import json
import os
import sys
import time

swift_dir, account, container = sys.argv[1], sys.argv[2], sys.argv[3]
n, first_tick = int(sys.argv[4]), int(sys.argv[5])
batch_rows = int(sys.argv[6]) if len(sys.argv) > 6 else 10000
etc = os.path.join(swift_dir, 'etc')

from swift.common import utils  # noqa: E402

# The run's hash prefix/suffix, never /etc/swift's (as bench/scripts/swift-run.py does).
utils.SWIFT_CONF_FILE = os.path.join(etc, 'swift.conf')
utils.HASH_PATH_PREFIX = b''
utils.HASH_PATH_SUFFIX = b''
utils.validate_configuration()
from swift.common.ring import Ring  # noqa: E402
from swift.container.backend import DATADIR, ContainerBroker  # noqa: E402

EMPTY_ETAG = 'd41d8cd98f00b204e9800998ecf8427e'
CONTENT_TYPE = 'application/octet-stream'  # what the fill's PUTs send (bench/wrk.ts)


def die(msg):
    sys.stderr.write('swift-fill-container: %s\n' % msg)
    sys.exit(1)


def devices_by_node():
    """(ip, port) of each container server -> its devices root, from the run's configs."""
    out = {}
    for conf in glob.glob(os.path.join(etc, 'container-server-*.conf')):
        cp = configparser.ConfigParser()
        cp.read(conf)
        c = cp.defaults()
        out[(c['bind_ip'], int(c['bind_port']))] = c['devices']
    return out


def wait_for(path, seconds=10.0):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            die('%s does not exist (was the container PUT through the API first?)' % path)
        time.sleep(0.1)


def timestamp(i):
    whole, frac = divmod(first_tick + i, 100000)
    return '%010d.%05d' % (whole, frac)


def rows(lo, hi):
    return [{'name': 'd%03d/o%08d' % (i % 100, i), 'created_at': timestamp(i), 'size': 0,
             'content_type': CONTENT_TYPE, 'etag': EMPTY_ETAG, 'deleted': 0,
             'storage_policy_index': 0, 'ctype_timestamp': None, 'meta_timestamp': None}
            for i in range(lo, hi)]


def main():
    ring = Ring(etc, ring_name='container')
    part, nodes = ring.get_nodes(account, container)
    roots = devices_by_node()
    name_hash = utils.hash_path(account, container)
    brokers = []
    for node in nodes:
        root = roots.get((node['ip'], node['port']))
        if root is None:
            die('no container-server config for %s:%s' % (node['ip'], node['port']))
        db_file = os.path.join(root, node['device'], utils.storage_directory(DATADIR, part, name_hash), name_hash + '.db')
        wait_for(db_file)
        brokers.append((node['device'], db_file, ContainerBroker(db_file, account=account, container=container)))
    t0 = time.time()
    spent = [0.0] * len(brokers)
    for lo in range(0, n, batch_rows):
        hi = min(n, lo + batch_rows)
        for k, (_dev, _db, broker) in enumerate(brokers):
            # merge_items rewrites the dicts (created_at, swift_bytes): a fresh list per replica
            items = rows(lo, hi)
            b0 = time.time()
            broker.merge_items(items)
            spent[k] += time.time() - b0
        sys.stderr.write('\r  swift fill: %d / %d rows on %d replicas' % (hi, n, len(brokers)))
    sys.stderr.write('\n')
    replicas = []
    for k, (dev, db_file, broker) in enumerate(brokers):
        info = broker.get_info()
        replicas.append({'device': dev, 'db': db_file, 'seconds': round(spent[k], 3),
                         'object_count': info['object_count'], 'bytes_used': info['bytes_used']})
    bad = [r for r in replicas if r['object_count'] < n or r['bytes_used'] != 0]
    if bad:
        die('after the merge: %s' % json.dumps(bad))
    print(json.dumps({'partition': part, 'replicas': replicas, 'seconds': round(time.time() - t0, 3)}))


main()
