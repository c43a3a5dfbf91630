/**
 * Progress while a benchmark runs, on stderr (stdout stays clean for the final report):
 * a timestamped line per finished step, and a ticking status line while a step runs
 * (rewritten in place on a terminal, printed every 5 s otherwise).
 */
export class Progress {
  private lastTickPrint = 0;
  private tickShown = false;
  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  line(msg: string): void {
    this.clearTick();
    const t = new Date().toISOString().slice(11, 19);
    this.out.write(`[${t}] ${msg}\n`);
  }

  tick(msg: string): void {
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K  … ${msg}`);
      this.tickShown = true;
    } else if (Date.now() - this.lastTickPrint >= 5000) {
      this.lastTickPrint = Date.now();
      this.out.write(`  … ${msg}\n`);
    }
  }

  private clearTick(): void {
    if (this.tickShown) {
      this.out.write('\r\x1b[2K');
      this.tickShown = false;
    }
  }
}
