/**
 * `JOBDECK_OTEL=true`: the jobdeck CLI's own OpenTelemetry SDK, for `jobdeck start`, `worker` and
 * `serve` — a tracer provider exporting spans over OTLP/HTTP in batches (the exporter reads the
 * standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
 * `OTEL_EXPORTER_OTLP_HEADERS`; default http://localhost:4318/v1/traces), the service named by
 * `OTEL_SERVICE_NAME` (default `jobdeck`), and an AsyncLocalStorage context manager so that a span
 * stays active across awaits. Off by default, and loaded only when on. An application that embeds
 * jobdeck registers its own SDK instead: jobdeck's spans go to whatever provider is registered.
 */
import { context, trace } from '@opentelemetry/api';
import type { Logger } from '../logger.ts';
import { VERSION } from '../version.ts';

/** Registers the SDK; the function it returns flushes the spans not yet sent and unregisters it. */
export async function startTracing(logger: Logger): Promise<() => Promise<void>> {
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, hooks, resources] =
    await Promise.all([
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/resources'),
    ]);
  const exporter = new OTLPTraceExporter();
  const provider = new TracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': process.env['OTEL_SERVICE_NAME'] || 'jobdeck',
      'service.version': VERSION,
    }),
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  const contextManager = new hooks.AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  const endpoint =
    process.env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ||
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] ||
    'http://localhost:4318';
  logger.info(`OpenTelemetry: exporting job traces over OTLP/HTTP to ${endpoint}`);
  return async () => {
    try {
      await provider.forceFlush();
      await provider.shutdown();
    } catch (error) {
      logger.warn(`OpenTelemetry: could not send the last spans: ${(error as Error).message}`);
    } finally {
      trace.disable();
      context.disable();
    }
  };
}
