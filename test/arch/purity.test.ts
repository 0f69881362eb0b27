// Replay is pure: everything the model and the schemas load at runtime (the transitive import graph, read with TypeScript's
// own parser) stays inside an allow-list — no node built-ins, no NATS, no drivers, no store — and reads no clock.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = new URL('../../src/', import.meta.url).pathname;
const roots = ['model', 'events/schemas'];
/** Source files and folders the pure graph may reach, and the only packages it may load. */
// images/reference.ts: the pod spec validates image references with the same pure parser the image store uses
const allowedFiles = [/^model\//, /^events\/schemas\//, /^errors\.ts$/, /^images\/reference\.ts$/];
const allowedPackages = new Set(['xstate', 'zod']);

/** Runtime imports of one file: `import type` and imports whose every binding is a type are erased by tsc, so they do not count. */
function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  for (const st of sf.statements) {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      if (ts.isImportDeclaration(st)) {
        const c = st.importClause;
        if (c?.isTypeOnly) continue;
        const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
        if (c && !c.name && named && named.length > 0 && named.every((e) => e.isTypeOnly)) continue;
      } else if (st.isTypeOnly) continue;
      out.push(st.moduleSpecifier.text);
    }
  }
  ts.forEachChild(sf, function visit(n): void {
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) out.push(n.arguments[0].text);
    ts.forEachChild(n, visit);
  });
  return out;
}

function resolveLocal(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const c of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) if (existsSync(c)) return c;
  throw new Error(`${relative(src, from)} imports ${spec}, which does not resolve to a source file`);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Walks the runtime import graph from the roots; returns every violation as "file → import (why)". */
function violations(): { reached: string[]; bad: string[] } {
  const seen = new Set<string>();
  const bad: string[] = [];
  const queue = roots.flatMap((r) => tsFiles(join(src, r)));
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(src, file);
    if (!allowedFiles.some((re) => re.test(rel))) bad.push(`${rel} is reached from the pure model but is not on the allow-list`);
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith('.')) queue.push(resolveLocal(file, spec));
      else if (!allowedPackages.has(spec.split('/')[0])) bad.push(`${rel} → ${spec} (only ${[...allowedPackages].join(', ')} may be loaded)`);
    }
  }
  return { reached: [...seen].map((f) => relative(src, f)).sort(), bad };
}

describe('the pure model', () => {
  const { reached, bad } = violations();

  it('loads only the model, the schemas, the error classes, xstate and zod at runtime', () => {
    expect(reached).toContain('model/pod-machine.ts');
    expect(reached).toContain('model/cluster-view.ts');
    expect(bad).toEqual([]);
  });

  it('the checker sees through what it must: a runtime import of node:fs would be caught, a type import would not', () => {
    const sf = `import type { X } from 'node:fs';\nimport { type Y } from '@nats-io/kv';\nimport { readFileSync } from 'node:fs';\n`;
    const tmp = join(new URL('.', import.meta.url).pathname, '.probe.ts');
    try {
      ts.sys.writeFile(tmp, sf);
      expect(runtimeImports(tmp)).toEqual(['node:fs']);
    } finally {
      ts.sys.deleteFile?.(tmp);
    }
  });

  for (const file of reached) {
    it(`${file} reads no clock and no randomness`, () => {
      expect(readFileSync(join(src, file), 'utf8')).not.toMatch(/Date\.now\(|Math\.random\(|performance\.now\(|setTimeout\(|setInterval\(/);
    });
  }
});
