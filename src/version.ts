// The version of hyper, read once from package.json (found from both src/ under vitest and dist/src/ when built).
import { existsSync, readFileSync } from 'node:fs';

const candidates = ['../package.json', '../../package.json'].map((p) => new URL(p, import.meta.url));
const found = candidates.find((u) => existsSync(u) && (JSON.parse(readFileSync(u, 'utf8')) as { name?: string }).name === 'hyper');

export const VERSION: string = found ? (JSON.parse(readFileSync(found, 'utf8')) as { version: string }).version : '0.0.0-unknown';
