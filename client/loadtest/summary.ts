/**
 * The final summary of a run as text, for standard output.
 *
 * @module
 */

import { formatByteRate, formatCount, formatMilliseconds } from "./format.ts";
import { describeEndpoints } from "./options.ts";
import { describeOrder } from "./order_check.ts";
import { type LoadTestResult, unrelayedExplanation } from "./result.ts";

function percentileRow(label: string, values: {
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
  max: number;
}): string {
  const cells = [values.p50, values.p90, values.p99, values.p99_9, values.max]
    .map((value) => formatMilliseconds(value).padStart(9));
  return `  ${label.padEnd(22)}${cells.join("")}`;
}

/**
 * Describe a run in a few aligned sections: what ran, connections,
 * throughput, latency, delivery accounting, errors, the generator's own
 * cost, and the verdict.
 *
 * @param result The run's figures.
 * @returns The summary, ending in a newline.
 */
export function formatSummary(result: LoadTestResult): string {
  const { options, connections, throughput, delivery, errors, generator } =
    result;
  const lines: string[] = [];
  const mode = throughput.mode === "open"
    ? `open loop at ${formatCount(options.rate)} msg/s`
    : `closed loop, window ${options.window} per publisher`;
  const over = options.transport === "ws" ? " over WebSocket" : "";
  lines.push(
    `Load test of ${options.target} at ${describeEndpoints(options)}${over}: ${
      formatCount(options.clients)
    } clients${options.idle > 0 ? ` + ${formatCount(options.idle)} idle` : ""}${
      options.stalled > 0 ? ` + ${formatCount(options.stalled)} stalled` : ""
    }, ${options.publishers} publishers, ${options.size}-byte payloads, ${mode}`,
    `  ${options.warmupSeconds} s warmup, ${throughput.measuredSeconds} s measured, up to ${options.drainSeconds} s drain, ${generator.workers} worker${
      generator.workers === 1 ? "" : "s"
    }`,
    "",
    "Connections",
    `  opened                ${formatCount(connections.opened)} of ${
      formatCount(connections.requested)
    } in ${connections.connectPhaseSeconds.toFixed(2)} s`,
  );
  if (connections.perTarget.length > 1) {
    lines.push(
      `  per node              ${
        connections.perTarget.map(({ target, opened }) =>
          `${target} ${formatCount(opened)}`
        ).join(", ")
      }`,
    );
  }
  for (const phrase of connections.failureText) {
    lines.push(`  failed                ${phrase}`);
  }
  if (connections.originalProtocolPublishers > 0) {
    lines.push(
      `  original protocol     ${
        formatCount(connections.originalProtocolPublishers)
      } publishers' server sent no tag above CLOSE (the original server?): one frame per write`,
    );
  }
  lines.push(
    "                           p50      p90      p99    p99.9      max",
    percentileRow("connect time (ms)", connections.connectTimeMs),
    "",
    "Throughput (measured window)",
    `  published             ${
      formatCount(throughput.publishedPerSecond)
    } msg/s (${formatCount(throughput.publishedMeasured)} messages)`,
    `  delivered             ${
      formatCount(throughput.deliveriesPerSecond)
    } deliveries/s (${formatCount(throughput.deliveredMeasured)})`,
    `  payload bytes         ${
      formatByteRate(throughput.payloadBytesPerSecond)
    } (wire ${formatByteRate(throughput.wireBytesPerSecond)})`,
  );
  if (throughput.unsent > 0) {
    lines.push(
      `  NOT SENT              ${
        formatCount(throughput.unsent)
      } messages were due but could not be sent: the rate was not kept`,
    );
  }
  lines.push(
    "",
    "Latency from intended send time (ms)",
    "                           p50      p90      p99    p99.9      max",
    percentileRow(
      `${formatCount(result.latencyMs.count)} deliveries`,
      result.latencyMs,
    ),
    ...(result.sendLagMs.count > 0
      ? [percentileRow("send lag per batch", result.sendLagMs)]
      : []),
    "",
    "Delivery (whole run, warmup included)",
    `  expected              ${formatCount(delivery.expected)}`,
    `  delivered             ${formatCount(delivery.delivered)}`,
    `  lost                  ${formatCount(delivery.lost)}`,
    `  duplicated            ${formatCount(delivery.duplicates)}`,
    `  out of order          ${formatCount(delivery.reordered)}`,
    `  unexpected sender     ${formatCount(delivery.unexpected)}`,
    `  order                 ${describeOrder(result.order)}`,
  );
  if (delivery.wrongSender > 0) {
    lines.push(`  wrong sender id       ${formatCount(delivery.wrongSender)}`);
  }
  if (delivery.unrelayed > 0 || delivery.refusalNotices > 0) {
    lines.push(
      `  relayed to nobody     ${
        formatCount(delivery.unrelayed)
      } published messages, lost to every receiver (${
        formatCount(delivery.refusalNotices)
      } refusal notices from the server)`,
    );
  }
  if (delivery.publishReplyMismatches > 0) {
    lines.push(
      `  short PUBLISH replies ${formatCount(delivery.publishReplyMismatches)}`,
    );
  }
  if (
    errors.disconnectCount > 0 || Object.keys(errors.serverErrors).length > 0
  ) {
    lines.push("", "Errors");
    for (const [reason, count] of Object.entries(errors.disconnects)) {
      lines.push(`  ${formatCount(count)} disconnected: ${reason}`);
    }
    for (const [text, count] of Object.entries(errors.serverErrors)) {
      lines.push(`  ${formatCount(count)} server errors: ${text}`);
    }
  }
  if (options.stalled > 0) {
    lines.push(
      "",
      "Stalled connections (joined, then stopped reading)",
      `  joined                ${formatCount(result.stalled.joined)} of ${
        formatCount(options.stalled)
      }`,
      `  dropped by server     ${formatCount(result.stalled.droppedByServer)}`,
    );
  }
  const busy = generator.workerBusy.every((share) => share >= 0)
    ? `; workers busy ${
      generator.workerBusy.map((share) => `${Math.round(share * 100)}%`)
        .join(", ")
    }`
    : "";
  lines.push(
    "",
    "Generator",
    `  CPU                   ${generator.cpuSeconds.toFixed(2)} s over ${
      generator.wallSeconds.toFixed(2)
    } s (${generator.cores.toFixed(2)} cores)${busy}`,
  );
  if (generator.limitedByGenerator) {
    lines.push(
      "  note                  the generator was busy 90% of the time or more: it may have been the limit (try more --workers)",
    );
  }
  lines.push("");
  const explanation = unrelayedExplanation(result);
  if (explanation !== null && result.verdict.passed) {
    lines.push(`Note: ${explanation}`);
  }
  if (result.verdict.passed) {
    lines.push("PASSED");
  } else {
    lines.push(`FAILED: ${result.verdict.failures.join("; ")}`);
  }
  return lines.join("\n") + "\n";
}
