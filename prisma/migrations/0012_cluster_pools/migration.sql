-- Pools spread over many hosts (#16): the pool and each host's share, in the consoles' schema.
CREATE TABLE "ClusterPool" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "templateId" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "spares" INTEGER NOT NULL,
    "onRelease" TEXT NOT NULL,
    "ttlSec" INTEGER,
    "host" TEXT,
    "owner" TEXT,
    "state" TEXT NOT NULL,
    "shares" TEXT NOT NULL DEFAULT '{}',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "ClusterPool_name_key" ON "ClusterPool"("name");
