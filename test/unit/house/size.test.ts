/**
 * The house stays walkable (issue 14): no function under src/ is longer than about 80 lines, and no
 * file longer than about 500 lines unless it is listed in LONG_FILES with its reason. Functions
 * are measured from the TypeScript syntax tree (declarations, methods, constructors, accessors,
 * function expressions and arrows), from the line of their first token to the line of their last.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const srcDir = fileURLToPath(new URL('../../../src/', import.meta.url));

const MAX_FUNCTION_LINES = 80;
const MAX_FILE_LINES = 500;

/** Files allowed past MAX_FILE_LINES, each with why it is one file. An entry that fits fails too. */
const LONG_FILES: ReadonlyMap<string, string> = new Map([]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

const files = sourceFiles(srcDir).map((abs) => ({
  path: relative(srcDir, abs).split(sep).join(posix.sep),
  text: readFileSync(abs, 'utf8'),
}));

function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

interface Measured {
  readonly where: string;
  readonly lines: number;
}

function functionsOf(path: string, text: string): Measured[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out: Measured[] = [];
  const nameOf = (n: ts.Node): string => {
    const named = (n as { name?: ts.Node }).name;
    if (named !== undefined) return named.getText(sf);
    if (ts.isConstructorDeclaration(n)) return 'constructor';
    if (ts.isVariableDeclaration(n.parent) || ts.isPropertyAssignment(n.parent)) return n.parent.name.getText(sf);
    return '<anonymous>';
  };
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && (n as { body?: ts.Node }).body !== undefined) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      out.push({ where: `${path}:${first + 1} ${nameOf(n)}`, lines: last - first + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

test('the measure sees declarations, methods, arrows and function expressions', (t) => {
  const text = [
    'function a() {',
    '  return 1;',
    '}',
    'class K {',
    '  m() {',
    '    const f = () => {',
    '      return 2;',
    '    };',
    '    return f;',
    '  }',
    '}',
    'const g = function () {};',
  ].join('\n');
  const found = functionsOf('x.ts', text).map((m) => `${m.where} ${m.lines}`);
  t.deepEqual(found, ['x.ts:1 a 3', 'x.ts:5 m 6', 'x.ts:6 f 3', 'x.ts:12 g 1']);
  t.true(files.length > 50, `found ${files.length} files under src/`);
});

test(`no function under src/ is longer than ${MAX_FUNCTION_LINES} lines`, (t) => {
  const long = files
    .flatMap((f) => functionsOf(f.path, f.text))
    .filter((m) => m.lines > MAX_FUNCTION_LINES)
    .map((m) => `${m.where}: ${m.lines} lines`);
  t.deepEqual(long, []);
});

test(`no file under src/ is longer than ${MAX_FILE_LINES} lines without a stated reason`, (t) => {
  const long = files
    .filter((f) => lineCount(f.text) > MAX_FILE_LINES && !LONG_FILES.has(f.path))
    .map((f) => `${f.path}: ${lineCount(f.text)} lines`);
  t.deepEqual(long, []);
  const fits = [...LONG_FILES.keys()].filter((p) => {
    const f = files.find((x) => x.path === p);
    return f === undefined || lineCount(f.text) <= MAX_FILE_LINES;
  });
  t.deepEqual(fits, [], 'remove the LONG_FILES entries of files that fit');
});
