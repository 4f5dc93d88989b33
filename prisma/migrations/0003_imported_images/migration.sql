-- AlterTable
ALTER TABLE "Image" ADD COLUMN "source" TEXT NOT NULL DEFAULT 'builtin';
ALTER TABLE "Image" ADD COLUMN "format" TEXT;
ALTER TABLE "Image" ADD COLUMN "virtualSizeBytes" BIGINT;
ALTER TABLE "Image" ADD COLUMN "firmware" TEXT NOT NULL DEFAULT 'kernel';
ALTER TABLE "Image" ADD COLUMN "path" TEXT;
ALTER TABLE "Image" ADD COLUMN "importedAt" DATETIME;

-- AlterTable
ALTER TABLE "Template" ADD COLUMN "compat" TEXT NOT NULL DEFAULT '{}';
