import { build } from 'esbuild';
await build({ entryPoints: ['src/index.ts'], bundle: true, minify: true, outfile: 'dist/app.js' });
