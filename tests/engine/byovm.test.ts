// Issue 14, against real QEMU (TCG): an operator's own disk — a partitioned disk with extlinux in
// its MBR, Debian's stock kernel, systemd, systemd-networkd DHCP on a predictable interface name,
// the stock qemu-guest-agent and a web service (tests/fixtures/foreign) — is imported, prepared
// (quiesced, with a warm-up), forked, and every child proves its own identity from inside through
// the stock agent; its service answers on its own forwarded port; reset and persistent stop/start
// work; an ifupdown/dhclient disk and a UEFI disk are prepared and forked too. One prepared template
// is shared by the networkd assertions (CI time). Disks that cannot be prepared: byovm-fail.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupEnv, teardownEnv, type EngineEnv } from './engine-env';
import { foreignDisks } from '../fixtures/foreign/disks';

// the foreign disks are built as root (debootstrap, chroot, a loop mount). Opt-in for now
// (INSTACLONE_TEST_FOREIGN=1): three full systemd boots under TCG take 10-25 minutes on two cores,
// and the ifupdown, UEFI, reset and persistent parts have not yet been seen passing (issue 14 open).
const run = process.getuid?.() === 0 && process.env.INSTACLONE_TEST_FOREIGN === '1';
let env: EngineEnv;
let E: typeof import('../../lib/engine/index');
let engine: InstanceType<typeof E.Engine>;
let db: typeof import('../../lib/db').db;
let disks: { networkd: string; uefi: string; ifupdown: string };
let prep: any;
let kids: { id: string; name: string; ports: Record<string, number>; verified: any }[] = [];
let forkMs = 0;

const get = async (port: number) => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(20_000) })).text();

beforeAll(async () => {
  if (!run) return;
  disks = foreignDisks('networkd', 'uefi', 'ifupdown');
  env = setupEnv('byovm');
  process.env.INSTACLONE_BOOT_TIMEOUT_S = '900'; // cold boots of a persistent child on a shared, slow host
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  db = dbm.db;
  E = await import('../../lib/engine/index');
  engine = E.Engine.get();
  await engine.start();
  const imp = await engine.importImage({ name: 'netd', disk: disks.networkd });
  expect(imp).toMatchObject({ name: 'netd', format: 'qcow2', firmware: 'bios' });
  prep = await engine.prepare({ image: 'netd', name: 'netd-t', memory: 512, quiesce: true, bootTimeout: 900, warmup: ['systemctl is-active web.service', 'cat /srv/www/cgi-bin/index.cgi >/dev/null'] });
  const t0 = performance.now();
  const r = await engine.fork('netd-t', { count: 2, prefix: 'nd' });
  forkMs = performance.now() - t0;
  for (const c of r.children) {
    const v: any = await engine.get(c.id);
    kids.push({ id: c.id, name: c.name, ports: v.ports, verified: v.verified });
  }
  console.log(`imported systemd disk: boot to agent ${prep.timings.bootMs} ms; fork of 2 ${Math.round(forkMs)} ms; per child ${r.timings.perChildMs.join(', ')} ms; details ${JSON.stringify(r.details)}`);
}, 1_500_000);

afterAll(async () => {
  if (env) await teardownEnv(env);
}, 120_000);

describe.runIf(run)('an imported systemd-networkd disk (issue 14)', () => {
  it('is listed with the built-in images', async () => {
    const { images } = await engine.images();
    expect(images.map((i: any) => i.name)).toEqual(expect.arrayContaining(['tiny', 'debian', 'netd']));
    const netd: any = images.find((i: any) => i.name === 'netd');
    expect(netd).toMatchObject({ source: 'imported', firmware: 'bios', format: 'qcow2' });
    expect(netd.virtualSizeBytes).toBeGreaterThan(netd.sizeBytes / 2);
  });

  it('prepared with a warm-up and quiesced, with a compatibility report stored on the template', async () => {
    expect(prep).toMatchObject({ state: 'frozen', quiesced: true });
    const t: any = await engine.get('netd-t');
    const c = t.compat;
    console.log(`compat: ${c.lines.map((l: any) => `${l.key}: ${l.value}`).join(' | ')}`);
    expect(c.agentVersion).toMatch(/^\d+\.\d+/);
    expect(c.network).toMatchObject({ manager: 'systemd-networkd', dhcp: true, method: 'networkd' });
    expect(c.network.iface).toMatch(/^en/);
    expect(c.vmgenid).toBe(true);
    expect(c.fsfreeze).toBe(true);
    for (const l of c.lines) expect(l.meaning.length).toBeGreaterThan(20);
  });

  it('children have distinct identities, read back from inside through the stock agent', async () => {
    expect(kids).toHaveLength(2);
    const [a, b] = kids.map((k) => k.verified);
    for (const v of [a, b]) {
      expect(v.method).toBe('agent');
      expect(Math.abs(v.clockSkewMs)).toBeLessThan(2000);
      expect(v.entropyReseeded).toBe(true);
      expect(v.vmgenidReseedSeen).toBe(true);
    }
    for (const k of ['hostname', 'mac', 'ip', 'machineId', 'vmgenid', 'urandomHex']) expect(a[k], k).not.toBe(b[k]);
    // and again, independently of the fork's own read-back: what the guest says now
    for (const k of kids) {
      const iface = k.verified.iface;
      const r: any = await engine.exec(k.id, ['/bin/sh', '-c', `cat /proc/sys/kernel/hostname /etc/hostname /etc/machine-id /sys/class/net/${iface}/address; ip -4 -o addr show dev ${iface}; grep 127.0.1.1 /etc/hosts`]);
      const [hn, etc, mid, mac, addr, hosts] = String(r.stdout).trim().split('\n');
      expect([hn, etc, mid, mac]).toEqual([k.name, k.name, k.verified.machineId, k.verified.mac]);
      expect(addr).toContain(`inet ${k.verified.ip}/8`);
      expect(addr).toContain('dynamic'); // the address came by DHCP, the child's own lease
      expect(hosts).toContain(k.name);
    }
  });

  it("each child's service answers on its own forwarded port with its own hostname", async () => {
    const ports = kids.map((k) => Number(k.ports['80']));
    expect(new Set(ports).size).toBe(2);
    for (const k of kids) expect(await get(Number(k.ports['80']))).toContain(`hostname: ${k.name}\n`);
  });

  it('a child shows its screen as a PNG', async () => {
    const png = await engine.screen(kids[0].id);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('reset puts a child back and it proves its identity again', async () => {
    const k = kids[0];
    await engine.exec(k.id, ['/bin/sh', '-c', 'echo dirty > /root/mark']);
    const r: any = await engine.reset(k.id);
    expect(r.state).toBe('running');
    const out: any = await engine.exec(k.id, ['/bin/sh', '-c', 'test -e /root/mark && echo still || echo gone']);
    expect(String(out.stdout).trim()).toBe('gone');
    expect(await get(Number(k.ports['80']))).toContain(`hostname: ${k.name}\n`);
  });

  it('a persistent child gets new SSH host keys and survives stop/start with its identity', async () => {
    const r = await engine.fork('netd-t', { count: 1, persistent: true, prefix: 'ndp' });
    const c = r.children[0];
    const v: any = await engine.get(c.id);
    expect(v.verified.sshHostKey).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    await engine.exec(c.id, ['/bin/sh', '-c', 'echo kept > /root/mark; sync']);
    await engine.stop(c.id);
    const s: any = await engine.startVm(c.id);
    expect(s.state).toBe('running');
    const out: any = await engine.exec(c.id, ['/bin/sh', '-c', 'cat /root/mark /proc/sys/kernel/hostname /etc/machine-id']);
    expect(String(out.stdout).trim().split('\n')).toEqual(['kept', c.name, c.identity.machineId]);
    const again: any = await engine.get(c.id);
    expect(again.verified.ip).toBe(c.identity.ip);
    expect(await get(Number(again.ports['80']))).toContain(`hostname: ${c.name}\n`);
    await engine.remove(c.id, { force: true }); // a running persistent child is removed only on purpose
  });

  it('an image in use by a template cannot be removed', async () => {
    const err: any = await engine.removeImage('netd').catch((e: unknown) => e);
    expect(err.code).toBe('conflict');
    expect(err.message).toMatch(/used by template\(s\) netd-t/);
  });
});

describe.runIf(run)('an imported ifupdown/dhclient disk (issue 14)', () => {
  it('is prepared and forked; each child renews its own lease through dhclient', async () => {
    await engine.importImage({ name: 'ifup', disk: disks.ifupdown });
    const p: any = await engine.prepare({ image: 'ifup', name: 'ifup-t', memory: 512, bootTimeout: 900 });
    const t: any = await engine.get('ifup-t');
    expect(t.compat.network).toMatchObject({ manager: 'ifupdown/dhclient', dhcp: true, method: 'dhclient' });
    const r = await engine.fork('ifup-t', { count: 2, prefix: 'ifup' });
    console.log(`imported ifupdown disk: boot to agent ${p.timings.bootMs} ms; fork of 2 ${r.timings.totalMs} ms (identity ${r.details?.map((d: any) => d.identityMs).join(', ')} ms)`);
    const ips = new Set<string>();
    for (const c of r.children) {
      const v: any = await engine.get(c.id);
      expect(v.verified.method).toBe('agent');
      ips.add(v.verified.ip);
      const out: any = await engine.exec(c.id, ['/bin/sh', '-c', `ip -4 -o addr show dev ${v.verified.iface}`]);
      expect(String(out.stdout)).toContain(`inet ${v.verified.ip}/8`);
      expect(await get(Number(v.ports['80']))).toContain(`hostname: ${c.name}\n`);
    }
    expect(ips.size).toBe(2);
    await engine.remove('ifup-t', { force: true });
    await engine.removeImage('ifup');
  });
});

describe.runIf(run)('an imported UEFI disk (GPT + EFI system partition, OVMF) (issue 14)', () => {
  it('is prepared and forked; the child has its own variable store, identity and service', async () => {
    const imp = await engine.importImage({ name: 'efi', disk: disks.uefi, firmware: 'uefi' });
    expect(imp.firmware).toBe('uefi');
    const p: any = await engine.prepare({ image: 'efi', name: 'efi-t', memory: 512, bootTimeout: 900 });
    const t: any = await engine.get('efi-t');
    expect(fs.existsSync(path.join(env.home, 'templates', t.id, 'vars.fd'))).toBe(true);
    const r = await engine.fork('efi-t', { count: 1, prefix: 'efi' });
    const c: any = await engine.get(r.children[0].id);
    console.log(`imported UEFI disk: boot to agent ${p.timings.bootMs} ms; fork of one ${r.timings.totalMs} ms (identity ${r.details?.[0]?.identityMs} ms)`);
    expect(c.verified.method).toBe('agent');
    expect(c.verified.hostname).toBe('efi-1');
    const cmd = fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0');
    expect(cmd.join(' ')).toMatch(/if=pflash,format=raw,unit=0,readonly=on,file=\S+OVMF_CODE/);
    expect(cmd.find((a) => a.includes('unit=1'))).toContain(path.join(env.run, 'vms', c.id, 'vars.fd'));
    expect(await get(Number(c.ports['80']))).toContain('hostname: efi-1\n');
    await engine.remove('efi-t', { force: true });
    await engine.removeImage('efi');
  });
});
