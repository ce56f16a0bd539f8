/**
 * A minimal terminal for tests: replays what a program wrote to a pseudo-terminal
 * (text, \r, \n, and the ANSI cursor and erase sequences cli-progress and
 * pino-pretty use) into the lines a person would see, scrollback included.
 * Colours and modes are dropped. Enough to tell whether a log line landed inside
 * a progress bar's line.
 */
export function renderTerminal(raw: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  const put = (ch: string) => {
    const line = lines[row]!.padEnd(col, ' ');
    lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col += 1;
  };
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\x1b' && raw[i + 1] === '[') {
      const match = /^\[([?\d;]*)([A-Za-z])/.exec(raw.slice(i + 1));
      if (!match) continue;
      i += match[0].length;
      const [, params = '', command] = match;
      const n = params.startsWith('?') ? 0 : Number(params.split(';')[0] || 0);
      switch (command) {
        case 'G':
          col = Math.max(0, (n || 1) - 1);
          break;
        case 'A':
          row = Math.max(0, row - (n || 1));
          break;
        case 'B':
          row += n || 1;
          while (lines.length <= row) lines.push('');
          break;
        case 'K':
          if (n === 2) lines[row] = '';
          else if (n === 0) lines[row] = lines[row]!.slice(0, col);
          break;
        case 'J':
          if (n === 0) {
            lines[row] = lines[row]!.slice(0, col);
            lines.length = row + 1;
          }
          break;
        default:
          // colours (m), line-wrap and cursor modes (h, l): nothing visible
          break;
      }
      continue;
    }
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      // A pty translates \n to \r\n (onlcr).
      row += 1;
      col = 0;
      while (lines.length <= row) lines.push('');
    } else if (ch >= ' ') put(ch);
  }
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  return lines;
}
