// SVG charts without a dependency: grouped bars with min-max whiskers, value labels, a legend and an
// optional dashed target line. Made to be looked at: every axis labelled with its unit.

export interface BarValue {
  median: number | null;
  min?: number | null;
  max?: number | null;
}

export interface BarSeries {
  name: string;
  color: string;
  values: (BarValue | null)[];
}

export interface BarChart {
  title: string;
  subtitle?: string;
  /** One label per group along the x axis ("\n" breaks a label into lines). */
  groups: string[];
  xLabel: string;
  yLabel: string;
  series: BarSeries[];
  /** Dashed horizontal lines, e.g. the target fps. */
  targets?: { value: number; label: string; color?: string }[];
  /** A logarithmic y axis (for values spanning decades); bars start at the bottom decade. */
  log?: boolean;
  /** Digits after the point in value labels (default: 1 below 10, else 0). */
  digits?: number;
  width?: number;
  height?: number;
  /** A line of small print under the chart (e.g. the machine and date). */
  footnote?: string;
}

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const ok = (x: number | null | undefined): x is number => typeof x === "number" && Number.isFinite(x);

/** A round axis maximum and tick step covering `max` with about five ticks. */
export function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step - 1e-9) * step, step };
}

/** Splits text into lines of at most `max` characters at spaces. */
export function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Rough width of text in px at 12 px DejaVu Sans. */
const textWidth = (s: string, size = 12) => s.length * size * 0.53;

function label(x: number, digits?: number): string {
  const d = digits ?? (Math.abs(x) < 10 ? 1 : 0);
  return x.toFixed(d);
}

export function barChart(c: BarChart): string {
  const W = c.width ?? 820;
  const H0 = c.height ?? 440;
  const left = 72;
  const right = 24;
  const subtitle = c.subtitle ? wrap(c.subtitle, Math.floor((W - left - right) / textWidth("x"))) : [];
  // Legend entries flow into rows.
  // Legend entries (bars, then the dashed lines) flow into rows.
  const targets = c.targets ?? [];
  const entries = [...c.series.map((s) => ({ name: s.name, color: s.color, line: false })), ...targets.map((t) => ({ name: t.label, color: t.color ?? "#d62728", line: true }))];
  const legend: { e: (typeof entries)[number]; x: number; row: number }[] = [];
  let lx = left;
  let row = 0;
  for (const e of entries) {
    const w = (e.line ? 34 : 20) + textWidth(e.name);
    if (lx + w > W - right && lx > left) {
      lx = left;
      row++;
    }
    legend.push({ e, x: lx, row });
    lx += w + 16;
  }
  const legendTop = 50 + subtitle.length * 16;
  const top = legendTop + (row + 1) * 22 + 8;
  const groupLines = Math.max(1, ...c.groups.map((g) => g.split("\n").length));
  const bottom = 50 + groupLines * 15 + (c.footnote ? 16 : 0);
  const H = H0 + subtitle.length * 16 + row * 22 + (groupLines - 1) * 15;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const values = c.series.flatMap((s) => s.values.flatMap((v) => (v ? [v.max, v.median, v.min] : []))).filter(ok);
  const maxValue = Math.max(...values, ...targets.map((t) => t.value * 1.08), 0);
  let y: (v: number) => number;
  const ticks: number[] = [];
  if (c.log) {
    const positive = values.filter((v) => v > 0);
    const lo = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)));
    const want = maxValue * 1.25;
    const mag = 10 ** Math.floor(Math.log10(want));
    const hi = [1, 2, 5, 10].map((m) => m * mag).find((h) => h >= want)!;
    y = (v) => top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
    for (let d = lo; d <= hi * 1.0001; d *= 10) for (const m of [1, 2, 5]) if (d * m <= hi * 1.0001) ticks.push(d * m);
  } else {
    const { top: yTop, step } = niceScale(maxValue * 1.1);
    y = (v) => top + plotH - (v / yTop) * plotH;
    for (let v = 0; v <= yTop + 1e-9; v += step) ticks.push(v);
  }
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="12">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${left}" y="26" font-size="17" font-weight="bold" fill="#111">${escapeXml(c.title)}</text>`,
  );
  subtitle.forEach((line, i) => out.push(`<text x="${left}" y="${46 + i * 16}" font-size="12" fill="#555">${escapeXml(line)}</text>`));
  for (const { e, x, row: r } of legend) {
    const ly = legendTop + r * 22 + 12;
    if (e.line) out.push(`<line x1="${x}" x2="${x + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${e.color}" stroke-width="2" stroke-dasharray="7 5"/>`);
    else out.push(`<rect x="${x}" y="${ly - 11}" width="14" height="14" rx="2" fill="${e.color}"/>`);
    out.push(`<text x="${x + (e.line ? 34 : 20)}" y="${ly}" fill="#222">${escapeXml(e.name)}</text>`);
  }
  // Grid and y axis.
  for (const v of ticks) {
    const yy = y(v).toFixed(1);
    const major = c.log ? Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 : true;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="${v === ticks[0] ? "#444" : major ? "#dcdcdc" : "#f0f0f0"}" stroke-width="1"/>`);
    out.push(`<text x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="${major ? "#444" : "#999"}">${Number(v.toFixed(6))}</text>`);
  }
  out.push(
    `<text transform="translate(20 ${(top + plotH / 2).toFixed(1)}) rotate(-90)" text-anchor="middle" fill="#222" font-size="13">${escapeXml(c.yLabel + (c.log ? ", log scale" : ""))}</text>`,
  );
  // Bars.
  const base = top + plotH;
  const groupW = plotW / c.groups.length;
  const n = c.series.length;
  const barW = Math.min(64, (groupW * 0.76) / n);
  let whiskers = false;
  c.groups.forEach((g, gi) => {
    const gx = left + groupW * gi + groupW / 2;
    g.split("\n").forEach((line, li) =>
      out.push(`<text x="${gx.toFixed(1)}" y="${base + 20 + li * 15}" text-anchor="middle" fill="#222" font-size="13">${escapeXml(line)}</text>`),
    );
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      const x = gx - (n * barW) / 2 + si * barW + 2;
      const w = barW - 4;
      if (!v || !ok(v.median)) {
        out.push(`<text x="${(x + w / 2).toFixed(1)}" y="${base - 6}" text-anchor="middle" fill="#888" font-size="11">n/a</text>`);
        return;
      }
      const yv = y(v.median);
      out.push(
        `<rect x="${x.toFixed(1)}" y="${yv.toFixed(1)}" width="${w.toFixed(1)}" height="${Math.max(0, base - yv).toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${s.name}, ${g}: ${label(v.median, c.digits)}`)}</title></rect>`,
      );
      let labelY = yv - 5;
      if (ok(v.min) && ok(v.max) && v.max - v.min > 0) {
        whiskers = true;
        const cx = (x + w / 2).toFixed(1);
        const [y1, y2] = [y(v.min).toFixed(1), y(v.max).toFixed(1)];
        out.push(`<line x1="${cx}" x2="${cx}" y1="${y1}" y2="${y2}" stroke="#222" stroke-width="1.2"/>`);
        for (const yy of [y1, y2]) out.push(`<line x1="${(x + w / 2 - 5).toFixed(1)}" x2="${(x + w / 2 + 5).toFixed(1)}" y1="${yy}" y2="${yy}" stroke="#222" stroke-width="1.2"/>`);
        labelY = Math.min(labelY, y(v.max) - 5);
      }
      out.push(`<text x="${(x + w / 2).toFixed(1)}" y="${labelY.toFixed(1)}" text-anchor="middle" fill="#111" font-size="11" font-weight="bold">${label(v.median, c.digits)}</text>`);
    });
  });
  for (const t of targets) {
    const ty = y(t.value).toFixed(1);
    const color = t.color ?? "#d62728";
    out.push(`<line x1="${left}" x2="${W - right}" y1="${ty}" y2="${ty}" stroke="${color}" stroke-width="1.5" stroke-dasharray="7 5"/>`);
  }
  out.push(`<text x="${left + plotW / 2}" y="${base + 29 + groupLines * 15}" text-anchor="middle" fill="#222" font-size="13">${escapeXml(c.xLabel)}</text>`);
  const foot = [c.footnote, whiskers ? "whiskers: min to max over runs" : ""].filter(Boolean).join(" · ");
  if (foot) out.push(`<text x="${left}" y="${H - 10}" fill="#777" font-size="10">${escapeXml(foot)}</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
