// Test harness: a command in a real terminal (a detached tmux session) to type into, resize and read the screen of.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Terminal {
  keys(...keys: string[]): void;
  resize(cols: number, rows: number): void;
  screen(): string;
  /** The exit status the command left in `status` (written by the wrapper), or null while it runs. */
  status(): string | null;
  close(): void;
}

/** Runs `command` (a shell line) in a cols × rows terminal; its exit status is kept in a file under `dir`. */
export function openTerminal(name: string, dir: string, command: string, cols = 80, rows = 24): Terminal {
  const session = `${name}-${process.pid}`;
  const file = join(dir, `${session}.status`);
  // a tmux server of its own (-L): on the shared default one, a test closing the last session stopped the server just
  // as another test file's new-session reached it ("server exited unexpectedly")
  const tmux = (...a: string[]) => execFileSync('tmux', ['-L', session, ...a]).toString();
  tmux('new-session', '-d', '-s', session, '-x', String(cols), '-y', String(rows), `${command}; echo $? > ${file}; sleep 60`);
  return {
    keys: (...keys) => void tmux('send-keys', '-t', session, ...keys),
    resize: (c, r) => void tmux('resize-window', '-t', session, '-x', String(c), '-y', String(r)),
    screen: () => tmux('capture-pane', '-p', '-t', session),
    status: () => (existsSync(file) ? readFileSync(file, 'utf8').trim() : null),
    close: () => {
      try {
        tmux('kill-session', '-t', session);
      } catch {}
    },
  };
}
