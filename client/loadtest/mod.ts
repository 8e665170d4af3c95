/**
 * The hubbub load generator: opens many connections to a chat server
 * speaking hubbub's wire format (or Redis pub/sub, for comparison), makes
 * some of them publish at a fixed rate (open loop) or as fast as the server
 * answers (closed loop), checks every delivery exactly, and reports
 * throughput, latency percentiles from HDR histograms and the generator's
 * own cost. `deno task loadtest` is its command line; the benchmark drives
 * it too.
 *
 * @example Usage
 * ```ts no-eval
 * import { DEFAULT_OPTIONS, formatSummary, runLoadTest } from "./mod.ts";
 *
 * const result = await runLoadTest({ ...DEFAULT_OPTIONS, port: 9000, clients: 20, durationSeconds: 2 });
 * console.log(formatSummary(result));
 * ```
 *
 * @module
 */

export {
  DEFAULT_OPTIONS,
  type Endpoint,
  loadtestCommand,
  type LoadTestOptions,
  optionsFromFlags,
  parseTargets,
  validateOptions,
} from "./options.ts";
export {
  compareOrders,
  type OrderGroup,
  orderHashStep,
  type OrderVerdict,
} from "./order_check.ts";
export {
  type LoadTestHooks,
  type LoadTestProgress,
  runLoadTest,
} from "./run.ts";
export {
  type LoadTestResult,
  type Phase,
  type TimelineEntry,
  verdictOf,
} from "./result.ts";
export { formatSummary } from "./summary.ts";
export { renderHtmlReport } from "./report_html.ts";
export { DeliveryChecker, DeliveryOutcome } from "./delivery_checker.ts";
export {
  MAX_PAYLOAD_SIZE,
  MIN_PAYLOAD_SIZE,
  PAYLOAD_HEADER_SIZE,
  sharedClockMs,
} from "./payload.ts";
export {
  addEncodedHistogram,
  createHistogram,
  percentilesOf,
} from "./latency_histogram.ts";
export { TARGET_NAMES, type TargetName } from "./targets/mod.ts";
