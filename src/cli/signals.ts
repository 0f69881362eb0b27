// Signals as docker kill takes them: names with or without SIG, any case, or numbers 1-64.
const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, WINCH: 28 };

/** A signal as docker kill takes it: KILL, SIGKILL, kill or 9. */
export function signalNumber(text: string): number | null {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= 1 && n <= 64 ? n : null;
  }
  return SIGNALS[text.toUpperCase().replace(/^SIG/, '')] ?? null;
}
