// Preload (NODE_OPTIONS=--import=…/prof.mjs, PROF_DIR set): in the proxy process only, a CPU
// profile started by SIGUSR2 and written to PROF_DIR when the process exits (node refuses
// --cpu-prof in NODE_OPTIONS, and the all-in-one starts its servers itself).
import { Session } from 'node:inspector';
import { writeFileSync, mkdirSync } from 'node:fs';
if (process.argv.includes('proxy') && process.env.PROF_DIR) {
  const s = new Session();
  s.connect();
  s.post('Profiler.enable');
  s.post('Profiler.setSamplingInterval', { interval: 500 });
  process.on('SIGUSR2', () => s.post('Profiler.start'));
  process.on('exit', () => {
    s.post('Profiler.stop', (err, r) => {
      mkdirSync(process.env.PROF_DIR, { recursive: true });
      writeFileSync(`${process.env.PROF_DIR}/proxy-${process.pid}.cpuprofile`, JSON.stringify(r.profile));
    });
  });
}
