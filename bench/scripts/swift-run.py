#!/usr/bin/python3
# Runs one of Debian's OpenStack Swift WSGI servers, or one of its background daemons (one pass,
# or continuously), with swift.conf taken from <swift_dir> instead of /etc/swift, so the bench
# cluster never touches the machine's own Swift config.
# Usage: /usr/bin/python3 swift-run.py <swift_dir> proxy|account|container|object <conf-file>
#        /usr/bin/python3 swift-run.py <swift_dir> <daemon> <conf-file> [once|forever]
#          <daemon>: object|container|account-replicator, object|container-updater,
#          object-auditor, object-expirer; default once (what the bench's `replicate` runs)
# Everything else is Swift's own code path (what /usr/bin/swift-<kind>-server does, or
# /usr/bin/swift-<daemon> <conf-file> [once]).
import os
import sys

swift_dir, kind, conf_file = sys.argv[1], sys.argv[2], sys.argv[3]

from swift.common import utils  # noqa: E402

utils.SWIFT_CONF_FILE = os.path.join(swift_dir, 'swift.conf')
utils.HASH_PATH_PREFIX = b''
utils.HASH_PATH_SUFFIX = b''
utils.validate_configuration()
from swift.common import storage_policy  # noqa: E402

storage_policy.reload_storage_policies()
DAEMONS = {
    'object-replicator': ('swift.obj.replicator', 'ObjectReplicator'),
    'container-replicator': ('swift.container.replicator', 'ContainerReplicator'),
    'account-replicator': ('swift.account.replicator', 'AccountReplicator'),
    'object-updater': ('swift.obj.updater', 'ObjectUpdater'),
    'container-updater': ('swift.container.updater', 'ContainerUpdater'),
    'object-auditor': ('swift.obj.auditor', 'ObjectAuditor'),
    'object-expirer': ('swift.obj.expirer', 'ObjectExpirer'),
}
if kind in DAEMONS:
    import importlib
    from swift.common.daemon import run_daemon
    module, cls = DAEMONS[kind]
    daemon = getattr(importlib.import_module(module), cls)
    mode = sys.argv[4] if len(sys.argv) > 4 else 'once'
    if mode not in ('once', 'forever'):
        sys.exit('mode is once or forever, not %s' % mode)
    sys.exit(run_daemon(daemon, conf_file, once=(mode == 'once'), verbose=True))
if kind.endswith(('-replicator', '-updater', '-auditor', '-expirer')):
    sys.exit('unknown daemon %s' % kind)

from swift.common.wsgi import run_wsgi  # noqa: E402

kwargs = {}
if kind == 'object':
    from swift.obj import server
    kwargs['global_conf_callback'] = server.global_conf_callback
sys.exit(run_wsgi(conf_file, '%s-server' % kind, **kwargs))
