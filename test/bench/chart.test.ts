// The benchmark report's bar chart: one bar per figure, scaled to the largest, labelled with its value, well-formed SVG.
import { describe, expect, it } from 'vitest';
import { barChart } from '../../bench/lib/chart.js';

describe('barChart', () => {
  it('draws each figure as a bar scaled to the largest, with its label, value and a legend of the kinds present', () => {
    const svg = barChart('Pod start', 'ms', [
      { label: 'hyper pool', value: 210, kind: 'ours' },
      { label: 'Kata <QEMU>', value: 420, kind: 'anchor' },
    ]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const widths = [...svg.matchAll(/<rect x="300" y="\d+" width="([\d.]+)" height="16"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([210, 420]);
    expect(svg).toContain('210 ms');
    expect(svg).toContain('Kata &lt;QEMU&gt;');
    expect(svg).toContain('published anchor');
    expect(svg).not.toContain('previous run');
    expect(svg).toContain('(lower is better)');
  });

  it('says when higher is better and prints fractions with their precision', () => {
    const svg = barChart('Churn', 'pods/s', [{ label: 'cold', value: 0.456, kind: 'ours' }], { lowerIsBetter: false });
    expect(svg).toContain('(higher is better)');
    expect(svg).toContain('0.46 pods/s');
  });
});
