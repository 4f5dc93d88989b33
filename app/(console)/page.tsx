import { LineageView } from '@/components/lineage/lineage-view';
import { HealthSummary } from '@/components/layout/health-summary';

export default function HomePage() {
  return (
    <div className="flex h-full min-h-[36rem] flex-col gap-3">
      <HealthSummary />
      <div className="min-h-0 flex-1">
        <LineageView />
      </div>
    </div>
  );
}
