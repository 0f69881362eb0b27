// A faster first check of stored events for replay: each event type's zod schema compiled once into a plain predicate
// that says "valid, and zod would return it unchanged". It knows only the zod features whose output equals their input
// (strict objects, strings with lengths and patterns, safe integers and bounds, literals, enums, arrays, optionals,
// nullables, records, unions, and other checks that only judge, such as refinements, which it runs as zod does);
// anything else — defaults, transforms — makes it say "ask zod". A union's options are tried in zod's order, so one it
// cannot compile says "ask zod" only if reached. A false
// answer always falls back to zod, so messages and defaults come from zod alone; test/events/fast-check.test.ts holds it
// to zod's verdicts over mutated events.
import type { z } from 'zod';

type Check = (v: unknown) => boolean;
// zod 4's definitions, as far as this reads them
interface Def {
  type: string;
  checks?: { _zod: { def: Record<string, unknown> } }[];
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  element?: z.ZodType;
  values?: unknown[];
  entries?: Record<string, unknown>;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The predicate for a schema, or null where it uses anything this does not know (zod decides those alone). */
export function compile(schema: z.ZodType): Check | null {
  const d = defOf(schema);
  const checks = d.checks ?? [];
  switch (d.type) {
    case 'string': {
      const parts: Check[] = [(v) => typeof v === 'string'];
      for (const c of checks) {
        const cd = c._zod.def;
        if (cd.check === 'min_length') parts.push((v) => (v as string).length >= (cd.minimum as number));
        else if (cd.check === 'max_length') parts.push((v) => (v as string).length <= (cd.maximum as number));
        else if (cd.check === 'length_equals') parts.push((v) => (v as string).length === (cd.length as number));
        else if (cd.check === 'string_format' && cd.format === 'regex') {
          const re = cd.pattern as RegExp;
          parts.push((v) => {
            re.lastIndex = 0;
            return re.test(v as string);
          });
        } else if (!zodCheck(c, parts)) return null;
      }
      return all(parts);
    }
    case 'number': {
      const parts: Check[] = [(v) => typeof v === 'number' && Number.isFinite(v)];
      for (const c of checks) {
        const cd = c._zod.def;
        if (cd.check === 'number_format' && cd.format === 'safeint') parts.push((v) => Number.isSafeInteger(v));
        else if (cd.check === 'greater_than') parts.push(cd.inclusive ? (v) => (v as number) >= (cd.value as number) : (v) => (v as number) > (cd.value as number));
        else if (cd.check === 'less_than') parts.push(cd.inclusive ? (v) => (v as number) <= (cd.value as number) : (v) => (v as number) < (cd.value as number));
        else if (!zodCheck(c, parts)) return null;
      }
      return all(parts);
    }
    case 'boolean':
      return checks.length ? null : (v) => typeof v === 'boolean';
    case 'literal': {
      const values = d.values ?? [];
      return checks.length ? null : (v) => values.includes(v);
    }
    case 'enum': {
      const values = Object.values(d.entries ?? {});
      return checks.length ? null : (v) => values.includes(v);
    }
    case 'optional':
    case 'nullable': {
      const inner = d.innerType ? compile(d.innerType) : null;
      if (!inner || checks.length) return null;
      return d.type === 'optional' ? (v) => v === undefined || inner(v) : (v) => v === null || inner(v);
    }
    case 'default': {
      // a value given is the inner schema's; a missing one takes the default: zod's business
      const inner = d.innerType ? compile(d.innerType) : null;
      return inner && !checks.length ? (v) => v !== undefined && inner(v) : null;
    }
    case 'array': {
      const el = d.element ? compile(d.element) : null;
      if (!el) return null;
      let min = 0;
      let max = Infinity;
      const refined: Check[] = [];
      for (const c of checks) {
        const cd = c._zod.def;
        if (cd.check === 'min_length') min = cd.minimum as number;
        else if (cd.check === 'max_length') max = cd.maximum as number;
        else if (!zodCheck(c, refined)) return null;
      }
      const base: Check = (v) => Array.isArray(v) && v.length >= min && v.length <= max && v.every(el);
      return refined.length ? all([base, ...refined]) : base;
    }
    case 'record': {
      const key = d.keyType ? compile(d.keyType) : null;
      const val = d.valueType ? compile(d.valueType) : null;
      if (!key || !val || checks.length) return null;
      return (v) => isPlain(v) && Object.entries(v as object).every(([k, x]) => key(k) && val(x));
    }
    case 'union': {
      // zod returns the first option that takes the value: an option before it that this cannot judge is "ask zod"
      const opts = (d.options ?? []).map(compile);
      if (checks.length || !opts[0]) return null;
      return (v) => {
        for (const o of opts) {
          if (!o) return false;
          if (o(v)) return true;
        }
        return false;
      };
    }
    case 'object': {
      const refined: Check[] = [];
      for (const c of checks) if (!zodCheck(c, refined)) return null;
      // strict (catchall never) and strip objects alike: an unknown key is "ask zod" (an error, or stripped)
      if (d.catchall && defOf(d.catchall).type !== 'never') return null;
      const fields: [string, Check, boolean][] = [];
      for (const [k, s] of Object.entries(d.shape ?? {})) {
        const c = compile(s);
        if (!c) return null;
        fields.push([k, c, defOf(s).type === 'optional']);
      }
      const known = new Set(fields.map((f) => f[0]));
      return (v) => {
        if (!isPlain(v)) return false;
        for (const [k, c, optional] of fields) {
          const x = (v as Record<string, unknown>)[k];
          if (x === undefined ? !optional : !c(x)) return false;
        }
        for (const k in v as object) if (!known.has(k)) return false;
        for (const r of refined) if (!r(v)) return false;
        return true;
      };
    }
    default:
      return null;
  }
}

/**
 * Any other check (a refinement — zod's `refine`/`superRefine` — or a string format such as `startsWith`), run as zod
 * runs it, on a value every check before it passed: the value passes if it adds no issue. Added to `parts` (true), or
 * false for one that changes the value (`overwrite`: trim, lower case), is conditional, or is asynchronous ("ask zod").
 */
function zodCheck(c: { _zod: { def: Record<string, unknown> } }, parts: Check[]): boolean {
  const cd = c._zod.def;
  const run = (c._zod as { check?: (payload: { value: unknown; issues: unknown[] }) => unknown }).check;
  if (cd.check === 'overwrite' || cd.when || typeof run !== 'function') return false;
  parts.push((v) => {
    const payload = { value: v, issues: [] as unknown[] };
    const r = run(payload);
    return !(r instanceof Promise) && payload.issues.length === 0;
  });
  return true;
}

function all(parts: Check[]): Check {
  return parts.length === 1 ? parts[0] : (v) => parts.every((p) => p(v));
}

function isPlain(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
