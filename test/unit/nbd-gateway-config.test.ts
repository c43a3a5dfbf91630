import t from 'tap';
import { parseConfig } from '../../common/config.js';
import { parsePskFile, refuseConfig, volumeGatewaySpec } from '../../volume-gateway/config.js';

t.test('the dev gateway binds beyond loopback only with TLS', async (t) => {
  const cfg = (raw: Record<string, unknown>) => parseConfig(volumeGatewaySpec, raw);
  t.equal(refuseConfig(cfg({})), undefined, 'the default, 127.0.0.1');
  t.equal(refuseConfig(cfg({ bind_ip: '::1' })), undefined);
  t.match(refuseConfig(cfg({ bind_ip: '0.0.0.0' })), /loopback/);
  t.match(refuseConfig(cfg({ bind_ip: '10.0.0.5' })), /loopback/);
  t.throws(() => cfg({ export_dir: 5 }), { code: 'CONFIG' });
  t.equal(refuseConfig(cfg({ bind_ip: '0.0.0.0', tls_psk_file: 'k' })), undefined);
  t.equal(refuseConfig(cfg({ bind_ip: '0.0.0.0', tls_cert_file: 'c', tls_key_file: 'k' })), undefined);
  t.match(refuseConfig(cfg({ tls_cert_file: 'c' })), /together/);
  t.match(refuseConfig(cfg({ tls_ca_file: 'ca', tls_psk_file: 'k' })), /needs/);
});

t.test('PSK files: identity:hexkey lines', async (t) => {
  const m = parsePskFile('# keys\nalice:00ff\n\nbob:0a0b0c\n');
  t.same([...m.entries()].map(([k, v]) => [k, v.toString('hex')]), [
    ['alice', '00ff'],
    ['bob', '0a0b0c'],
  ]);
  t.throws(() => parsePskFile('alice\n'), { code: 'CONFIG' });
  t.throws(() => parsePskFile('alice:xyz\n'), { code: 'CONFIG' });
  t.throws(() => parsePskFile(''), { code: 'CONFIG' });
});
