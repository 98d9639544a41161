/** src/errors.ts: stable codes, `cause`, the issues a ConfigError carries. (Lives here: this suite owns errors.ts.) */
import test from 'ava';
import { CatalogError, ConfigError, ErrorCode, GsdnsError, isGsdnsError } from '../../../src/errors.js';

test('every class has a stable GSDNS_ERR_* code and a name, and keeps its cause', (t) => {
  const cause = new Error('ENOENT');
  const cases: [GsdnsError, string, string][] = [
    [new GsdnsError('x', { cause }), 'GSDNS_ERR', 'GsdnsError'],
    [new ConfigError([{ path: 'dns.ttl', message: 'must be >= 0', source: 'flag' }], { cause }), 'GSDNS_ERR_CONFIG', 'ConfigError'],
    [new CatalogError('bad', { file: 'c.yaml', line: 3, col: 1 }, { cause }), 'GSDNS_ERR_CATALOG', 'CatalogError'],
  ];
  for (const [err, code, name] of cases) {
    t.is(err.code, code);
    t.is(err.name, name);
    t.is(err.cause, cause);
    t.true(err instanceof Error);
    t.true(err instanceof GsdnsError);
    t.true(isGsdnsError(err, code));
    t.true(String(err.stack).startsWith(`${name}:`), String(err.stack).split('\n')[0]);
  }
  t.deepEqual(
    Object.values(ErrorCode).filter((c) => !c.startsWith('GSDNS_ERR')),
    [],
  );
  t.false(isGsdnsError(new Error('x')));
  t.false(isGsdnsError(new GsdnsError('x'), ErrorCode.CONFIG));
});

test('ConfigError lists every issue in its message and keeps them frozen', (t) => {
  const err = new ConfigError([
    { path: 'dns.ttl', message: 'must be >= 0', source: 'flag' },
    { path: 'cluster.name', message: 'is required', source: 'file', line: 1, col: 1 },
  ]);
  t.is(err.message, 'invalid configuration (2 issues):\n  dns.ttl: must be >= 0 (flag)\n  cluster.name: is required (file, line 1)');
  t.is(err.issues.length, 2);
  t.true(Object.isFrozen(err.issues));
});

test('CatalogError names where the problem is', (t) => {
  t.is(
    new CatalogError('must be an integer', { file: 'c.yaml', path: 'services[0].ports[0].port', line: 7, col: 5 }).message,
    'c.yaml:7:5: services[0].ports[0].port: must be an integer',
  );
  t.is(new CatalogError('unexpected end', { line: 2 }).message, '2:1: unexpected end');
  t.is(new CatalogError('empty').message, 'empty');
  t.deepEqual(new CatalogError('x', { path: 'cluster' }).location, { path: 'cluster' });
});
