// jsonPieces: the same bytes as printJson's JSON.stringify(value, null, 2), written in pieces.
import { describe, expect, it } from 'vitest';
import { jsonPieces } from '../../src/cli/format.js';

const pod = (i: number) => ({ id: `p${i}`, name: i % 3 ? null : `n"${i}`, state: 'running', containers: { main: { state: 'running', exitCode: null, restarts: i } }, tags: i % 2 ? [] : ['a', { b: [1, 2] }] });

describe('jsonPieces', () => {
  for (const n of [0, 1, 7, 200, 201, 450]) {
    it(`equals JSON.stringify(value, null, 2) + newline with ${n} items`, () => {
      const doc = { seq: 9, at: null, hosts: [{ id: 'h1', used: { pods: 3 } }], pods: Array.from({ length: n }, (_, i) => pod(i)), tenants: [], invalid: 0 };
      const pieces = [...jsonPieces(doc, 'pods', 200)];
      expect(pieces.join('')).toBe(JSON.stringify(doc, null, 2) + '\n');
      expect(pieces.length).toBe(2 + Math.ceil(n / 200));
    });
  }
  it('finds the array wherever its key is, and not in a string value that names it', () => {
    const doc = { note: '"pods": []', pods: [1, 2, 3], after: { pods: 'x' } };
    expect([...jsonPieces(doc, 'pods', 2)].join('')).toBe(JSON.stringify(doc, null, 2) + '\n');
  });
});
