/*
 * instaclone-reseed: add host-provided entropy to the guest kernel's pool and
 * force the CRNG to reseed. A child VM resumed from a template starts with its
 * parent's RNG state; the engine runs this through the guest agent right
 * after a fork (vmgenid also triggers a reseed, but asynchronously).
 *
 *   instaclone-reseed HEX          entropy given as a hex string argument
 *   instaclone-reseed < bytes      entropy read from stdin (up to 4096 bytes)
 *
 * Credits 8 bits per byte (RNDADDENTROPY), then RNDRESEEDCRNG on /dev/urandom.
 * Exit 0 on success; prints an error and exits 1 if anything fails.
 * Built statically at image build time: gcc -static -O2.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_BYTES 4096

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int main(int argc, char **argv) {
  static unsigned char buf[MAX_BYTES];
  size_t n = 0;
  if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
    fprintf(stderr, "usage: instaclone-reseed [HEX] (or random bytes on stdin)\n");
    return argc == 2 ? 0 : 1;
  }
  if (argc == 2) {
    const char *h = argv[1];
    size_t len = strlen(h);
    if (len % 2 != 0 || len / 2 > MAX_BYTES) {
      fprintf(stderr, "instaclone-reseed: hex argument must have an even length of at most %d digits\n", MAX_BYTES * 2);
      return 1;
    }
    for (size_t i = 0; i < len; i += 2) {
      int hi = hexval((unsigned char)h[i]), lo = hexval((unsigned char)h[i + 1]);
      if (hi < 0 || lo < 0) {
        fprintf(stderr, "instaclone-reseed: invalid hex digit in argument\n");
        return 1;
      }
      buf[n++] = (unsigned char)(hi << 4 | lo);
    }
  } else {
    while (n < MAX_BYTES) {
      ssize_t r = read(0, buf + n, MAX_BYTES - n);
      if (r < 0) {
        if (errno == EINTR) continue;
        fprintf(stderr, "instaclone-reseed: reading stdin: %s\n", strerror(errno));
        return 1;
      }
      if (r == 0) break;
      n += (size_t)r;
    }
  }
  if (n == 0) {
    fprintf(stderr, "instaclone-reseed: no entropy given (pass a hex argument or bytes on stdin)\n");
    return 1;
  }
  int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "instaclone-reseed: open /dev/urandom: %s\n", strerror(errno));
    return 1;
  }
  struct rand_pool_info *info = malloc(sizeof(*info) + n + sizeof(__u32));
  if (!info) {
    fprintf(stderr, "instaclone-reseed: out of memory\n");
    return 1;
  }
  info->entropy_count = (int)(n * 8);
  info->buf_size = (int)n;
  memcpy(info->buf, buf, n);
  if (ioctl(fd, RNDADDENTROPY, info) < 0) {
    fprintf(stderr, "instaclone-reseed: ioctl RNDADDENTROPY: %s\n", strerror(errno));
    return 1;
  }
  if (ioctl(fd, RNDRESEEDCRNG) < 0) {
    fprintf(stderr, "instaclone-reseed: ioctl RNDRESEEDCRNG: %s\n", strerror(errno));
    return 1;
  }
  memset(buf, 0, sizeof(buf));
  memset(info->buf, 0, n);
  free(info);
  close(fd);
  printf("instaclone-reseed: added %zu bytes (%zu bits credited) and reseeded the CRNG\n", n, n * 8);
  return 0;
}
