/**
 * Renders the demo's timeline as one self-contained SVG file (inline styles, no fonts, scripts or
 * links to fetch): the state of the target, of subgate's upstream link and of the client's
 * connection over time, the seq the client had received, each outage with its detection and
 * recovery, and the summary table.
 *
 * @module
 */

/** One outage, with times in ms since the start of the run. */
export interface Outage {
  readonly kind: 'slow-start' | 'freeze' | 'crash';
  /** E.g. `freeze 2.5 s`, `crash (SIGKILL)`. */
  readonly label: string;
  /** When the fault began (the target started, froze or went down). */
  readonly at: number;
  /** When the target could serve again (listening, or thawed). */
  readonly targetBackAt: number | undefined;
  /** When subgate saw the upstream fail (first `waiting` state of the outage). */
  readonly detectedAt: number | undefined;
  /** Why: the reason of that `waiting` state, e.g. `no pong within 1000 ms`. */
  readonly detectedBy: string | undefined;
  /** When subgate had re-initialised and re-subscribed (upstream `open` after `restoring`). */
  readonly restoredAt: number | undefined;
  /** When the client received an event again. */
  readonly flowingAt: number | undefined;
}

/** A span of one lane in one state, in ms since the start of the run. */
export interface Segment {
  readonly from: number;
  readonly to: number;
  readonly state: LaneState;
}

/** The states a lane can show. */
export type LaneState =
  'booting' | 'up' | 'frozen' | 'down' | 'reconnecting' | 'restoring' | 'open' | 'closed';

/** Everything the timeline shows. */
export interface TimelineData {
  readonly title: string;
  readonly subtitle: string;
  readonly passed: boolean;
  /** Length of the run in ms; the x axis goes from 0 to this. */
  readonly durationMs: number;
  readonly target: readonly Segment[];
  readonly upstream: readonly Segment[];
  readonly client: readonly Segment[];
  /** `[ms, highest seq received]`, in time order. */
  readonly seq: readonly (readonly [number, number])[];
  readonly outages: readonly Outage[];
  /** Rows of the summary table. */
  readonly summary: readonly (readonly [string, string])[];
}

const COLORS: Record<LaneState, string> = {
  booting: '#f2b84b',
  up: '#3aa76d',
  frozen: '#8e6bd8',
  down: '#e05a5a',
  reconnecting: '#f2b84b',
  restoring: '#4a90d9',
  open: '#3aa76d',
  closed: '#e05a5a',
};

const LEGEND: readonly (readonly [string, LaneState])[] = [
  ['up / open', 'up'],
  ['booting / reconnecting', 'booting'],
  ['frozen', 'frozen'],
  ['down / closed', 'down'],
  ['restoring (re-init + re-subscribe)', 'restoring'],
];

function escape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * Returns the SVG document for `data`.
 *
 * @example
 * ```ts
 * writeFileSync('timeline.svg', renderTimeline(data));
 * ```
 */
export function renderTimeline(data: TimelineData): string {
  const width = 1100;
  const left = 170;
  const right = 30;
  const plotWidth = width - left - right;
  const duration = Math.max(1, data.durationMs);
  const x = (ms: number): number =>
    left + (Math.min(Math.max(ms, 0), duration) / duration) * plotWidth;
  const out: string[] = [];
  const text = (px: number, py: number, content: string, attrs = ''): void => {
    out.push(`<text x="${px.toFixed(1)}" y="${py.toFixed(1)}" ${attrs}>${escape(content)}</text>`);
  };

  // Header.
  text(left, 34, data.title, `class="title" fill="${data.passed ? '#1e7a46' : '#b3261e'}"`);
  text(left, 56, data.subtitle, 'class="sub"');

  // Lanes.
  const lanes: readonly (readonly [string, readonly Segment[]])[] = [
    ['target process', data.target],
    ['subgate → target', data.upstream],
    ['client → subgate', data.client],
  ];
  let y = 80;
  const laneHeight = 20;
  for (const [label, segments] of lanes) {
    text(left - 10, y + 14, label, 'class="lane" text-anchor="end"');
    out.push(
      `<rect x="${left}" y="${y}" width="${plotWidth}" height="${laneHeight}" fill="#f1f1f1"/>`,
    );
    for (const segment of segments) {
      const from = x(segment.from);
      const w = Math.max(0.8, x(segment.to) - from);
      out.push(
        `<rect x="${from.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${laneHeight}" fill="${COLORS[segment.state]}"><title>${escape(
          `${label}: ${segment.state} from ${seconds(segment.from)} to ${seconds(segment.to)}`,
        )}</title></rect>`,
      );
    }
    y += laneHeight + 8;
  }

  // The seq the client had received.
  const chartTop = y + 40;
  const chartHeight = 260;
  const chartBottom = chartTop + chartHeight;
  const maxSeq = Math.max(1, ...data.seq.map(([, seq]) => seq));
  const sy = (seq: number): number => chartBottom - (seq / maxSeq) * chartHeight;
  out.push(
    `<rect x="${left}" y="${chartTop}" width="${plotWidth}" height="${chartHeight}" fill="#fafafa" stroke="#ddd"/>`,
  );
  text(left - 10, chartTop + 4, `seq ${maxSeq}`, 'class="axis" text-anchor="end"');
  text(left - 10, chartBottom, '0', 'class="axis" text-anchor="end"');
  text(
    left - 10,
    chartTop + chartHeight / 2,
    'last seq received',
    'class="lane" text-anchor="end"',
  );

  // Outages: a band from the fault to events flowing again, with markers.
  data.outages.forEach((outage, i) => {
    const from = x(outage.at);
    const to = x(outage.flowingAt ?? outage.restoredAt ?? outage.targetBackAt ?? duration);
    out.push(
      `<rect x="${from.toFixed(1)}" y="${chartTop}" width="${Math.max(1, to - from).toFixed(1)}" height="${chartHeight}" fill="#e05a5a" fill-opacity="0.10"/>`,
    );
    const marker = (ms: number | undefined, color: string, dash: string, what: string): void => {
      if (ms === undefined) return;
      const mx = x(ms).toFixed(1);
      out.push(
        `<line x1="${mx}" y1="${chartTop}" x2="${mx}" y2="${chartBottom}" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"><title>${escape(
          `${outage.label}: ${what} at ${seconds(ms)}`,
        )}</title></line>`,
      );
    };
    marker(outage.at, '#b3261e', '', 'fault');
    if (outage.kind !== 'slow-start') marker(outage.detectedAt, '#d98a00', '4 3', 'detected');
    marker(outage.restoredAt, '#1e7a46', '2 2', 'restored');
    const labelY = chartTop + 16 + (i % 2) * 44;
    text(from + 4, labelY, outage.label, 'class="olabel"');
    const facts: string[] = [];
    if (outage.kind !== 'slow-start' && outage.detectedAt !== undefined) {
      facts.push(`detected +${seconds(outage.detectedAt - outage.at)}`);
    }
    if (outage.flowingAt !== undefined) {
      facts.push(`events +${seconds(outage.flowingAt - outage.at)}`);
    }
    text(from + 4, labelY + 15, facts.join(' · '), 'class="ofact"');
  });

  if (data.seq.length > 0) {
    // Straight while events flow (samples close together), a step across a silence: the client's
    // seq holds until events come again.
    const points: string[] = [];
    data.seq.forEach(([ms, seq], i) => {
      const previous = data.seq[i - 1];
      if (previous !== undefined && ms - previous[0] > 250 && seq !== previous[1]) {
        points.push(`${x(ms).toFixed(1)},${sy(previous[1]).toFixed(1)}`);
      }
      points.push(`${x(ms).toFixed(1)},${sy(seq).toFixed(1)}`);
    });
    out.push(
      `<polyline points="${points.join(' ')}" fill="none" stroke="#2f5fb3" stroke-width="2"/>`,
    );
  }

  // Time axis.
  const step = duration > 40_000 ? 10_000 : duration > 16_000 ? 5000 : 2000;
  for (let ms = 0; ms <= duration; ms += step) {
    const tx = x(ms).toFixed(1);
    out.push(
      `<line x1="${tx}" y1="${chartBottom}" x2="${tx}" y2="${chartBottom + 5}" stroke="#888"/>`,
    );
    text(Number(tx), chartBottom + 18, `${ms / 1000} s`, 'class="axis" text-anchor="middle"');
  }
  text(left - 18, chartBottom + 18, 'time since start', 'class="axis" text-anchor="end"');

  // Legend.
  let lx = left;
  const legendY = chartBottom + 40;
  for (const [label, state] of LEGEND) {
    out.push(
      `<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${COLORS[state]}"/>`,
    );
    text(lx + 17, legendY, label, 'class="axis"');
    lx += 30 + label.length * 6.6;
  }
  const markers: readonly (readonly [string, string, string])[] = [
    ['fault', '#b3261e', ''],
    ['detected by subgate', '#d98a00', '4 3'],
    ['upstream restored', '#1e7a46', '2 2'],
  ];
  lx = left;
  for (const [label, color, dash] of markers) {
    out.push(
      `<line x1="${lx}" y1="${legendY + 16}" x2="${lx + 14}" y2="${legendY + 16}" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}"/>`,
    );
    text(lx + 19, legendY + 20, label, 'class="axis"');
    lx += 40 + label.length * 6.6;
  }

  // Summary table.
  let ty = legendY + 56;
  text(left, ty, 'Summary', 'class="head"');
  ty += 8;
  for (const [label, value] of data.summary) {
    ty += 19;
    text(left, ty, label, 'class="cell"');
    text(left + 190, ty, value, 'class="cell value"');
  }
  const height = ty + 30;

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<title>${escape(data.title)}</title>`,
    '<style>',
    '.title{font-size:20px;font-weight:bold}',
    '.sub{font-size:13px;fill:#555}',
    '.lane{font-size:13px;fill:#333}',
    '.axis{font-size:12px;fill:#555}',
    '.olabel{font-size:12px;font-weight:bold;fill:#7a1c17}',
    '.ofact{font-size:11px;fill:#444}',
    '.head{font-size:15px;font-weight:bold;fill:#222}',
    '.cell{font-size:13px;fill:#333}',
    '.value{font-family:Menlo,Consolas,monospace}',
    '</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
