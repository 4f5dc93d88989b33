-- Pool claims carry a caller-chosen request id (#16): a retry with the same id gets the same child.
CREATE TABLE "ClaimRequest" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "principal" TEXT NOT NULL,
    "requestId" TEXT NOT NULL,
    "poolId" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "vmId" TEXT,
    "result" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME
);
ALTER TABLE "PoolMember" ADD COLUMN "claimKey" TEXT;
-- Many hosts: memory in use per host, from each agent's heartbeat (MemTotal - MemAvailable; its QEMUs' PSS).
ALTER TABLE "Host" ADD COLUMN "memoryUsedBytes" BIGINT;
ALTER TABLE "Host" ADD COLUMN "qemuPssBytes" BIGINT;
