/**
 * The one output formatter of the CLI: plain text, tables, one JSON document, colours (only on a TTY,
 * never with NO_COLOR: https://no-color.org), a progress bar on stderr and a bounded-concurrency map.
 * Commands never write to process.stdout directly, so tests and `--json` see exactly what they print.
 */
import { mapConcurrent } from '../lib/concurrency.js';

export interface OutputStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

export type Align = 'left' | 'right';

export interface TableOptions {
  /** A header row, printed bold. */
  header?: readonly string[];
  /** Per column; default left. */
  align?: readonly Align[];
  /** Prefix of every line. @default '' */
  indent?: string;
  /** Between columns. @default '  ' */
  gap?: string;
}

export interface Progress {
  /** One more item done; `label` names it. */
  tick(label?: string): void;
  /** Clears the bar. Idempotent. */
  done(): void;
}

export interface Output {
  /** Whether stdout gets colours. */
  readonly color: boolean;
  /** Colours for stdout text (identity functions without colour). */
  readonly style: Style;
  /** Colours for stderr text. */
  readonly errorStyle: Style;
  /** A line of text on stdout. */
  line(text?: string): void;
  /** Several lines on stdout. */
  lines(texts: readonly string[]): void;
  /** One JSON document on stdout (for `--json`). */
  json(value: unknown): void;
  /** A `certpin: warning: …` line on stderr. */
  warn(message: string): void;
  /** A line on stderr as is (notes that must not pollute stdout, such as export caveats). */
  note(text: string): void;
  /** Lays rows out in aligned columns; widths ignore colour codes. */
  table(rows: ReadonlyArray<readonly string[]>, options?: TableOptions): string[];
  /** A progress bar on stderr when it is a TTY (and `total` > 1); otherwise silent. */
  progress(total: number, label?: string): Progress;
}

export interface OutputOptions {
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
}

// eslint-disable-next-line no-control-regex -- matching the colour codes this file writes is the point
const ANSI = /\x1b\[[0-9;]*m/g;

/** The width of text as a terminal shows it (colour codes excluded). */
export function visibleWidth(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

function makeStyle(enabled: boolean): Style {
  const wrap = (open: number, close: number) => (enabled ? (text: string) => `\x1b[${open}m${text}\x1b[${close}m` : (text: string) => text);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39) };
}

/** Colours only on a terminal, and never when NO_COLOR is set to anything but the empty string. */
export function colorEnabled(stream: OutputStream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export function formatTable(rows: ReadonlyArray<readonly string[]>, options: TableOptions = {}, style: Style = makeStyle(false)): string[] {
  const { header, align = [], indent = '', gap = '  ' } = options;
  const all = header ? [header.map((h) => style.bold(h)), ...rows] : [...rows];
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleWidth(cell))));
  return all.map((row) => {
    const cells = row.map((cell, i) => {
      const pad = ' '.repeat((widths[i] ?? 0) - visibleWidth(cell));
      if (align[i] === 'right') return pad + cell;
      return i === row.length - 1 ? cell : cell + pad;
    });
    return indent + cells.join(gap);
  });
}

export function createOutput({ stdout, stderr, env }: OutputOptions): Output {
  const color = colorEnabled(stdout, env);
  const style = makeStyle(color);
  const errorStyle = makeStyle(colorEnabled(stderr, env));
  let activeBar: { clear(): void; redraw(): void } | undefined;
  const toStderr = (text: string) => {
    activeBar?.clear();
    stderr.write(`${text}\n`);
    activeBar?.redraw();
  };
  // Results stream to stdout while the bar is drawn on stderr; on one terminal they share a line, so
  // the bar steps aside for each write and comes back under it.
  const toStdout = (text: string) => {
    activeBar?.clear();
    stdout.write(text);
    activeBar?.redraw();
  };
  return {
    color,
    style,
    errorStyle,
    line: (text = '') => toStdout(`${text}\n`),
    lines: (texts) => void (texts.length > 0 && toStdout(`${texts.join('\n')}\n`)),
    json: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    warn: (message) => toStderr(`certpin: ${errorStyle.yellow('warning')}: ${message}`),
    note: (text) => toStderr(text),
    table: (rows, options) => formatTable(rows, options, style),
    progress(total, label = '') {
      if (stderr.isTTY !== true || total < 2) return { tick() {}, done() {} };
      let count = 0;
      let finished = false;
      let current = '';
      const clear = () => void stderr.write('\r\x1b[2K');
      const draw = () => {
        const columns = stderr.columns ?? 80;
        const width = Math.max(10, Math.min(30, columns - 40));
        const filled = Math.round((count / total) * width);
        const text = `${label ? `${label} ` : ''}[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} ${current}`;
        stderr.write(`\r\x1b[2K${[...text].slice(0, columns - 1).join('')}`);
      };
      activeBar = { clear, redraw: draw };
      draw();
      return {
        tick(label = '') {
          if (finished) return;
          count = Math.min(total, count + 1);
          current = label;
          draw();
        },
        done() {
          if (finished) return;
          finished = true;
          clear();
          activeBar = undefined;
        },
      };
    },
  };
}

/**
 * A message without a leading `NAME: ` when the line that shows it already starts with that name
 * (library messages often name their target), so a line never says it twice.
 */
export function withoutLeadingName(message: string, names: readonly string[]): string {
  for (const name of names) if (name !== '' && message.startsWith(`${name}: `)) return message.slice(name.length + 2);
  return message;
}

/**
 * Streams results in input order as they complete: `push(index, value)` in any order calls `emit`
 * for each value as soon as every earlier one has been emitted, so a log shows result i as soon as
 * results 0..i are done, and always in the order of the command line.
 */
export function inOrder<T>(emit: (value: T, index: number) => void): (index: number, value: T) => void {
  const waiting = new Map<number, T>();
  let next = 0;
  return (index, value) => {
    waiting.set(index, value);
    while (waiting.has(next)) {
      const ready = waiting.get(next) as T;
      waiting.delete(next);
      emit(ready, next++);
    }
  };
}

/**
 * Runs `work` on every target, at most `concurrency` at a time, behind the progress bar of `command`,
 * and hands each result to `print` as soon as it and every earlier one are done ({@link inOrder}): a
 * CI log shows progress, in the order of the command line. Returns the results in that order.
 */
export async function runTargets<T>(
  out: Output,
  command: string,
  targets: readonly string[],
  concurrency: number,
  work: (target: string) => Promise<T>,
  print: (result: T) => void,
): Promise<T[]> {
  const progress = out.progress(targets.length, command);
  const emit = inOrder<T>(print);
  try {
    return await mapConcurrent(targets, concurrency, async (target, index) => {
      const result = await work(target);
      progress.tick(target);
      emit(index, result);
      return result;
    });
  } finally {
    progress.done();
  }
}

