"""Debian's glance_store swift driver against Swiftlet, driven by test/interop/glance-store-swift.test.ts.

Usage (under /usr/bin/python3): glance-store-swift.py AUTH_URL USER KEY CONTAINER
then one command a line on stdin, each a JSON list, each answered by one JSON line on stdout:
  ["add", IMAGE_ID, FILE, SIZE]  -> {"location", "size", "checksum", "multihash"}; SIZE 0: the size not told
  ["get", LOCATION]              -> {"size", "md5", "bytes_read"}
  ["delete", LOCATION]           -> {"deleted": true}
A failure of glance_store answers {"error": its exception's name, "message"}. One process for every
command: importing glance_store takes seconds on a loaded machine.

The store is the single-tenant one, auth v1 against tempauth, with Glance's options set the way
glance-api.conf's [glance_store] section sets them; large objects from 1 MB, in 1 MB chunks.
"""
import hashlib
import json
import sys

from oslo_config import cfg

import glance_store


def store_conf(auth_url, user, key, container):
    conf = cfg.ConfigOpts()
    glance_store.register_opts(conf)
    conf([], project='swiftlet-glance-interop', default_config_files=[], default_config_dirs=[])
    options = {
        'stores': ['swift'],
        'default_store': 'swift',
        'swift_store_auth_address': auth_url,
        'swift_store_auth_version': '1',
        'swift_store_user': user,
        'swift_store_key': key,
        'swift_store_container': container,
        'swift_store_create_container_on_put': True,
        'swift_store_large_object_size': 1,
        'swift_store_large_object_chunk_size': 1,
    }
    for name, value in options.items():
        conf.set_override(name, value, group='glance_store')
    glance_store.create_stores(conf)
    return conf


def run(conf, command):
    action, args = command[0], command[1:]
    if action == 'add':
        image_id, path, told = args
        with open(path, 'rb') as f:
            location, size, checksum, multihash, _ = glance_store.add_to_backend_with_multihash(
                conf, image_id, f, told, 'sha256')
        return {'location': location, 'size': size, 'checksum': checksum, 'multihash': multihash}
    if action == 'get':
        data, size = glance_store.get_from_backend(args[0])
        md5 = hashlib.md5()
        read = 0
        for chunk in data:
            md5.update(chunk)
            read += len(chunk)
        return {'size': size, 'md5': md5.hexdigest(), 'bytes_read': read}
    if action == 'delete':
        glance_store.delete_from_backend(args[0])
        return {'deleted': True}
    raise ValueError('unknown action %s' % action)


def main(argv):
    conf = store_conf(*argv[:4])
    for line in sys.stdin:
        try:
            answer = run(conf, json.loads(line))
        except glance_store.exceptions.GlanceStoreException as e:
            answer = {'error': type(e).__name__, 'message': str(e)}
        print(json.dumps(answer), flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
