-- Quotas per user/token (#12): who each VM and pool counts against.
ALTER TABLE "Vm" ADD COLUMN "owner" TEXT;
ALTER TABLE "Pool" ADD COLUMN "owner" TEXT;
