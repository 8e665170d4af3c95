/**
 * Number formatting shared by the summary, the progress line and the HTML
 * report.
 *
 * @module
 */

/**
 * A count with thousands separators, for example `1,234,567`.
 *
 * @param value The number.
 * @returns The formatted number.
 */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/**
 * A rate in a compact form, for example `1.23M` or `45.6k`.
 *
 * @param value The number.
 * @returns The formatted number.
 */
export function formatCompact(value: number): string {
  const size = Math.abs(value);
  if (size >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
  if (size >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (size >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return `${Math.round(value)}`;
}

/**
 * Bytes per second in binary units, for example `12.3 MiB/s`.
 *
 * @param value Bytes per second.
 * @returns The formatted rate.
 */
export function formatByteRate(value: number): string {
  if (value >= 1024 ** 3) return `${(value / 1024 ** 3).toFixed(2)} GiB/s`;
  if (value >= 1024 ** 2) return `${(value / 1024 ** 2).toFixed(1)} MiB/s`;
  if (value >= 1024) return `${(value / 1024).toFixed(1)} KiB/s`;
  return `${Math.round(value)} B/s`;
}

/**
 * Milliseconds with a precision that suits their size: `0.123`, `12.3`,
 * `1234`.
 *
 * @param value Milliseconds.
 * @returns The formatted number, without unit.
 */
export function formatMilliseconds(value: number): string {
  if (value < 1) return value.toFixed(3);
  if (value < 100) return value.toFixed(2);
  return value.toFixed(0);
}
