// Signals as `hyper kill -s` takes them (docker's forms): names with or without SIG, any case, or numbers 1-64.
import { describe, expect, it } from 'vitest';
import { signalNumber } from '../../src/cli/signals.js';

describe('signalNumber', () => {
  it('reads names and numbers', () => {
    expect(signalNumber('KILL')).toBe(9);
    expect(signalNumber('SIGTERM')).toBe(15);
    expect(signalNumber('usr1')).toBe(10);
    expect(signalNumber('2')).toBe(2);
  });
  it('refuses what is not a signal', () => {
    for (const bad of ['bogus', '0', '65', '-9', '', 'SIG']) expect(signalNumber(bad)).toBeNull();
  });
});
