// A horizontal bar chart as an SVG document, for the benchmark report: our figures, the previous run's and the anchors'
// (published figures of other systems), each bar labelled with its value. Pure: data in, text out.

export interface Bar {
  label: string;
  value: number;
  /** ours: measured in this run; previous: the last run's JSON; anchor: another system's published figure. */
  kind: 'ours' | 'previous' | 'anchor';
}

const COLOURS: Record<Bar['kind'], string> = { ours: '#2f6fdf', previous: '#9bb7e8', anchor: '#b0b0b0' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChart(title: string, unit: string, bars: Bar[], o: { lowerIsBetter?: boolean } = {}): string {
  const rowH = 22;
  const labelW = 300;
  const plotW = 420;
  const top = 40;
  const height = top + bars.length * rowH + 40;
  const max = Math.max(1e-9, ...bars.map((b) => b.value));
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, (b.value / max) * plotW);
    const v = Number.isInteger(b.value) ? String(b.value) : b.value.toFixed(b.value < 10 ? 2 : 1);
    return `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end" font-size="12">${esc(b.label)}</text>` +
      `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${COLOURS[b.kind]}"/>` +
      `<text x="${labelW + w + 6}" y="${y + 15}" font-size="12">${v} ${esc(unit)}</text>`;
  });
  const legend = (['ours', 'previous', 'anchor'] as const).filter((k) => bars.some((b) => b.kind === k)).map((k, i) =>
    `<rect x="${labelW + i * 130}" y="${height - 26}" width="12" height="12" fill="${COLOURS[k]}"/><text x="${labelW + i * 130 + 18}" y="${height - 16}" font-size="12">${k === 'ours' ? 'this run' : k === 'previous' ? 'previous run' : 'published anchor'}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 120}" height="${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}${o.lowerIsBetter === false ? ' (higher is better)' : ' (lower is better)'}</text>` +
    rows.join('') + legend.join('') + '</svg>\n';
}
