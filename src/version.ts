// The version of hyper, read once from its package.json (found from src/ under vitest, dist/ when built, or a bundle).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-root.js';

export const VERSION: string = REPO_ROOT ? (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version : '0.0.0-unknown';
