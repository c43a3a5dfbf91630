/*
 * Swiftlet's native module: what Node cannot do, or not fast enough, for a storage node.
 *
 *   crc32c(data, previous) -> number
 *       CRC-32C (Castagnoli) continuing from `previous` (0 to start), the same value as
 *       @node-rs/crc32's crc32c. Three interleaved streams of the SSE4.2 crc32 instruction
 *       (its latency is 3 cycles, its throughput 1 per cycle), joined with zero-shift tables;
 *       Mark Adler's method (crc32c.c, zlib licence). ~4x the single-stream loop.
 *
 *   md5Lanes(states, blocks, lane0[, lane1, lane2, lane3]) -> undefined
 *       MD5's block function on up to four independent messages at once: `blocks` 64-byte blocks
 *       of each lane's bytes, each lane's state the four words at states[4*i]. One message's MD5
 *       is a chain of dependent steps that keeps one core's ALUs mostly idle; four lanes in one
 *       SIMD register cost about what one does. The caller (common/native-sums.ts) keeps the
 *       partial blocks and the padding.
 *
 *   syncfs(fd) -> Promise<void>
 *       syncfs(2) on the thread pool: every write made to the filesystem holding `fd` before the
 *       call is on stable storage when it resolves (the storage node's group commit,
 *       storage-node/object/group-sync.ts). Rejects with the errno (code ESYNCFS).
 *
 *   mallocTrim() -> Promise<boolean>                                     (glibc only)
 *       malloc_trim(0) on the thread pool (tens of ms for a large heap, so off the event loop):
 *       hands the C heap's free pages back to the kernel, the middle of the heap included
 *       (madvise), and resolves to whether any were. glibc keeps what a process frees for reuse:
 *       a burst of large buffers leaves the main heap at its high-water mark, and a server's RSS
 *       then climbs in steps that look like a leak (common/malloc-trim.ts).
 *
 *   mallocInfo() -> [arenaBytes, inUseBytes, freeBytes, mmappedBytes]    (glibc only)
 *       mallinfo2(): the C heap's size, what of it is allocated, what is free and kept, and what
 *       is in separate mmaps (GET /recon/memory).
 *
 *   ioprioSet(tid, ioClass, level) -> undefined                          (Linux only)
 *   ioprioGet(tid) -> [ioClass, level]                                   (Linux only)
 *       ioprio_set(2)/ioprio_get(2) on one thread (IOPRIO_WHO_PROCESS; 0 = the calling thread):
 *       the I/O scheduling class (1 real-time, 2 best-effort, 3 idle) and level (0-7) the kernel
 *       gives the thread's disk reads and writes. The auditor runs in the idle class, so it reads
 *       only when nobody else is (common/priority.ts). Glibc has no wrapper: a raw syscall.
 *       Throws an Error whose code is EIOPRIO on failure (message with the errno).
 *
 *   seekData(fd, offset, whence) -> number                                (Linux only)
 *       lseek(2) with SEEK_DATA (3) or SEEK_HOLE (4): where the next data or hole of a sparse file
 *       starts at or after `offset`, or -1 when there is no data after it (ENXIO). Node's fs has
 *       no lseek; the volume gateway's file volume maps holes with it (volume-gateway/file-volume.ts).
 *       Throws an Error whose code is ESEEK on any other failure.
 *
 *   punchHole(fd, offset, length) -> Promise<void>                       (Linux only)
 *       fallocate(2) FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE on the thread pool: the range
 *       reads as zeroes and its blocks go back to the filesystem (NBD TRIM / WRITE_ZEROES).
 *       Rejects with code EPUNCH (message with the errno; EOPNOTSUPP where the filesystem can't).
 *
 * Built by scripts/build-native.mjs with gcc, against Node-API (declared below, so no headers are
 * needed); Swiftlet falls back to @node-rs/crc32, node:crypto and per-file fsyncs when it is
 * missing (common/native.ts).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <errno.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
extern int syncfs(int fd);
#ifdef __linux__
#include <sys/syscall.h>
#include <fcntl.h>
#include <linux/falloc.h>
/* Declared here rather than with _GNU_SOURCE, as syncfs above (x86-64: off_t is 64 bits). */
extern int fallocate(int fd, int mode, off_t offset, off_t len);
#ifndef SEEK_DATA
#define SEEK_DATA 3
#define SEEK_HOLE 4
#endif
#endif

/* ---- Node-API: the few stable-ABI functions used (node_api.h, version 1) ---- */
typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env, napi_callback_info);
extern napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
extern napi_status napi_get_typedarray_info(napi_env, napi_value, int *, size_t *, void **, napi_value *, size_t *);
extern napi_status napi_is_typedarray(napi_env, napi_value, _Bool *);
extern napi_status napi_get_value_uint32(napi_env, napi_value, uint32_t *);
extern napi_status napi_create_uint32(napi_env, uint32_t, napi_value *);
extern napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
extern napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
extern napi_status napi_throw_type_error(napi_env, const char *, const char *);
typedef struct napi_async_work__ *napi_async_work;
typedef struct napi_deferred__ *napi_deferred;
typedef void (*napi_async_execute_callback)(napi_env, void *);
typedef void (*napi_async_complete_callback)(napi_env, napi_status, void *);
extern napi_status napi_create_async_work(napi_env, napi_value, napi_value, napi_async_execute_callback, napi_async_complete_callback, void *, napi_async_work *);
extern napi_status napi_queue_async_work(napi_env, napi_async_work);
extern napi_status napi_delete_async_work(napi_env, napi_async_work);
extern napi_status napi_create_promise(napi_env, napi_deferred *, napi_value *);
extern napi_status napi_resolve_deferred(napi_env, napi_deferred, napi_value);
extern napi_status napi_reject_deferred(napi_env, napi_deferred, napi_value);
extern napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
extern napi_status napi_create_error(napi_env, napi_value, napi_value, napi_value *);
extern napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
extern napi_status napi_get_undefined(napi_env, napi_value *);
extern napi_status napi_get_boolean(napi_env, _Bool, napi_value *);
extern napi_status napi_create_double(napi_env, double, napi_value *);
extern napi_status napi_create_array_with_length(napi_env, size_t, napi_value *);
extern napi_status napi_set_element(napi_env, napi_value, uint32_t, napi_value);
extern napi_status napi_throw_error(napi_env, const char *, const char *);
extern napi_status napi_get_value_double(napi_env, napi_value, double *);
#define NAPI_OK 0
#define NAPI_UINT8_ARRAY 1
#define NAPI_UINT32_ARRAY 6

/* ---- CRC-32C ---- */
#define POLY 0x82f63b78u
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static uint32_t crc_long[4][256];
static uint32_t crc_short[4][256];

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
  uint32_t sum = 0;
  while (vec) {
    if (vec & 1) sum ^= *mat;
    vec >>= 1;
    mat++;
  }
  return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat) {
  for (int n = 0; n < 32; n++) square[n] = gf2_times(mat, mat[n]);
}

/* The operator that appends `len` zero bytes (a power of two) to a CRC register. */
static void zeros_op(uint32_t *even, size_t len) {
  uint32_t odd[32];
  uint32_t row = 1;
  odd[0] = POLY;
  for (int n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  gf2_square(even, odd); /* two zero bits */
  gf2_square(odd, even); /* four */
  do {
    gf2_square(even, odd);
    len >>= 1;
    if (len == 0) return;
    gf2_square(odd, even);
    len >>= 1;
  } while (len);
  memcpy(even, odd, sizeof odd);
}

static void zeros_table(uint32_t zeros[][256], size_t len) {
  uint32_t op[32];
  zeros_op(op, len);
  for (uint32_t n = 0; n < 256; n++) {
    zeros[0][n] = gf2_times(op, n);
    zeros[1][n] = gf2_times(op, n << 8);
    zeros[2][n] = gf2_times(op, n << 16);
    zeros[3][n] = gf2_times(op, n << 24);
  }
}

static inline uint32_t crc_shift(uint32_t zeros[][256], uint32_t crc) {
  return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *next, size_t len) {
  uint64_t crc0 = crc ^ 0xffffffffu, crc1, crc2;
  while (len && ((uintptr_t)next & 7) != 0) {
    crc0 = __builtin_ia32_crc32qi((uint32_t)crc0, *next++);
    len--;
  }
#define THREE_WAY(BLOCK, TABLE)                                                  \
  while (len >= (BLOCK) * 3) {                                                   \
    crc1 = 0;                                                                    \
    crc2 = 0;                                                                    \
    const unsigned char *end = next + (BLOCK);                                   \
    do {                                                                         \
      uint64_t w0, w1, w2;                                                       \
      memcpy(&w0, next, 8);                                                      \
      memcpy(&w1, next + (BLOCK), 8);                                            \
      memcpy(&w2, next + 2 * (BLOCK), 8);                                        \
      crc0 = __builtin_ia32_crc32di(crc0, w0);                                   \
      crc1 = __builtin_ia32_crc32di(crc1, w1);                                   \
      crc2 = __builtin_ia32_crc32di(crc2, w2);                                   \
      next += 8;                                                                 \
    } while (next < end);                                                        \
    crc0 = crc_shift(TABLE, (uint32_t)crc0) ^ crc1;                              \
    crc0 = crc_shift(TABLE, (uint32_t)crc0) ^ crc2;                              \
    next += 2 * (BLOCK);                                                         \
    len -= 3 * (BLOCK);                                                          \
  }
  THREE_WAY(LONG_BLOCK, crc_long)
  THREE_WAY(SHORT_BLOCK, crc_short)
#undef THREE_WAY
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, next, 8);
    crc0 = __builtin_ia32_crc32di(crc0, w);
    next += 8;
    len -= 8;
  }
  while (len) {
    crc0 = __builtin_ia32_crc32qi((uint32_t)crc0, *next++);
    len--;
  }
  return (uint32_t)crc0 ^ 0xffffffffu;
}

/* ---- MD5, four lanes ---- */
typedef uint32_t v4u __attribute__((vector_size(16)));

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define FF(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define GG(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define HH(x, y, z) ((x) ^ (y) ^ (z))
#define II(x, y, z) ((y) ^ ((x) | ~(z)))
#define STEP(f, a, b, c, d, k, t, s) \
  a += f(b, c, d) + m[k] + (t);      \
  a = ROTL(a, s);                    \
  a += b;

static inline uint32_t load_le32(const unsigned char *p) {
  uint32_t w;
  memcpy(&w, p, 4); /* x86 is little-endian, as MD5 is */
  return w;
}

/* Inlined into each target-specific copy below. */
static inline __attribute__((always_inline)) void md5_four(uint32_t *state, const unsigned char *const *lane, size_t blocks) {
  v4u a = {state[0], state[4], state[8], state[12]};
  v4u b = {state[1], state[5], state[9], state[13]};
  v4u c = {state[2], state[6], state[10], state[14]};
  v4u d = {state[3], state[7], state[11], state[15]};
  const unsigned char *p0 = lane[0], *p1 = lane[1], *p2 = lane[2], *p3 = lane[3];
  for (size_t blk = 0; blk < blocks; blk++) {
    v4u m[16];
    for (int i = 0; i < 16; i++) m[i] = (v4u){load_le32(p0 + 4 * i), load_le32(p1 + 4 * i), load_le32(p2 + 4 * i), load_le32(p3 + 4 * i)};
    p0 += 64;
    p1 += 64;
    p2 += 64;
    p3 += 64;
    v4u aa = a, bb = b, cc = c, dd = d;
    STEP(FF, a, b, c, d, 0, 0xd76aa478, 7) STEP(FF, d, a, b, c, 1, 0xe8c7b756, 12)
    STEP(FF, c, d, a, b, 2, 0x242070db, 17) STEP(FF, b, c, d, a, 3, 0xc1bdceee, 22)
    STEP(FF, a, b, c, d, 4, 0xf57c0faf, 7) STEP(FF, d, a, b, c, 5, 0x4787c62a, 12)
    STEP(FF, c, d, a, b, 6, 0xa8304613, 17) STEP(FF, b, c, d, a, 7, 0xfd469501, 22)
    STEP(FF, a, b, c, d, 8, 0x698098d8, 7) STEP(FF, d, a, b, c, 9, 0x8b44f7af, 12)
    STEP(FF, c, d, a, b, 10, 0xffff5bb1, 17) STEP(FF, b, c, d, a, 11, 0x895cd7be, 22)
    STEP(FF, a, b, c, d, 12, 0x6b901122, 7) STEP(FF, d, a, b, c, 13, 0xfd987193, 12)
    STEP(FF, c, d, a, b, 14, 0xa679438e, 17) STEP(FF, b, c, d, a, 15, 0x49b40821, 22)
    STEP(GG, a, b, c, d, 1, 0xf61e2562, 5) STEP(GG, d, a, b, c, 6, 0xc040b340, 9)
    STEP(GG, c, d, a, b, 11, 0x265e5a51, 14) STEP(GG, b, c, d, a, 0, 0xe9b6c7aa, 20)
    STEP(GG, a, b, c, d, 5, 0xd62f105d, 5) STEP(GG, d, a, b, c, 10, 0x02441453, 9)
    STEP(GG, c, d, a, b, 15, 0xd8a1e681, 14) STEP(GG, b, c, d, a, 4, 0xe7d3fbc8, 20)
    STEP(GG, a, b, c, d, 9, 0x21e1cde6, 5) STEP(GG, d, a, b, c, 14, 0xc33707d6, 9)
    STEP(GG, c, d, a, b, 3, 0xf4d50d87, 14) STEP(GG, b, c, d, a, 8, 0x455a14ed, 20)
    STEP(GG, a, b, c, d, 13, 0xa9e3e905, 5) STEP(GG, d, a, b, c, 2, 0xfcefa3f8, 9)
    STEP(GG, c, d, a, b, 7, 0x676f02d9, 14) STEP(GG, b, c, d, a, 12, 0x8d2a4c8a, 20)
    STEP(HH, a, b, c, d, 5, 0xfffa3942, 4) STEP(HH, d, a, b, c, 8, 0x8771f681, 11)
    STEP(HH, c, d, a, b, 11, 0x6d9d6122, 16) STEP(HH, b, c, d, a, 14, 0xfde5380c, 23)
    STEP(HH, a, b, c, d, 1, 0xa4beea44, 4) STEP(HH, d, a, b, c, 4, 0x4bdecfa9, 11)
    STEP(HH, c, d, a, b, 7, 0xf6bb4b60, 16) STEP(HH, b, c, d, a, 10, 0xbebfbc70, 23)
    STEP(HH, a, b, c, d, 13, 0x289b7ec6, 4) STEP(HH, d, a, b, c, 0, 0xeaa127fa, 11)
    STEP(HH, c, d, a, b, 3, 0xd4ef3085, 16) STEP(HH, b, c, d, a, 6, 0x04881d05, 23)
    STEP(HH, a, b, c, d, 9, 0xd9d4d039, 4) STEP(HH, d, a, b, c, 12, 0xe6db99e5, 11)
    STEP(HH, c, d, a, b, 15, 0x1fa27cf8, 16) STEP(HH, b, c, d, a, 2, 0xc4ac5665, 23)
    STEP(II, a, b, c, d, 0, 0xf4292244, 6) STEP(II, d, a, b, c, 7, 0x432aff97, 10)
    STEP(II, c, d, a, b, 14, 0xab9423a7, 15) STEP(II, b, c, d, a, 5, 0xfc93a039, 21)
    STEP(II, a, b, c, d, 12, 0x655b59c3, 6) STEP(II, d, a, b, c, 3, 0x8f0ccc92, 10)
    STEP(II, c, d, a, b, 10, 0xffeff47d, 15) STEP(II, b, c, d, a, 1, 0x85845dd1, 21)
    STEP(II, a, b, c, d, 8, 0x6fa87e4f, 6) STEP(II, d, a, b, c, 15, 0xfe2ce6e0, 10)
    STEP(II, c, d, a, b, 6, 0xa3014314, 15) STEP(II, b, c, d, a, 13, 0x4e0811a1, 21)
    STEP(II, a, b, c, d, 4, 0xf7537e82, 6) STEP(II, d, a, b, c, 11, 0xbd3af235, 10)
    STEP(II, c, d, a, b, 2, 0x2ad7d2bb, 15) STEP(II, b, c, d, a, 9, 0xeb86d391, 21)
    a += aa;
    b += bb;
    c += cc;
    d += dd;
  }
  for (int i = 0; i < 4; i++) {
    state[4 * i] = a[i];
    state[4 * i + 1] = b[i];
    state[4 * i + 2] = c[i];
    state[4 * i + 3] = d[i];
  }
}

/* AVX-512VL: a vector rotate in one instruction (vprold) and three-input logic (vpternlogd). */
__attribute__((target("avx512f,avx512vl"))) static void md5_four_avx512(uint32_t *state, const unsigned char *const *lane, size_t blocks) {
  md5_four(state, lane, blocks);
}

static void md5_four_sse2(uint32_t *state, const unsigned char *const *lane, size_t blocks) {
  md5_four(state, lane, blocks);
}

static void (*md5_four_best)(uint32_t *, const unsigned char *const *, size_t) = md5_four_sse2;

static void init_once(void) {
  __builtin_cpu_init();
  zeros_table(crc_long, LONG_BLOCK);
  zeros_table(crc_short, SHORT_BLOCK);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) md5_four_best = md5_four_avx512;
}

/* ---- bindings ---- */
static int bytes_of(napi_env env, napi_value v, const unsigned char **data, size_t *len) {
  _Bool is = 0;
  int type = -1;
  void *p = NULL;
  size_t n = 0;
  if (napi_is_typedarray(env, v, &is) != NAPI_OK || !is) return 0;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL) != NAPI_OK || type != NAPI_UINT8_ARRAY) return 0;
  *data = p ? (const unsigned char *)p : (const unsigned char *)"";
  *len = n;
  return 1;
}

static napi_value js_crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const unsigned char *data;
  size_t len;
  uint32_t previous = 0;
  if (argc < 1 || !bytes_of(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, NULL, "crc32c: data must be a Uint8Array");
    return NULL;
  }
  if (argc > 1 && napi_get_value_uint32(env, argv[1], &previous) != NAPI_OK) {
    napi_throw_type_error(env, NULL, "crc32c: previous must be a number");
    return NULL;
  }
  napi_value out;
  napi_create_uint32(env, crc32c_hw(previous, data, len), &out);
  return out;
}

static napi_value js_md5_lanes(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "md5Lanes(states, blocks, lane0[, lane1, lane2, lane3])");
    return NULL;
  }
  _Bool is = 0;
  int type = -1;
  void *sp = NULL;
  size_t words = 0;
  uint32_t blocks = 0;
  if (napi_is_typedarray(env, argv[0], &is) != NAPI_OK || !is ||
      napi_get_typedarray_info(env, argv[0], &type, &words, &sp, NULL, NULL) != NAPI_OK || type != NAPI_UINT32_ARRAY) {
    napi_throw_type_error(env, NULL, "md5Lanes: states must be a Uint32Array");
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[1], &blocks) != NAPI_OK) {
    napi_throw_type_error(env, NULL, "md5Lanes: blocks must be a number");
    return NULL;
  }
  if (argc > 6) argc = 6; /* napi_get_cb_info reports every argument given, fills at most 6 */
  size_t lanes = argc - 2;
  if (words < 4 * lanes) {
    napi_throw_type_error(env, NULL, "md5Lanes: states holds fewer lanes than given");
    return NULL;
  }
  const unsigned char *ptr[4];
  for (size_t i = 0; i < lanes; i++) {
    size_t len;
    if (!bytes_of(env, argv[2 + i], &ptr[i], &len) || len < (size_t)blocks * 64) {
      napi_throw_type_error(env, NULL, "md5Lanes: each lane must be a Uint8Array of at least blocks * 64 bytes");
      return NULL;
    }
  }
  /* Unused lanes hash lane 0's bytes again into a scratch state, discarded. */
  uint32_t state[16];
  memcpy(state, sp, 4 * lanes * sizeof(uint32_t));
  for (size_t i = lanes; i < 4; i++) {
    ptr[i] = ptr[0];
    memcpy(state + 4 * i, state, 4 * sizeof(uint32_t));
  }
  md5_four_best(state, ptr, blocks);
  memcpy(sp, state, 4 * lanes * sizeof(uint32_t));
  return NULL;
}

/*
 * A call made on the thread pool, settling a promise on the main thread: `run` (on a pool thread)
 * sets `result`; `settle` (on the main thread) resolves or rejects with it.
 */
struct pool_job {
  int arg;
  int64_t off, len; /* punchHole's range */
  int result;
  void (*run)(struct pool_job *);
  void (*settle)(napi_env, struct pool_job *);
  napi_deferred deferred;
  napi_async_work work;
};

static void pool_execute(napi_env env, void *data) {
  (void)env;
  struct pool_job *job = data;
  job->run(job);
}

static void pool_complete(napi_env env, napi_status status, void *data) {
  (void)status;
  struct pool_job *job = data;
  job->settle(env, job);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value queue_pool_job_range(napi_env env, const char *name, int arg, int64_t off, int64_t len, void (*run)(struct pool_job *), void (*settle)(napi_env, struct pool_job *)) {
  struct pool_job *job = calloc(1, sizeof *job);
  if (!job) return NULL;
  job->arg = arg;
  job->off = off;
  job->len = len;
  job->run = run;
  job->settle = settle;
  napi_value promise, resource;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, name, (size_t)-1, &resource);
  napi_create_async_work(env, NULL, resource, pool_execute, pool_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value queue_pool_job(napi_env env, const char *name, int arg, void (*run)(struct pool_job *), void (*settle)(napi_env, struct pool_job *)) {
  return queue_pool_job_range(env, name, arg, 0, 0, run, settle);
}

/* Settles a job whose result is 0 or an errno: resolves undefined, or rejects with `code` and the errno. */
static void settle_errno(napi_env env, struct pool_job *job, const char *code, const char *what) {
  if (job->result == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, job->deferred, undef);
    return;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "%s: errno %d (%s)", what, job->result, strerror(job->result));
  napi_value c, text, err;
  napi_create_string_utf8(env, code, (size_t)-1, &c);
  napi_create_string_utf8(env, msg, (size_t)-1, &text);
  napi_create_error(env, c, text, &err);
  napi_reject_deferred(env, job->deferred, err);
}

/* syncfs(fd): resolves once the whole filesystem holding fd is on stable storage. */
static void syncfs_run(struct pool_job *job) {
  job->result = syncfs(job->arg) == 0 ? 0 : errno;
}

static void syncfs_settle(napi_env env, struct pool_job *job) {
  settle_errno(env, job, "ESYNCFS", "syncfs");
}

static napi_value js_syncfs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != NAPI_OK || fd < 0) {
    napi_throw_type_error(env, NULL, "syncfs(fd): fd must be a file descriptor");
    return NULL;
  }
  return queue_pool_job(env, "swiftlet.syncfs", fd, syncfs_run, syncfs_settle);
}

#ifdef __GLIBC__
/* malloc_trim(0): resolves to whether any memory went back to the kernel. */
static void trim_run(struct pool_job *job) {
  job->result = malloc_trim(0);
}

static void trim_settle(napi_env env, struct pool_job *job) {
  napi_value out;
  napi_get_boolean(env, job->result != 0, &out);
  napi_resolve_deferred(env, job->deferred, out);
}

static napi_value js_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  return queue_pool_job(env, "swiftlet.mallocTrim", 0, trim_run, trim_settle);
}

static napi_value js_malloc_info(napi_env env, napi_callback_info info) {
  (void)info;
  struct mallinfo2 mi = mallinfo2();
  const double figures[4] = {(double)mi.arena, (double)mi.uordblks, (double)mi.fordblks, (double)mi.hblkhd};
  napi_value out, v;
  napi_create_array_with_length(env, 4, &out);
  for (uint32_t i = 0; i < 4; i++) {
    napi_create_double(env, figures[i], &v);
    napi_set_element(env, out, i, v);
  }
  return out;
}
#endif

#if defined(__linux__) && defined(SYS_ioprio_set) && defined(SYS_ioprio_get)
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13

static int int_args(napi_env env, napi_callback_info info, size_t want, int32_t *out, const char *usage) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < want) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  for (size_t i = 0; i < want; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != NAPI_OK) {
      napi_throw_type_error(env, NULL, usage);
      return 0;
    }
  }
  return 1;
}

static void throw_errno(napi_env env, const char *what) {
  char msg[96];
  snprintf(msg, sizeof msg, "%s: errno %d (%s)", what, errno, strerror(errno));
  napi_throw_error(env, "EIOPRIO", msg);
}

static napi_value js_ioprio_set(napi_env env, napi_callback_info info) {
  int32_t a[3];
  if (!int_args(env, info, 3, a, "ioprioSet(tid, ioClass, level)")) return NULL;
  if (a[1] < 0 || a[1] > 3 || a[2] < 0 || a[2] > 7) {
    napi_throw_type_error(env, NULL, "ioprioSet: class 0-3, level 0-7");
    return NULL;
  }
  if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, a[0], (a[1] << IOPRIO_CLASS_SHIFT) | a[2]) != 0) {
    throw_errno(env, "ioprio_set");
    return NULL;
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value js_ioprio_get(napi_env env, napi_callback_info info) {
  int32_t a[1];
  if (!int_args(env, info, 1, a, "ioprioGet(tid)")) return NULL;
  long prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, a[0]);
  if (prio < 0) {
    throw_errno(env, "ioprio_get");
    return NULL;
  }
  napi_value out, v;
  napi_create_array_with_length(env, 2, &out);
  napi_create_uint32(env, (uint32_t)(prio >> IOPRIO_CLASS_SHIFT), &v);
  napi_set_element(env, out, 0, v);
  napi_create_uint32(env, (uint32_t)(prio & ((1 << IOPRIO_CLASS_SHIFT) - 1)), &v);
  napi_set_element(env, out, 1, v);
  return out;
}
#endif

#ifdef __linux__
/* Reads n numbers (fd first); false after throwing a TypeError. */
static _Bool number_args(napi_env env, napi_callback_info info, size_t n, double *out, const char *usage) {
  size_t argc = n;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  for (size_t i = 0; i < n; i++) {
    if (i >= argc || napi_get_value_double(env, argv[i], &out[i]) != NAPI_OK || out[i] < 0 || out[i] > 9007199254740991.0) {
      napi_throw_type_error(env, NULL, usage);
      return 0;
    }
  }
  return 1;
}

static napi_value js_seek_data(napi_env env, napi_callback_info info) {
  double a[3];
  if (!number_args(env, info, 3, a, "seekData(fd, offset, whence 3|4)")) return NULL;
  int whence = (int)a[2];
  if (whence != SEEK_DATA && whence != SEEK_HOLE) {
    napi_throw_type_error(env, NULL, "seekData: whence is SEEK_DATA (3) or SEEK_HOLE (4)");
    return NULL;
  }
  off_t r = lseek((int)a[0], (off_t)a[1], whence);
  if (r < 0 && errno != ENXIO) {
    char msg[96];
    snprintf(msg, sizeof msg, "lseek: errno %d (%s)", errno, strerror(errno));
    napi_throw_error(env, "ESEEK", msg);
    return NULL;
  }
  napi_value out;
  napi_create_double(env, r < 0 ? -1.0 : (double)r, &out);
  return out;
}

static void punch_run(struct pool_job *job) {
  job->result = fallocate(job->arg, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)job->off, (off_t)job->len) == 0 ? 0 : errno;
}

static void punch_settle(napi_env env, struct pool_job *job) {
  settle_errno(env, job, "EPUNCH", "fallocate(PUNCH_HOLE)");
}

static napi_value js_punch_hole(napi_env env, napi_callback_info info) {
  double a[3];
  if (!number_args(env, info, 3, a, "punchHole(fd, offset, length)")) return NULL;
  return queue_pool_job_range(env, "swiftlet.punchHole", (int)a[0], (int64_t)a[1], (int64_t)a[2], punch_run, punch_settle);
}
#endif

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, (size_t)-1, cb, NULL, &fn) == NAPI_OK) napi_set_named_property(env, exports, name, fn);
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  /* Loaded by the main thread and by worker threads: the tables are made once. */
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, init_once);
  /* Without the crc32 instruction there is nothing faster here than the fallback. */
  if (__builtin_cpu_supports("sse4.2")) export_fn(env, exports, "crc32c", js_crc32c);
  export_fn(env, exports, "md5Lanes", js_md5_lanes);
  export_fn(env, exports, "syncfs", js_syncfs);
#ifdef __linux__
  export_fn(env, exports, "seekData", js_seek_data);
  export_fn(env, exports, "punchHole", js_punch_hole);
#endif
#ifdef __GLIBC__
  export_fn(env, exports, "mallocTrim", js_malloc_trim);
  export_fn(env, exports, "mallocInfo", js_malloc_info);
#endif
#if defined(__linux__) && defined(SYS_ioprio_set) && defined(SYS_ioprio_get)
  export_fn(env, exports, "ioprioSet", js_ioprio_set);
  export_fn(env, exports, "ioprioGet", js_ioprio_get);
#endif
  return exports;
}
