import t from 'tap';
import { parseConfig } from '../../common/config.js';
import { refuseConfig, volumeGatewaySpec } from '../../volume-gateway/config.js';

t.test('the dev gateway binds only to loopback (no TLS yet)', async (t) => {
  const cfg = (raw: Record<string, unknown>) => parseConfig(volumeGatewaySpec, raw);
  t.equal(refuseConfig(cfg({})), undefined, 'the default, 127.0.0.1');
  t.equal(refuseConfig(cfg({ bind_ip: '::1' })), undefined);
  t.match(refuseConfig(cfg({ bind_ip: '0.0.0.0' })), /loopback/);
  t.match(refuseConfig(cfg({ bind_ip: '10.0.0.5' })), /loopback/);
  t.throws(() => cfg({ export_dir: 5 }), { code: 'CONFIG' });
});
