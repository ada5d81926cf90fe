/**
 * A progress bar on stderr with step counts and time left; silent when stderr is
 * not a terminal (CI logs, pipes) or when --json asks for a clean stdout.
 */
/** Whether stderr is a terminal (bin/convscope.mjs runs the command with stderr piped through a filter and says so). */
export function stderrIsTerminal(): boolean {
  return process.stderr.isTTY === true || process.env.CONVSCOPE_STDERR_TTY === '1';
}

export class Progress {
  private start = Date.now();
  private done = 0;
  private lastDraw = 0;
  constructor(
    private label: string,
    private total: number,
    private enabled = stderrIsTerminal(),
  ) {}

  tick(n = 1): void {
    this.done += n;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = now;
    const frac = this.total > 0 ? this.done / this.total : 1;
    const width = 28;
    const filled = Math.round(frac * width);
    const elapsed = (now - this.start) / 1000;
    const left = this.done > 0 ? (elapsed / this.done) * (this.total - this.done) : NaN;
    const eta = Number.isFinite(left) ? `${formatSeconds(left)} left` : '';
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${eta}   `);
    if (this.done >= this.total) process.stderr.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}
