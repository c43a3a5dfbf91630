/** Whether a process exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (up to `maxMs`) for a process to be gone: whether it is. */
export async function gone(pid: number, maxMs = 60_000): Promise<boolean> {
  for (let waited = 0; waited < maxMs && alive(pid); waited += 100) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}
