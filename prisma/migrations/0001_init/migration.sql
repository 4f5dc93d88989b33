-- CreateTable
CREATE TABLE "Image" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "kernel" TEXT NOT NULL,
    "sizeBytes" BIGINT NOT NULL,
    "builtAt" DATETIME NOT NULL,
    "recipeHash" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "Template" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "quiesced" BOOLEAN NOT NULL DEFAULT false,
    "memoryMiB" INTEGER NOT NULL,
    "vcpus" INTEGER NOT NULL DEFAULT 1,
    "parentId" TEXT,
    "sourceVmId" TEXT,
    "dir" TEXT NOT NULL,
    "ramPath" TEXT NOT NULL,
    "statePath" TEXT NOT NULL,
    "diskPath" TEXT NOT NULL,
    "checksums" TEXT NOT NULL DEFAULT '{}',
    "config" TEXT NOT NULL DEFAULT '{}',
    "warmup" TEXT NOT NULL DEFAULT '[]',
    "timings" TEXT NOT NULL DEFAULT '{}',
    "error" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "frozenAt" DATETIME,
    CONSTRAINT "Template_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Template" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Slot" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "templateId" TEXT NOT NULL,
    "runDir" TEXT NOT NULL,
    "overlayPath" TEXT NOT NULL,
    "prelaunched" BOOLEAN NOT NULL DEFAULT false,
    "pid" INTEGER,
    "vmgenid" TEXT NOT NULL,
    "mac" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Slot_templateId_fkey" FOREIGN KEY ("templateId") REFERENCES "Template" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Vm" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "persistent" BOOLEAN NOT NULL DEFAULT false,
    "templateId" TEXT,
    "image" TEXT NOT NULL,
    "memoryMiB" INTEGER NOT NULL,
    "vcpus" INTEGER NOT NULL DEFAULT 1,
    "pid" INTEGER,
    "runDir" TEXT NOT NULL,
    "diskPath" TEXT,
    "hostname" TEXT,
    "mac" TEXT,
    "ip" TEXT,
    "machineId" TEXT,
    "vmgenid" TEXT,
    "ports" TEXT NOT NULL DEFAULT '{}',
    "identity" TEXT NOT NULL DEFAULT '{}',
    "lastSerial" TEXT,
    "error" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "stoppedAt" DATETIME,
    CONSTRAINT "Vm_templateId_fkey" FOREIGN KEY ("templateId") REFERENCES "Template" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Lease" (
    "ip" TEXT NOT NULL PRIMARY KEY,
    "vmId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Task" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "targetId" TEXT,
    "targetName" TEXT,
    "actor" TEXT NOT NULL DEFAULT 'system',
    "progress" REAL NOT NULL DEFAULT 0,
    "log" TEXT NOT NULL DEFAULT '',
    "result" TEXT,
    "error" TEXT,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME
);

-- CreateTable
CREATE TABLE "Event" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetId" TEXT,
    "targetName" TEXT,
    "result" TEXT NOT NULL,
    "message" TEXT,
    "durationMs" INTEGER
);

-- CreateTable
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "username" TEXT NOT NULL,
    "passwordHash" TEXT,
    "setupTokenHash" TEXT,
    "role" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Session" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "expiresAt" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "createdBy" TEXT,
    "revokedAt" DATETIME,
    "lastUsed" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Setting" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "Template_name_key" ON "Template"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Vm_name_key" ON "Vm"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Lease_vmId_key" ON "Lease"("vmId");

-- CreateIndex
CREATE UNIQUE INDEX "User_username_key" ON "User"("username");

-- CreateIndex
CREATE UNIQUE INDEX "User_setupTokenHash_key" ON "User"("setupTokenHash");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_hash_key" ON "ApiToken"("hash");

