import { health } from '@/lib/health';

export const dynamic = 'force-dynamic';

export default async function Home() {
  const h = await health();
  return (
    <main className="p-6">
      <h1 className="text-2xl font-semibold">Instaclone</h1>
      <ul className="mt-4 space-y-1 text-sm" data-testid="health">
        <li>Database: {h.database.ok ? `${h.database.kind} ok` : h.database.error}</li>
        <li>QEMU: {h.qemu.ok ? h.qemu.version : h.qemu.error}</li>
        <li>KVM: {h.kvm.reason}</li>
      </ul>
    </main>
  );
}
