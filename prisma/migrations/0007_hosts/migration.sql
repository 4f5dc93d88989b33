-- AlterTable
ALTER TABLE "Vm" ADD COLUMN "lostAt" DATETIME;
ALTER TABLE "Vm" ADD COLUMN "lostReason" TEXT;

-- CreateTable
CREATE TABLE "Host" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "state" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "schemaName" TEXT NOT NULL,
    "cores" INTEGER NOT NULL,
    "memoryBytes" BIGINT NOT NULL,
    "qemuVersion" TEXT NOT NULL,
    "cpuModel" TEXT NOT NULL,
    "accel" TEXT NOT NULL,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeen" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lostAt" DATETIME,
    "lostReason" TEXT
);

-- CreateTable
CREATE TABLE "ForkRequest" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "templateId" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "result" TEXT,
    "error" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME
);
