import { VmDetail } from '@/components/vm/vm-detail';

export default async function VmPage({ params }: { params: Promise<{ ref: string }> }) {
  const { ref } = await params;
  return <VmDetail vmRef={decodeURIComponent(ref)} />;
}
