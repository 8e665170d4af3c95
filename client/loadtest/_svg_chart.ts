/**
 * A small line-chart renderer to inline SVG, for the HTML report: linear or
 * logarithmic axes, several series, shaded bands (the run's phases), tick
 * labels. No scripts, no external resources.
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  /** Legend label. */
  name: string;
  /** CSS colour. */
  color: string;
  /** Points as [x, y], in increasing x. */
  points: [number, number][];
  /** Dashed line. */
  dashed?: boolean;
}

/** A shaded stretch of the x axis. */
export interface Band {
  /** Where it starts. */
  from: number;
  /** Where it ends. */
  to: number;
  /** Label at the top. */
  label: string;
  /** CSS colour (with alpha). */
  color: string;
}

/** How an axis maps values. */
export interface Axis {
  /** Axis title. */
  title: string;
  /** Logarithmic scale (values must be positive). */
  log?: boolean;
  /** Lowest value shown; default from the data. */
  min?: number;
  /** Highest value shown; default from the data. */
  max?: number;
  /** Tick positions and labels; default computed. */
  ticks?: [number, string][];
  /** Formats computed tick labels. */
  format?: (value: number) => string;
}

/** Everything a chart shows. */
export interface Chart {
  /** Heading above the chart. */
  title: string;
  /** The lines. */
  series: Series[];
  /** The horizontal axis. */
  x: Axis;
  /** The vertical axis. */
  y: Axis;
  /** Shaded stretches. */
  bands?: Band[];
}

const WIDTH = 760;
const HEIGHT = 300;
const MARGIN = { left: 70, right: 20, top: 30, bottom: 50 };

/**
 * Escape text for HTML and SVG.
 *
 * @param text The text.
 * @returns The escaped text.
 */
export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (max <= min) return [min];
  const rough = (max - min) / count;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max; value += step) {
    ticks.push(Math.round(value / step) * step);
  }
  return ticks;
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (
    let power = Math.floor(Math.log10(min));
    power <= Math.ceil(Math.log10(max));
    power++
  ) {
    const value = Math.pow(10, power);
    if (value >= min * 0.999 && value <= max * 1.001) ticks.push(value);
  }
  return ticks;
}

function defaultFormat(value: number): string {
  const size = Math.abs(value);
  if (size >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (size >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`;
  if (size >= 1 || size === 0) return `${+value.toPrecision(3)}`;
  return `${+value.toPrecision(2)}`;
}

function scale(axis: Axis, values: number[], from: number, to: number) {
  const finite = values.filter((v) =>
    Number.isFinite(v) && (!axis.log || v > 0)
  );
  let min = axis.min ?? (finite.length ? Math.min(...finite) : 0);
  let max = axis.max ?? (finite.length ? Math.max(...finite) : 1);
  if (!axis.log && axis.min === undefined) min = Math.min(0, min);
  if (axis.log) {
    min = Math.max(min, 1e-3);
    if (axis.min === undefined) min = Math.pow(10, Math.floor(Math.log10(min)));
    if (axis.max === undefined) max = Math.pow(10, Math.ceil(Math.log10(max)));
  }
  if (max <= min) max = axis.log ? min * 10 : min + 1;
  const map = axis.log
    ? (v: number) =>
      from +
      (Math.log10(Math.max(v, min)) - Math.log10(min)) /
        (Math.log10(max) - Math.log10(min)) * (to - from)
    : (v: number) => from + (v - min) / (max - min) * (to - from);
  const ticks: [number, string][] = axis.ticks ??
    (axis.log ? logTicks(min, max) : niceTicks(min, max, 5)).map((v) => [
      v,
      (axis.format ?? defaultFormat)(v),
    ]);
  return { map, ticks, min, max };
}

/**
 * Render a chart as an inline `<svg>` element.
 *
 * @param chart What to draw.
 * @returns The SVG markup.
 */
export function renderChart(chart: Chart): string {
  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const top = MARGIN.top;
  const bottom = HEIGHT - MARGIN.bottom;
  const xs = chart.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = chart.series.flatMap((s) => s.points.map((p) => p[1]));
  const x = scale(chart.x, xs, left, right);
  const y = scale(chart.y, ys, bottom, top);
  const parts: string[] = [];
  parts.push(
    `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${
      escapeXml(chart.title)
    }">`,
  );
  for (const band of chart.bands ?? []) {
    const from = Math.max(left, x.map(band.from));
    const to = Math.min(right, x.map(band.to));
    if (to <= from) continue;
    parts.push(
      `<rect x="${from.toFixed(1)}" y="${top}" width="${
        (to - from).toFixed(1)
      }" height="${bottom - top}" fill="${band.color}"/>`,
      `<text x="${((from + to) / 2).toFixed(1)}" y="${top - 6}" class="band">${
        escapeXml(band.label)
      }</text>`,
    );
  }
  for (const [value, label] of y.ticks) {
    const position = y.map(value).toFixed(1);
    parts.push(
      `<line x1="${left}" x2="${right}" y1="${position}" y2="${position}" class="grid"/>`,
      `<text x="${left - 6}" y="${position}" class="ytick">${
        escapeXml(label)
      }</text>`,
    );
  }
  for (const [value, label] of x.ticks) {
    const position = x.map(value).toFixed(1);
    parts.push(
      `<line x1="${position}" x2="${position}" y1="${top}" y2="${bottom}" class="grid"/>`,
      `<text x="${position}" y="${bottom + 16}" class="xtick">${
        escapeXml(label)
      }</text>`,
    );
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${
      bottom - top
    }" class="frame"/>`,
    `<text x="${(left + right) / 2}" y="${HEIGHT - 12}" class="xtitle">${
      escapeXml(chart.x.title)
    }</text>`,
    `<text x="16" y="${
      (top + bottom) / 2
    }" class="ytitle" transform="rotate(-90 16 ${(top + bottom) / 2})">${
      escapeXml(chart.y.title)
    }</text>`,
  );
  chart.series.forEach((series, index) => {
    const points = series.points.filter(([px, py]) =>
      Number.isFinite(px) && Number.isFinite(py) && (!chart.y.log || py > 0)
    );
    if (points.length > 0) {
      const path = points.map(([px, py], i) =>
        `${i === 0 ? "M" : "L"}${x.map(px).toFixed(1)},${y.map(py).toFixed(1)}`
      ).join("");
      parts.push(
        `<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2"${
          series.dashed ? ' stroke-dasharray="5 4"' : ""
        }/>`,
      );
      if (points.length < 40) {
        for (const [px, py] of points) {
          parts.push(
            `<circle cx="${x.map(px).toFixed(1)}" cy="${
              y.map(py).toFixed(1)
            }" r="2.5" fill="${series.color}"/>`,
          );
        }
      }
    }
    const legendX = left + 10 + index * 120;
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 18}" y1="${top + 14}" y2="${
        top + 14
      }" stroke="${series.color}" stroke-width="3"/>`,
      `<text x="${legendX + 22}" y="${top + 18}" class="legend">${
        escapeXml(series.name)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
