// Prints the fault matrix (table.ts) as a markdown table, for the README: node dist/test/e2e/fault-matrix/markdown.js
// (quiet when a test runner loads it).
import { markdown } from './table.js';

if (!process.env.NODE_TEST_CONTEXT) process.stdout.write(`${markdown()}\n`);
