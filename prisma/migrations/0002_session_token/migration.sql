-- AlterTable
ALTER TABLE "Session" ADD COLUMN "tokenId" TEXT;

