/** How a fuzz case ended, from its exit code and output. */

export type Outcome = 'refused' | 'accepted' | 'crash' | 'hang' | 'unclear' | 'wrong';

/** Words that mean an internal error leaked to the user instead of a sentence about their input. */
const INTERNAL = /TypeError|RangeError|ReferenceError|SyntaxError: (?!.*JSON)|Cannot read propert|is not a function|undefined is not|Invalid typed array length|Invalid array length|Aborted\(|abort\(|RuntimeError|Maximum call stack|ModelSpec|Set maximum size|out of memory|Cannot enlarge memory|\bat [\w.<>]+ \(|\.ts:\d+:\d+|UNCAUGHT|internal:|HDF5-DIAG/;

export interface Classified {
  outcome: Outcome;
  /** Why it is not a clean refusal or a sane acceptance. */
  why?: string;
}

/**
 * A clean refusal: exit 1 or 2 with exactly one line on stderr, `convscope CMD: ...`,
 * naming the input file and using no internal words. An acceptance must pass the
 * case's own check of its output.
 */
export function classify(code: number, stdout: string, stderr: string, fileName: string, checkAccepted?: (stdout: string) => string | undefined): Classified {
  if (code === 0) {
    const bad = checkAccepted?.(stdout);
    return bad ? { outcome: 'wrong', why: bad } : { outcome: 'accepted' };
  }
  if (code !== 1 && code !== 2) return { outcome: 'unclear', why: `exit code ${code}: ${stderr.slice(0, 300)}` };
  const lines = stderr.trim().split('\n').filter(Boolean);
  if (lines.length !== 1) return { outcome: 'unclear', why: `${lines.length} lines on stderr: ${stderr.slice(0, 300)}` };
  const line = lines[0];
  if (INTERNAL.test(line)) return { outcome: 'unclear', why: `internal words: ${line.slice(0, 300)}` };
  if (!line.includes(fileName)) return { outcome: 'unclear', why: `does not name ${fileName}: ${line.slice(0, 300)}` };
  return { outcome: 'refused' };
}
