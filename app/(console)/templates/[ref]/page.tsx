import { TemplateDetail } from '@/components/template/template-detail';

export default async function TemplatePage({ params }: { params: Promise<{ ref: string }> }) {
  const { ref } = await params;
  return <TemplateDetail templateRef={decodeURIComponent(ref)} />;
}
