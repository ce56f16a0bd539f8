/**
 * Charts of per-round metrics as standalone SVG, rendered in Node without a
 * browser or native code: Vega-Lite compiles the chart to Vega, Vega's
 * headless view renders the scenegraph to an SVG string.
 */
import { parse, View } from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { SimRoundMetrics } from './results.js';

export interface RoundsChartOptions {
  title: string;
  /** Drawn as a dashed line on the accuracy panel. */
  teacherAccuracy?: number;
  /** Series order (legend and colours); defaults to first appearance. */
  order?: string[];
  /** Panel width in pixels. Defaults to 360. */
  width?: number;
}

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Test accuracy and test loss per round, one line per strategy (the mean over
 * seeds when there are several), side by side.
 */
export function roundsChartSpec(
  rounds: readonly SimRoundMetrics[],
  options: RoundsChartOptions,
): TopLevelSpec {
  const values = rounds
    .filter((r) => r.status === 'aggregated')
    .map((r) => ({
      strategy: r.strategy,
      seed: r.seed,
      round: r.round,
      accuracy: r.studentAccuracy,
      loss: r.studentLoss,
    }));
  const order = options.order ?? [...new Set(values.map((v) => v.strategy))];
  const width = options.width ?? 360;
  const color = {
    field: 'strategy',
    type: 'nominal' as const,
    scale: { domain: order, scheme: 'tableau10' },
    legend: { title: 'strategy' },
  };
  const x = {
    field: 'round',
    type: 'quantitative' as const,
    axis: { tickMinStep: 1, format: 'd', title: 'round' },
  };
  const accuracyLayers: Record<string, unknown>[] = [
    {
      mark: { type: 'line', point: { size: 18 }, strokeWidth: 1.8 },
      encoding: {
        x,
        y: {
          aggregate: 'mean',
          field: 'accuracy',
          type: 'quantitative',
          title: 'test accuracy',
          scale: { zero: false },
          axis: { format: '.0%' },
        },
        color,
      },
    },
  ];
  if (options.teacherAccuracy !== undefined) {
    accuracyLayers.push({
      data: { values: [{ teacher: options.teacherAccuracy }] },
      mark: { type: 'rule', strokeDash: [5, 4], color: '#555' },
      encoding: { y: { field: 'teacher', type: 'quantitative' } },
    });
    accuracyLayers.push({
      data: { values: [{ teacher: options.teacherAccuracy, label: 'teacher' }] },
      mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#555', fontSize: 10 },
      encoding: {
        y: { field: 'teacher', type: 'quantitative' },
        x: { value: 0 },
        text: { field: 'label' },
      },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: options.title, anchor: 'start' },
    background: 'white',
    padding: 12,
    data: { values },
    hconcat: [
      { width, height: 240, title: 'accuracy', layer: accuracyLayers },
      {
        width,
        height: 240,
        title: 'test loss of the global student (none without one)',
        mark: { type: 'line', point: { size: 18 }, strokeWidth: 1.8 },
        encoding: {
          x,
          y: {
            aggregate: 'mean',
            field: 'loss',
            type: 'quantitative',
            title: 'test loss',
            scale: { zero: false },
          },
          color,
        },
      },
    ],
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  } as TopLevelSpec;
}

export function renderRoundsChart(
  rounds: readonly SimRoundMetrics[],
  options: RoundsChartOptions,
): Promise<string> {
  return renderSvg(roundsChartSpec(rounds, options));
}
