// Where address leases live: the database (table Lease: ip @id, vmId @unique, so no two VMs ever get
// the same address, even across restarts), or memory for tests (setNetworkStore).
export interface NetworkStore {
  /** the ip leased to vmId, if any */
  leaseOf(vmId: string): Promise<string | null>;
  /** every leased ip */
  leasedIps(): Promise<Set<string>>;
  /** lease ip to vmId; false when the ip is taken (unique violation) */
  tryLease(ip: string, vmId: string): Promise<boolean>;
  release(vmId: string): Promise<void>;
  /** MACs and host ports of VMs the database knows as live (starting/running) other than vmId */
  liveUsage(exceptVmId: string): Promise<{ macs: Set<string>; ports: Set<number> }>;
}

export function memoryNetworkStore(): NetworkStore {
  const leases = new Map<string, string>(); // vmId -> ip
  return {
    async leaseOf(vmId) {
      return leases.get(vmId) ?? null;
    },
    async leasedIps() {
      return new Set(leases.values());
    },
    async tryLease(ip, vmId) {
      if ([...leases.values()].includes(ip) || leases.has(vmId)) return false;
      leases.set(vmId, ip);
      return true;
    },
    async release(vmId) {
      leases.delete(vmId);
    },
    async liveUsage() {
      return { macs: new Set(), ports: new Set() };
    },
  };
}

export function prismaNetworkStore(): NetworkStore {
  const client = async () => (await import('../../db')).db();
  return {
    async leaseOf(vmId) {
      const l = await (await client()).lease.findUnique({ where: { vmId } });
      return l?.ip ?? null;
    },
    async leasedIps() {
      const rows = await (await client()).lease.findMany({ select: { ip: true } });
      return new Set(rows.map((r) => r.ip));
    },
    async tryLease(ip, vmId) {
      try {
        await (await client()).lease.create({ data: { ip, vmId } });
        return true;
      } catch (e) {
        if ((e as { code?: string }).code === 'P2002') return false;
        throw e;
      }
    },
    async release(vmId) {
      await (await client()).lease.deleteMany({ where: { vmId } });
    },
    async liveUsage(exceptVmId) {
      const rows = await (await client()).vm.findMany({
        where: { state: { in: ['starting', 'running'] }, id: { not: exceptVmId } },
        select: { mac: true, ports: true },
      });
      const macs = new Set<string>();
      const ports = new Set<number>();
      for (const r of rows) {
        if (r.mac) macs.add(r.mac.toLowerCase());
        try {
          for (const hp of Object.values(JSON.parse(r.ports || '{}') as Record<string, number>)) ports.add(Number(hp));
        } catch {
          /* a malformed ports column reserves nothing */
        }
      }
      return { macs, ports };
    },
  };
}

let store: NetworkStore | null = null;
export function setNetworkStore(s: NetworkStore | null): void {
  store = s;
}
export function theStore(): NetworkStore {
  return (store ??= prismaNetworkStore());
}
