-- Pools spread over many hosts (#16): the pool and each host's share, in the consoles' schema.
CREATE TABLE "ClusterPool" (
    "id" TEXT NOT NULL,
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
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ClusterPool_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ClusterPool_name_key" ON "ClusterPool"("name");
