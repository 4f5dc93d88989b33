/** @type {import('next').NextConfig} */
const nextConfig = {
  // The engine spawns QEMU and uses native modules: keep these out of the server bundle.
  serverExternalPackages: ['@prisma/adapter-better-sqlite3', 'better-sqlite3', '@prisma/adapter-pg', 'pg', 'graphile-worker'],
  poweredByHeader: false,
  devIndicators: false,
};
export default nextConfig;
