-- AlterTable
ALTER TABLE "Image" ADD COLUMN     "source" TEXT NOT NULL DEFAULT 'builtin',
ADD COLUMN     "format" TEXT,
ADD COLUMN     "virtualSizeBytes" BIGINT,
ADD COLUMN     "firmware" TEXT NOT NULL DEFAULT 'kernel',
ADD COLUMN     "path" TEXT,
ADD COLUMN     "importedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "Template" ADD COLUMN     "compat" TEXT NOT NULL DEFAULT '{}';
