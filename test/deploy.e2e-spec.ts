/**
 * Deployment files, validated without a container engine: docker-compose.yml and
 * deploy/kubernetes/*.yaml parse; every command in them (and the systemd unit's ExecStart) runs an
 * app that exists with flags and environment variables that app knows, and the agent/gateway
 * configurations they describe pass the apps' own validation; deploy/gen-certs.sh produces the
 * files the compose file mounts, certificates that verify, and a gateway.yaml the gateway accepts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../apps/agent/src/config';
import { resolveConfig } from '../apps/gateway/src/config/gateway-config';
import { AGENT_MAIN } from './helpers/agents';
import { GATEWAY_MAIN } from './helpers/gateway';
import { REPO_ROOT } from './helpers/processes';

interface Cmd {
  where: string;
  argv: string[];
  env: Record<string, string>;
}

const K8S_DIR = join(REPO_ROOT, 'deploy', 'kubernetes');

function helpText(main: string): string {
  return execFileSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
}

/** Flags and environment variables an app documents in --help. */
function known(main: string): { flags: Set<string>; envs: Set<string> } {
  const text = helpText(main);
  const flags = new Set([...text.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1]));
  const envs = new Set([...text.matchAll(/\b(PMAPD_[A-Z0-9_]+)\b/g)].map((m) => m[1]));
  // The gateway documents its variables as PMAPD_GATEWAY_<NAME> of each flag.
  if (main === GATEWAY_MAIN) {
    for (const f of flags) envs.add(`PMAPD_GATEWAY_${f.slice(2).replace(/-/g, '_').toUpperCase()}`);
  }
  return { flags, envs };
}

function k8sDocs(): { file: string; doc: Record<string, unknown> }[] {
  const out: { file: string; doc: Record<string, unknown> }[] = [];
  for (const f of readdirSync(K8S_DIR).filter((x) => x.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(readFileSync(join(K8S_DIR, f), 'utf8'))) {
      expect(d.errors).toEqual([]);
      out.push({ file: f, doc: d.toJS() as Record<string, unknown> });
    }
  }
  return out;
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
}

function commands(): Cmd[] {
  const cmds: Cmd[] = [];
  const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<string, { command?: string[] }>;
  };
  for (const [name, s] of Object.entries(compose.services)) {
    if (s.command) cmds.push({ where: `compose ${name}`, argv: s.command, env: {} });
  }
  for (const { file, doc } of k8sDocs()) {
    const spec = (doc.spec as { template?: { spec?: { containers?: Container[] } } } | undefined)
      ?.template?.spec;
    for (const c of spec?.containers ?? []) {
      const env: Record<string, string> = {};
      for (const e of c.env ?? []) env[e.name] = e.value ?? `from-${e.name.toLowerCase()}`;
      cmds.push({
        where: `${file} ${c.name}`,
        argv: [...(c.command ?? []), ...(c.args ?? [])],
        env,
      });
    }
  }
  const unit = readFileSync(join(REPO_ROOT, 'deploy', 'systemd', 'pmapd-agent.service'), 'utf8');
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1];
  cmds.push({ where: 'systemd', argv: exec.replace(/%H/g, 'host1').split(/\s+/), env: {} });
  return cmds;
}

function appOf(argv: string[]): { app: 'agent' | 'gateway'; args: string[] } {
  const i = argv.findIndex((a) => /dist\/apps\/(agent|gateway)\/src\/main\.js$/.test(a));
  expect(i).toBeGreaterThanOrEqual(0);
  const app = /apps\/(agent|gateway)\//.exec(argv[i])![1] as 'agent' | 'gateway';
  return { app, args: argv.slice(i + 1) };
}

describe('deployment files', () => {
  const cmds = commands();
  const agent = known(AGENT_MAIN);
  const gateway = known(GATEWAY_MAIN);

  it('compose has the gateway and three agents seeing host processes', () => {
    const names = cmds.filter((c) => c.where.startsWith('compose')).map((c) => c.where);
    expect(names.sort()).toEqual([
      'compose agent1',
      'compose agent2',
      'compose agent3',
      'compose gateway',
    ]);
    const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), {
      merge: true,
    }) as {
      services: Record<string, { pid?: string; cap_add?: string[] }>;
    };
    for (const a of ['agent1', 'agent2', 'agent3']) {
      expect(compose.services[a].pid).toBe('host');
      expect(compose.services[a].cap_add).toEqual(['SYS_PTRACE', 'DAC_READ_SEARCH']);
    }
  });

  it('Kubernetes: agent DaemonSet with hostPID, headless Service, gateway Deployment', () => {
    const docs = k8sDocs().map((d) => d.doc);
    const kinds = docs.map((d) => `${d.kind as string}/${(d.metadata as { name: string }).name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'DaemonSet/pmapd-agent',
        'Service/pmapd-agents',
        'Deployment/pmapd-gateway',
        'ConfigMap/pmapd-gateway',
      ]),
    );
    const ds = docs.find((d) => d.kind === 'DaemonSet') as {
      spec: { template: { spec: { hostPID: boolean } } };
    };
    expect(ds.spec.template.spec.hostPID).toBe(true);
    const svc = docs.find(
      (d) => d.kind === 'Service' && (d.metadata as { name: string }).name === 'pmapd-agents',
    ) as { spec: { clusterIP: string } };
    expect(svc.spec.clusterIP).toBe('None');
  });

  it('every command runs an existing app with flags and variables it knows', () => {
    expect(cmds.length).toBeGreaterThanOrEqual(7);
    for (const c of cmds) {
      const { app, args } = appOf(c.argv);
      expect(existsSync(join(REPO_ROOT, 'apps', app, 'src', 'main.ts'))).toBe(true);
      const k = app === 'agent' ? agent : gateway;
      for (const a of args.filter((x) => x.startsWith('--'))) {
        expect([c.where, a, k.flags.has(a.split('=')[0])]).toEqual([c.where, a, true]);
      }
      for (const e of Object.keys(c.env))
        expect([c.where, e, k.envs.has(e)]).toEqual([c.where, e, true]);
    }
  });

  it('agent commands pass the agent configuration validation', () => {
    for (const c of cmds) {
      const { app, args } = appOf(c.argv);
      if (app !== 'agent') continue;
      const config = loadConfig(args, c.env);
      expect(typeof config).toBe('object');
      if (typeof config !== 'object') continue;
      // Non-loopback listeners must be mutual TLS with an allow-list.
      expect([c.where, config.tls?.allowClients.length ?? 0]).not.toEqual([c.where, 0]);
    }
  });

  it('the Kubernetes gateway configuration passes the gateway validation', () => {
    const cm = k8sDocs().find((d) => d.doc.kind === 'ConfigMap')!.doc as {
      data: Record<string, string>;
    };
    const dir = mkdtempSync(join(tmpdir(), 'pmapd-deploy-'));
    try {
      const file = join(dir, 'gateway.yaml');
      writeFileSync(file, cm.data['gateway.yaml']);
      const { config } = resolveConfig(['--listen', '0.0.0.0:8080', '--config', file], {});
      expect(config.dns?.name).toBe('pmapd-agents.pmapd.svc.cluster.local');
      expect(config.tls?.serverName).toBe('pmapd-agent');
      expect(config.auth?.tokens.length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('deploy/gen-certs.sh makes what compose mounts: verifying certificates, a valid gateway.yaml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmapd-gencerts-'));
    try {
      execFileSync('bash', [join(REPO_ROOT, 'deploy', 'gen-certs.sh'), dir], { stdio: 'pipe' });
      for (const c of cmds.filter((x) => x.where.startsWith('compose'))) {
        for (const a of c.argv.filter((x) => x.startsWith('/etc/pmapd/'))) {
          expect([a, existsSync(join(dir, basename(a)))]).toEqual([a, true]);
        }
      }
      const verify = execFileSync(
        'openssl',
        [
          'verify',
          '-CAfile',
          join(dir, 'ca.pem'),
          join(dir, 'agent1.pem'),
          join(dir, 'gateway.pem'),
        ],
        { encoding: 'utf8' },
      );
      expect(verify).toMatch(/agent1\.pem: OK[\s\S]*gateway\.pem: OK/);
      const { config } = resolveConfig(
        ['--listen', '0.0.0.0:8080', '--config', join(dir, 'gateway.yaml')],
        {},
      );
      expect(config.nodes.map((n) => n.name)).toEqual(['agent1', 'agent2', 'agent3']);
      const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
      const hash = execFileSync(process.execPath, [GATEWAY_MAIN, 'hash-token', token], {
        encoding: 'utf8',
      }).trim();
      expect(config.auth?.tokens[0].sha256).toBe(hash);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runtime and image', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version: string;
    engines: { node: string };
  };

  it('both apps answer --version with the package version and the Node.js running them', () => {
    for (const [main, program, extra] of [
      [AGENT_MAIN, 'pmapd-agent', ['--bogus', '1']],
      [GATEWAY_MAIN, 'pmapd-gateway', ['--bogus', '1']],
    ] as const) {
      for (const argv of [['--version'], [...extra, '--version']]) {
        const out = execFileSync(process.execPath, [main, ...argv], { encoding: 'utf8' });
        expect(out).toBe(`${program} ${pkg.version} (Node.js ${process.version})\n`);
      }
    }
  });

  it('Node.js 24 LTS is the supported runtime (engines, image), Node.js 20.19+ still accepted', () => {
    expect(pkg.engines.node).toBe('^24.0.0 || ^20.19.0');
    const dockerfile = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual(['node:24-bookworm-slim', 'node:24-bookworm-slim']);
    // the image installs exactly the lock, like every script here
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).not.toMatch(/npm install/);
  });

  it('.dockerignore keeps dependencies, builds, .git and the certificates out of the context', () => {
    const ignored = new Set(
      readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => l.replace(/^\/+|\/+$/g, '')),
    );
    for (const p of ['node_modules', 'dist', '.git', 'deploy/certs', 'test/.build', '.tools']) {
      expect([p, ignored.has(p)]).toEqual([p, true]);
    }
    // nothing the image is built from is left out
    for (const p of ['package.json', 'package-lock.json', 'apps', 'libs', 'proto']) {
      expect([p, ignored.has(p)]).toEqual([p, false]);
    }
  });
});
