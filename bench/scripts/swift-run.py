#!/usr/bin/python3
# Runs one of Debian's OpenStack Swift WSGI servers, or one pass of a replicator, with swift.conf
# taken from <swift_dir> instead of /etc/swift, so the bench cluster never touches the machine's
# own Swift config.
# Usage: /usr/bin/python3 swift-run.py <swift_dir> proxy|account|container|object <conf-file>
#        /usr/bin/python3 swift-run.py <swift_dir> object|container|account-replicator <conf-file>
#        /usr/bin/python3 swift-run.py <swift_dir> daemon <daemon> <conf-file>
# Everything else is Swift's own code path (what /usr/bin/swift-<kind>-server does, or
# /usr/bin/swift-<kind>-replicator <conf-file> once, or /usr/bin/swift-<daemon> <conf-file>
# running continuously: object-replicator, object-updater, object-auditor, object-expirer,
# container-replicator, container-updater, account-replicator).
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
if kind == 'daemon':
    from swift.common.daemon import run_daemon
    daemon, conf_file = sys.argv[3], sys.argv[4]
    module, cls = {
        'object-replicator': ('swift.obj.replicator', 'ObjectReplicator'),
        'object-updater': ('swift.obj.updater', 'ObjectUpdater'),
        'object-auditor': ('swift.obj.auditor', 'ObjectAuditor'),
        'object-expirer': ('swift.obj.expirer', 'ObjectExpirer'),
        'container-replicator': ('swift.container.replicator', 'ContainerReplicator'),
        'container-updater': ('swift.container.updater', 'ContainerUpdater'),
        'account-replicator': ('swift.account.replicator', 'AccountReplicator'),
    }.get(daemon, (None, None))
    if module is None:
        sys.exit('unknown daemon %s' % daemon)
    import importlib
    sys.exit(run_daemon(getattr(importlib.import_module(module), cls), conf_file, once=False, verbose=True))
if kind.endswith('-replicator'):
    from swift.common.daemon import run_daemon
    if kind == 'object-replicator':
        from swift.obj.replicator import ObjectReplicator as daemon
    elif kind == 'container-replicator':
        from swift.container.replicator import ContainerReplicator as daemon
    elif kind == 'account-replicator':
        from swift.account.replicator import AccountReplicator as daemon
    else:
        sys.exit('unknown replicator %s' % kind)
    sys.exit(run_daemon(daemon, conf_file, once=True, verbose=True))

from swift.common.wsgi import run_wsgi  # noqa: E402

kwargs = {}
if kind == 'object':
    from swift.obj import server
    kwargs['global_conf_callback'] = server.global_conf_callback
sys.exit(run_wsgi(conf_file, '%s-server' % kind, **kwargs))
