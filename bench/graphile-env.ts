/**
 * Imported first by bench/main.ts: Grafast reads GRAPHILE_ENV once, when it loads, and the bench
 * measures the server in the mode jobdeck serves in.
 */
process.env['GRAPHILE_ENV'] ??= 'production';
