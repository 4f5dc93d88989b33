-- AlterTable
ALTER TABLE "Vm" ADD COLUMN "lostAt" TIMESTAMP(3);
ALTER TABLE "Vm" ADD COLUMN "lostReason" TEXT;

-- CreateTable
CREATE TABLE "Host" (
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "schemaName" TEXT NOT NULL,
    "cores" INTEGER NOT NULL,
    "memoryBytes" BIGINT NOT NULL,
    "qemuVersion" TEXT NOT NULL,
    "cpuModel" TEXT NOT NULL,
    "accel" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeen" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lostAt" TIMESTAMP(3),
    "lostReason" TEXT,

    CONSTRAINT "Host_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "ForkRequest" (
    "key" TEXT NOT NULL,
    "templateId" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "result" TEXT,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "ForkRequest_pkey" PRIMARY KEY ("key")
);
