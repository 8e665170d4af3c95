/**
 * The `--report` page: one self-contained HTML file (inline CSS and SVG, no
 * scripts, no network fetches) with the headline figures, throughput and
 * latency percentiles over time, the latency distribution and the delivery
 * accounting.
 *
 * @module
 */

import { describeEndpoints } from "./options.ts";
import { describeOrder } from "./order_check.ts";
import { type Band, escapeXml, renderChart } from "./_svg_chart.ts";
import {
  formatByteRate,
  formatCompact,
  formatCount,
  formatMilliseconds,
} from "./format.ts";
import {
  type LoadTestResult,
  type Phase,
  unrelayedExplanation,
} from "./result.ts";

const PHASE_COLORS: Record<Phase, string> = {
  connect: "rgba(120,120,120,0.10)",
  warmup: "rgba(255,170,0,0.12)",
  measure: "rgba(0,140,255,0.06)",
  drain: "rgba(120,120,120,0.10)",
};

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:820px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6475;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .value{font-size:22px;font-weight:600}.card .label{color:#5b6475;font-size:13px}
.pass{color:#0a7f3f}.fail{color:#c0262d}
.verdict{font-weight:600;padding:10px 14px;border-radius:8px;margin:16px 0;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
figure{background:#fff;margin:12px 0;padding:8px 8px 0;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
figcaption{font-weight:600;padding:4px 8px}
svg{width:100%;height:auto;font-size:12px}
svg .grid{stroke:#e3e6eb}svg .frame{fill:none;stroke:#b9bfca}
svg .ytick{text-anchor:end;dominant-baseline:middle;fill:#5b6475}
svg .xtick{text-anchor:middle;fill:#5b6475}
svg .xtitle,svg .ytitle{text-anchor:middle;fill:#1d2330}
svg .band{text-anchor:middle;fill:#5b6475;font-size:11px}
svg .legend{fill:#1d2330}
table{border-collapse:collapse;background:#fff;width:100%;border-radius:8px;overflow:hidden;box-shadow:0 1px 2px rgba(0,0,0,.08)}
td,th{padding:6px 12px;border-bottom:1px solid #eef0f3;text-align:right}
td:first-child,th:first-child{text-align:left}
`;

function phaseBands(result: LoadTestResult): Band[] {
  const bands: Band[] = [];
  for (const entry of result.timeline) {
    const last = bands.at(-1);
    if (last !== undefined && last.label === entry.phase) {
      last.to = entry.second;
    } else {
      bands.push({
        from: entry.second - 1,
        to: entry.second,
        label: entry.phase,
        color: PHASE_COLORS[entry.phase],
      });
    }
  }
  return bands;
}

function card(value: string, label: string, className = ""): string {
  return `<div class="card"><div class="value ${className}">${
    escapeXml(value)
  }</div><div class="label">${escapeXml(label)}</div></div>`;
}

function figure(caption: string, svg: string): string {
  return `<figure><figcaption>${
    escapeXml(caption)
  }</figcaption>${svg}</figure>`;
}

function row(cells: (string | number)[], header = false): string {
  const tag = header ? "th" : "td";
  return `<tr>${
    cells.map((cell) => `<${tag}>${escapeXml(String(cell))}</${tag}>`).join("")
  }</tr>`;
}

/** Percentile positions on the distribution chart's x axis. */
function percentileX(percentile: number): number {
  return Math.log10(1 / Math.max(1e-7, 1 - percentile / 100));
}

/**
 * Render a run as a self-contained HTML page.
 *
 * @param result The run's figures.
 * @returns The page.
 */
export function renderHtmlReport(result: LoadTestResult): string {
  const { options, throughput, delivery, latencyMs, connections, generator } =
    result;
  const bands = phaseBands(result);
  const seconds = { title: "seconds since start", min: 0 };
  const timeline = result.timeline;
  const mode = throughput.mode === "open"
    ? `open loop at ${formatCount(options.rate)} msg/s`
    : `closed loop, window ${options.window}`;
  const title = `Load test of ${options.target} at ${
    describeEndpoints(options)
  }`;

  const throughputChart = renderChart({
    title: "Deliveries per second",
    series: [
      {
        name: "delivered/s",
        color: "#1f6feb",
        points: timeline.map((e) => [e.second, e.delivered]),
      },
      {
        name: "sent/s × clients",
        color: "#8b949e",
        dashed: true,
        points: timeline.map((e) => [e.second, e.sent * options.clients]),
      },
    ],
    x: seconds,
    y: { title: "per second" },
    bands,
  });
  const latencyChart = renderChart({
    title: "Latency percentiles per second",
    series: [
      ["p50", "#2da44e"],
      ["p90", "#d29922"],
      ["p99", "#cf222e"],
      ["max", "#6e40c9"],
    ].map(([key, color]) => ({
      name: key,
      color,
      points: timeline.filter((e) => e.latencyMs.count > 0).map((
        e,
      ) => [e.second, e.latencyMs[key as "p50" | "p90" | "p99" | "max"]]),
    })),
    x: seconds,
    y: { title: "milliseconds (log)", log: true },
    bands,
  });
  const distribution = result.latencyDistribution;
  // The maximum is the last of `count` values: it sits at the percentile
  // 100 - 100 / count, one step past the last computed point.
  const maxX = Math.log10(Math.max(1, latencyMs.count));
  const distributionTicks: [number, string][] = [
    [50, "50%"],
    [90, "90%"],
    [99, "99%"],
    [99.9, "99.9%"],
    [99.99, "99.99%"],
    [99.999, "99.999%"],
  ].map(([p, label]) => [percentileX(p as number), label as string]);
  const distributionChart = renderChart({
    title: "Latency distribution",
    series: [{
      name: "latency",
      color: "#1f6feb",
      points: distribution.map((point) => [
        point.percentile < 100 ? percentileX(point.percentile) : maxX,
        point.ms,
      ]),
    }],
    x: {
      title: "percentile",
      ticks: [
        ...distributionTicks.filter(([x]) => x < maxX - 0.15),
        [maxX, "max"],
      ],
      min: 0,
    },
    y: { title: "milliseconds (log)", log: true },
  });
  const connectionsChart = renderChart({
    title: "Connections and generator CPU",
    series: [{
      name: "connections",
      color: "#1f6feb",
      points: timeline.map((e) => [e.second, e.connections]),
    }],
    x: seconds,
    y: { title: "open connections" },
    bands,
  });
  const cpuChart = renderChart({
    title: "Generator CPU",
    series: [{
      name: "worker cores",
      color: "#cf222e",
      points: timeline.filter((e) => e.generatorCores >= 0).map((
        e,
      ) => [e.second, e.generatorCores]),
    }],
    x: seconds,
    y: { title: "cores", min: 0, max: Math.max(1, generator.workers) },
    bands,
  });

  const explanation = unrelayedExplanation(result);
  const verdict =
    (result.verdict.passed
      ? `<div class="verdict pass">PASSED: every delivery arrived once and in order.</div>`
      : `<div class="verdict fail">FAILED: ${
        escapeXml(result.verdict.failures.join("; "))
      }</div>`) +
    (explanation !== null && result.verdict.passed
      ? `<div class="verdict">Note: ${escapeXml(explanation)}</div>`
      : "");
  const percentiles = [
    ["p50", latencyMs.p50],
    ["p90", latencyMs.p90],
    ["p99", latencyMs.p99],
    ["p99.9", latencyMs.p99_9],
    ["max", latencyMs.max],
  ] as const;
  const errors = Object.entries(result.errors.disconnects).map(([reason, n]) =>
    row([`disconnected: ${reason}`, formatCount(n)])
  ).concat(
    Object.entries(result.errors.serverErrors).map(([text, n]) =>
      row([`server error: ${text}`, formatCount(n)])
    ),
  );
  if (options.stalled > 0) {
    errors.push(
      row([
        "stalled connections dropped by the server",
        `${formatCount(result.stalled.droppedByServer)} of ${
          formatCount(result.stalled.joined)
        }`,
      ]),
    );
  }

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeXml(title)}</title><style>${STYLE}</style></head>
<body><main>
<h1>${escapeXml(title)}</h1>
<p class="sub">${escapeXml(result.startedAt)} · ${
    formatCount(options.clients)
  } clients${options.idle > 0 ? ` + ${formatCount(options.idle)} idle` : ""}${
    options.stalled > 0 ? ` + ${formatCount(options.stalled)} stalled` : ""
  } · ${options.publishers} publishers · ${options.size}-byte payloads (printable text) · ${
    escapeXml(mode)
  } · ${throughput.measuredSeconds} s measured · ${generator.workers} worker${
    generator.workers === 1 ? "" : "s"
  }</p>
${verdict}
<div class="cards">
${card(formatCompact(throughput.deliveriesPerSecond), "deliveries / s")}
${card(formatCompact(throughput.publishedPerSecond), "messages published / s")}
${card(`${formatMilliseconds(latencyMs.p99)} ms`, "p99 latency")}
${
    card(
      formatCount(delivery.lost),
      "deliveries lost",
      delivery.lost > 0 ? "fail" : "pass",
    )
  }
</div>
<h2>Throughput</h2>
${figure("Deliveries per second", throughputChart)}
<h2>Latency</h2>
<p class="sub">From each message's intended send time to its arrival, so a stalled server cannot hide behind coordinated omission.</p>
${
    figure(
      "Latency percentiles per second (all deliveries of that second)",
      latencyChart,
    )
  }
${figure("Latency distribution over the measured window", distributionChart)}
<table>${row(["", ...percentiles.map(([name]) => name)], true)}${
    row([
      `latency, ms (${formatCount(latencyMs.count)} deliveries)`,
      ...percentiles.map(([, value]) => formatMilliseconds(value)),
    ])
  }${
    result.sendLagMs.count > 0
      ? row([
        "send lag per batch, ms",
        ...[
          result.sendLagMs.p50,
          result.sendLagMs.p90,
          result.sendLagMs.p99,
          result.sendLagMs.p99_9,
          result.sendLagMs.max,
        ].map(formatMilliseconds),
      ])
      : ""
  }${
    row([
      "connect time, ms",
      ...[
        connections.connectTimeMs.p50,
        connections.connectTimeMs.p90,
        connections.connectTimeMs.p99,
        connections.connectTimeMs.p99_9,
        connections.connectTimeMs.max,
      ].map(formatMilliseconds),
    ])
  }</table>
<h2>Delivery accounting</h2>
<table>
${row(["expected (published × receivers)", formatCount(delivery.expected)])}
${row(["delivered", formatCount(delivery.delivered)])}
${row(["lost", formatCount(delivery.lost)])}
${row(["duplicated", formatCount(delivery.duplicates)])}
${row(["out of order", formatCount(delivery.reordered)])}
${row(["from unexpected senders", formatCount(delivery.unexpected)])}
${row(["stamped with the wrong sender", formatCount(delivery.wrongSender)])}
${row(["order across receivers", describeOrder(result.order)])}
${
    connections.perTarget.length > 1
      ? row([
        "connections per node",
        connections.perTarget.map(({ target, opened }) =>
          `${target} ${formatCount(opened)}`
        ).join(", "),
      ])
      : ""
  }
${row(["messages due but never sent", formatCount(throughput.unsent)])}
${
    row([
      "published messages relayed to nobody",
      formatCount(delivery.unrelayed),
    ])
  }
${
    row([
      "refusal notices (ERROR about a CHAT)",
      formatCount(delivery.refusalNotices),
    ])
  }
${
    row([
      "connections opened",
      `${formatCount(connections.opened)} of ${
        formatCount(connections.requested)
      }`,
    ])
  }
${
    connections.originalProtocolPublishers > 0
      ? row([
        "publishers whose server sent no tag above CLOSE (one frame per write)",
        formatCount(connections.originalProtocolPublishers),
      ])
      : ""
  }
${
    connections.failureText.map((text) => row(["connect failures", text])).join(
      "",
    )
  }
${errors.join("")}
${
    row([
      "payload throughput",
      formatByteRate(throughput.payloadBytesPerSecond),
    ])
  }
${row(["wire throughput", formatByteRate(throughput.wireBytesPerSecond)])}
</table>
<h2>Connections and the generator</h2>
<p class="sub">The generator used ${
    generator.cpuSeconds.toFixed(2)
  } CPU seconds over ${generator.wallSeconds.toFixed(2)} s (${
    generator.cores.toFixed(2)
  } cores)${
    generator.limitedByGenerator
      ? ": it was busy 90% of the time or more, so it may have been the limit, not the server"
      : ""
  }.</p>
${figure("Open connections", connectionsChart)}
${
    timeline.some((e) => e.generatorCores >= 0)
      ? figure("Generator worker CPU (cores)", cpuChart)
      : `<p class="sub">The worker threads' CPU time could not be read in this runtime, so there is no CPU chart.</p>`
  }
</main></body></html>
`;
}
