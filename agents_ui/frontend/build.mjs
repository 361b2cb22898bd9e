// Bundles JsSIP (CommonJS on npm, no browser build) into one ES module the console imports:
// agents_ui/static/vendor/jssip.js, default export = the JsSIP namespace.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outfile = resolve(here, '../static/vendor/jssip.js');
mkdirSync(dirname(outfile), { recursive: true });

await build({
  // A tiny entry so the ESM output has a default export (JsSIP itself is module.exports).
  stdin: {
    contents: "import JsSIP from 'jssip'; export default JsSIP;",
    resolveDir: here,
    sourcefile: 'jssip-entry.js',
  },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  legalComments: 'eof', // keep the MIT notices in the file we serve
  define: { 'process.env.NODE_ENV': '"production"' },
  outfile,
  logLevel: 'warning',
});
console.log(`[assets] wrote ${outfile}`);
