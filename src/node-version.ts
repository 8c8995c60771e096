/**
 * jobdeck runs on Node >= 22.18 (Graphile Worker 0.18, PostGraphile 5). Imported first by every
 * entry point, so an older Node stops with one line that says so instead of a stack from deep
 * inside a dependency.
 */
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  throw new Error(`jobdeck needs Node >= 22.18; this is Node ${process.version}`);
}
