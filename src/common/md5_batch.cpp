// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Multi-lane MD5 (RFC 1321). See md5_batch.hpp for the idea. Layout:
//
//   RILL_MD5_STEPS      the 64 steps of one block, as a table of macro calls
//   compress_scalar     one lane, portable
//   compress_avx2       8 lanes: rows of 8 blocks transposed to 16 word vectors
//   compress_avx512     16 lanes, the same with AVX-512F (rotate and ternary logic)
//   run<L, compress>    the lane manager: feeds each lane the blocks of its key,
//                       the padded tail last, then the next key of the batch
//
// Every compress function takes the state of its L lanes as 4 rows of L words
// (A, B, C, D) and one 64-byte block per lane.
#include "common/md5_batch.hpp"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12's avx512fintrin.h self-initialises _mm512_undefined_epi32() and
// -Wuninitialized reports it wherever an intrinsic built on it is inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define RILL_MD5_X86 1
#else
#define RILL_MD5_X86 0
#endif

#include <atomic>
#include <bit>
#include <cstring>

namespace rill::detail {
namespace {

// S(round function, a, b, c, d, message word, rotation, constant):
//   a = b + rotl(a + f(b, c, d) + X[k] + T, s)
// The constants are floor(|sin(i + 1)| · 2^32) (RFC 1321, 3.4).
#define RILL_MD5_STEPS(S)               \
  S(F, a, b, c, d, 0, 7, 0xd76aa478U)   \
  S(F, d, a, b, c, 1, 12, 0xe8c7b756U)  \
  S(F, c, d, a, b, 2, 17, 0x242070dbU)  \
  S(F, b, c, d, a, 3, 22, 0xc1bdceeeU)  \
  S(F, a, b, c, d, 4, 7, 0xf57c0fafU)   \
  S(F, d, a, b, c, 5, 12, 0x4787c62aU)  \
  S(F, c, d, a, b, 6, 17, 0xa8304613U)  \
  S(F, b, c, d, a, 7, 22, 0xfd469501U)  \
  S(F, a, b, c, d, 8, 7, 0x698098d8U)   \
  S(F, d, a, b, c, 9, 12, 0x8b44f7afU)  \
  S(F, c, d, a, b, 10, 17, 0xffff5bb1U) \
  S(F, b, c, d, a, 11, 22, 0x895cd7beU) \
  S(F, a, b, c, d, 12, 7, 0x6b901122U)  \
  S(F, d, a, b, c, 13, 12, 0xfd987193U) \
  S(F, c, d, a, b, 14, 17, 0xa679438eU) \
  S(F, b, c, d, a, 15, 22, 0x49b40821U) \
  S(G, a, b, c, d, 1, 5, 0xf61e2562U)   \
  S(G, d, a, b, c, 6, 9, 0xc040b340U)   \
  S(G, c, d, a, b, 11, 14, 0x265e5a51U) \
  S(G, b, c, d, a, 0, 20, 0xe9b6c7aaU)  \
  S(G, a, b, c, d, 5, 5, 0xd62f105dU)   \
  S(G, d, a, b, c, 10, 9, 0x02441453U)  \
  S(G, c, d, a, b, 15, 14, 0xd8a1e681U) \
  S(G, b, c, d, a, 4, 20, 0xe7d3fbc8U)  \
  S(G, a, b, c, d, 9, 5, 0x21e1cde6U)   \
  S(G, d, a, b, c, 14, 9, 0xc33707d6U)  \
  S(G, c, d, a, b, 3, 14, 0xf4d50d87U)  \
  S(G, b, c, d, a, 8, 20, 0x455a14edU)  \
  S(G, a, b, c, d, 13, 5, 0xa9e3e905U)  \
  S(G, d, a, b, c, 2, 9, 0xfcefa3f8U)   \
  S(G, c, d, a, b, 7, 14, 0x676f02d9U)  \
  S(G, b, c, d, a, 12, 20, 0x8d2a4c8aU) \
  S(H, a, b, c, d, 5, 4, 0xfffa3942U)   \
  S(H, d, a, b, c, 8, 11, 0x8771f681U)  \
  S(H, c, d, a, b, 11, 16, 0x6d9d6122U) \
  S(H, b, c, d, a, 14, 23, 0xfde5380cU) \
  S(H, a, b, c, d, 1, 4, 0xa4beea44U)   \
  S(H, d, a, b, c, 4, 11, 0x4bdecfa9U)  \
  S(H, c, d, a, b, 7, 16, 0xf6bb4b60U)  \
  S(H, b, c, d, a, 10, 23, 0xbebfbc70U) \
  S(H, a, b, c, d, 13, 4, 0x289b7ec6U)  \
  S(H, d, a, b, c, 0, 11, 0xeaa127faU)  \
  S(H, c, d, a, b, 3, 16, 0xd4ef3085U)  \
  S(H, b, c, d, a, 6, 23, 0x04881d05U)  \
  S(H, a, b, c, d, 9, 4, 0xd9d4d039U)   \
  S(H, d, a, b, c, 12, 11, 0xe6db99e5U) \
  S(H, c, d, a, b, 15, 16, 0x1fa27cf8U) \
  S(H, b, c, d, a, 2, 23, 0xc4ac5665U)  \
  S(I, a, b, c, d, 0, 6, 0xf4292244U)   \
  S(I, d, a, b, c, 7, 10, 0x432aff97U)  \
  S(I, c, d, a, b, 14, 15, 0xab9423a7U) \
  S(I, b, c, d, a, 5, 21, 0xfc93a039U)  \
  S(I, a, b, c, d, 12, 6, 0x655b59c3U)  \
  S(I, d, a, b, c, 3, 10, 0x8f0ccc92U)  \
  S(I, c, d, a, b, 10, 15, 0xffeff47dU) \
  S(I, b, c, d, a, 1, 21, 0x85845dd1U)  \
  S(I, a, b, c, d, 8, 6, 0x6fa87e4fU)   \
  S(I, d, a, b, c, 15, 10, 0xfe2ce6e0U) \
  S(I, c, d, a, b, 6, 15, 0xa3014314U)  \
  S(I, b, c, d, a, 13, 21, 0x4e0811a1U) \
  S(I, a, b, c, d, 4, 6, 0xf7537e82U)   \
  S(I, d, a, b, c, 11, 10, 0xbd3af235U) \
  S(I, c, d, a, b, 2, 15, 0x2ad7d2bbU)  \
  S(I, b, c, d, a, 9, 21, 0xeb86d391U)

constexpr std::uint32_t kInit[4] = {0x67452301U, 0xefcdab89U, 0x98badcfeU, 0x10325476U};

// A key of at most this many bytes fits one block with its padding: the short
// path, which builds the block straight from the key and starts from kInit.
constexpr std::size_t kShortKey = 55;

// n <= 64 bytes from src to dst, in a few fixed-size moves.
inline void copy_short(unsigned char* dst, const char* src, std::size_t n) {
  if (n >= 32) {
    std::memcpy(dst, src, 32);
    std::memcpy(dst + n - 32, src + n - 32, 32);
  } else if (n >= 16) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else if (n != 0) {
    dst[0] = static_cast<unsigned char>(src[0]);
    dst[n / 2] = static_cast<unsigned char>(src[n / 2]);
    dst[n - 1] = static_cast<unsigned char>(src[n - 1]);
  }
}

// The one padded block of a key of at most kShortKey bytes.
inline void pad_short(unsigned char* block, std::string_view key) {
  std::memset(block, 0, 64);
  copy_short(block, key.data(), key.size());
  block[key.size()] = 0x80;
  const std::uint64_t bits = static_cast<std::uint64_t>(key.size()) * 8;
  std::memcpy(block + 56, &bits, 8);
}

// --- one lane, portable ---------------------------------------------------------

// Each round function as pre(c, d) + post(b, c, d): the step adds pre, which
// does not wait for b (the previous step's result), before post, so the chain
// from one step to the next is as short as it can be. G = (b & d) | (c & ~d)
// has disjoint terms, so | is +.
inline std::uint32_t F_pre(std::uint32_t, std::uint32_t) { return 0; }
inline std::uint32_t F_post(std::uint32_t b, std::uint32_t c, std::uint32_t d) { return d ^ (b & (c ^ d)); }
inline std::uint32_t G_pre(std::uint32_t c, std::uint32_t d) { return c & ~d; }
inline std::uint32_t G_post(std::uint32_t b, std::uint32_t, std::uint32_t d) { return b & d; }
inline std::uint32_t H_pre(std::uint32_t, std::uint32_t) { return 0; }
inline std::uint32_t H_post(std::uint32_t b, std::uint32_t c, std::uint32_t d) { return b ^ (c ^ d); }
inline std::uint32_t I_pre(std::uint32_t, std::uint32_t) { return 0; }
inline std::uint32_t I_post(std::uint32_t b, std::uint32_t c, std::uint32_t d) { return c ^ (b | ~d); }

void compress_scalar(std::uint32_t* st, const unsigned char* const* blk) {
  std::uint32_t x[16];
  std::memcpy(x, blk[0], 64);
  static_assert(std::endian::native == std::endian::little);
  std::uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
#define RILL_MD5_SCALAR_STEP(f, a, b, c, d, k, s, t) \
  a += x[k] + (t) + f##_pre(c, d);                   \
  a = b + std::rotl(a + f##_post(b, c, d), s);
  RILL_MD5_STEPS(RILL_MD5_SCALAR_STEP)
#undef RILL_MD5_SCALAR_STEP
  st[0] += a;
  st[1] += b;
  st[2] += c;
  st[3] += d;
}

#if RILL_MD5_X86

// --- 8 lanes, AVX2 --------------------------------------------------------------

#define RILL_AVX2 __attribute__((target("avx2")))
#define RILL_AVX2_INLINE __attribute__((target("avx2"), always_inline)) inline

RILL_AVX2_INLINE __m256i F_avx2(__m256i b, __m256i c, __m256i d) {
  return _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)));
}
RILL_AVX2_INLINE __m256i G_avx2(__m256i b, __m256i c, __m256i d) {
  return _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)));
}
RILL_AVX2_INLINE __m256i H_avx2(__m256i b, __m256i c, __m256i d) { return _mm256_xor_si256(_mm256_xor_si256(b, c), d); }
RILL_AVX2_INLINE __m256i I_avx2(__m256i b, __m256i c, __m256i d) {
  return _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))));
}

// Rows r[0..7] (one lane each, 8 words) to 8 vectors of one word across lanes.
RILL_AVX2_INLINE void transpose8x8(const __m256i r[8], __m256i* out) {
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]);
  const __m256i t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]);
  const __m256i t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]);
  const __m256i t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]);
  const __m256i t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2);  // words 0 | 4 of lanes 0-3
  const __m256i u1 = _mm256_unpackhi_epi64(t0, t2);  // 1 | 5
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3);  // 2 | 6
  const __m256i u3 = _mm256_unpackhi_epi64(t1, t3);  // 3 | 7
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6);  // the same for lanes 4-7
  const __m256i u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7);
  const __m256i u7 = _mm256_unpackhi_epi64(t5, t7);
  out[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  out[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  out[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  out[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  out[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  out[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  out[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  out[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

RILL_AVX2 void compress_avx2(std::uint32_t* st, const unsigned char* const* blk) {
  __m256i x[16];
  for (int half = 0; half < 2; ++half) {
    __m256i r[8];
    for (int l = 0; l < 8; ++l) r[l] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[l] + 32 * half));
    transpose8x8(r, x + 8 * half);
  }
  __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st));
  __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st + 8));
  __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st + 16));
  __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st + 24));
  const __m256i a0 = a, b0 = b, c0 = c, d0 = d;
#define RILL_MD5_AVX2_STEP(f, a, b, c, d, k, s, t)                                                             \
  a = _mm256_add_epi32(                                                                                        \
      a, _mm256_add_epi32(f##_avx2(b, c, d), _mm256_add_epi32(x[k], _mm256_set1_epi32(static_cast<int>(t))))); \
  a = _mm256_or_si256(_mm256_slli_epi32(a, s), _mm256_srli_epi32(a, 32 - (s)));                                \
  a = _mm256_add_epi32(a, b);
  RILL_MD5_STEPS(RILL_MD5_AVX2_STEP)
#undef RILL_MD5_AVX2_STEP
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(st), _mm256_add_epi32(a, a0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(st + 8), _mm256_add_epi32(b, b0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(st + 16), _mm256_add_epi32(c, c0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(st + 24), _mm256_add_epi32(d, d0));
}

// One MD5 step of one group of lanes; `a` is updated. a + X[k] + T does not
// wait for the previous step, so the chain through b is f, add, rotate, add.
#define RILL_MD5_AVX2_SHORT(f, a, b, c, d, xk, s, t)                                     \
  a = _mm256_add_epi32(a, _mm256_add_epi32(xk, _mm256_set1_epi32(static_cast<int>(t)))); \
  a = _mm256_add_epi32(a, f##_avx2(b, c, d));                                            \
  a = _mm256_add_epi32(_mm256_or_si256(_mm256_slli_epi32(a, s), _mm256_srli_epi32(a, 32 - (s))), b);

// G groups of 8 keys of at most kShortKey bytes each (count of them real, the
// rest hash as empty keys), two groups interleaved so that one group's steps
// fill the other's waits. out holds the A, B, C, D rows of 8·G words each.
template <int G>
RILL_AVX2 void short_avx2_groups(const std::string_view* keys, std::size_t count, std::uint32_t* out) {
  constexpr int kLanes = 8 * G;
  alignas(32) unsigned char stage[kLanes][64];
  for (std::size_t l = 0; l < kLanes; ++l) pad_short(stage[l], l < count ? keys[l] : std::string_view());
  __m256i x0[16], x1[16];
  for (int g = 0; g < G; ++g) {
    __m256i* x = g == 0 ? x0 : x1;
    for (int half = 0; half < 2; ++half) {
      __m256i r[8];
      for (int l = 0; l < 8; ++l)
        r[l] = _mm256_load_si256(reinterpret_cast<const __m256i*>(stage[8 * g + l] + 32 * half));
      transpose8x8(r, x + 8 * half);
    }
  }
  const __m256i ia = _mm256_set1_epi32(static_cast<int>(kInit[0]));
  const __m256i ib = _mm256_set1_epi32(static_cast<int>(kInit[1]));
  const __m256i ic = _mm256_set1_epi32(static_cast<int>(kInit[2]));
  const __m256i id = _mm256_set1_epi32(static_cast<int>(kInit[3]));
  __m256i a0 = ia, b0 = ib, c0 = ic, d0 = id;
  __m256i a1 = ia, b1 = ib, c1 = ic, d1 = id;
#define RILL_MD5_AVX2_STEP2(f, a, b, c, d, k, s, t)             \
  RILL_MD5_AVX2_SHORT(f, a##0, b##0, c##0, d##0, x0[k], s, t)   \
  if constexpr (G == 2) {                                       \
    RILL_MD5_AVX2_SHORT(f, a##1, b##1, c##1, d##1, x1[k], s, t) \
  }
  RILL_MD5_STEPS(RILL_MD5_AVX2_STEP2)
#undef RILL_MD5_AVX2_STEP2
  auto* o = reinterpret_cast<__m256i*>(out);
  _mm256_storeu_si256(o + 0 * G, _mm256_add_epi32(a0, ia));
  _mm256_storeu_si256(o + 1 * G, _mm256_add_epi32(b0, ib));
  _mm256_storeu_si256(o + 2 * G, _mm256_add_epi32(c0, ic));
  _mm256_storeu_si256(o + 3 * G, _mm256_add_epi32(d0, id));
  if constexpr (G == 2) {
    _mm256_storeu_si256(o + 1, _mm256_add_epi32(a1, ia));
    _mm256_storeu_si256(o + 3, _mm256_add_epi32(b1, ib));
    _mm256_storeu_si256(o + 5, _mm256_add_epi32(c1, ic));
    _mm256_storeu_si256(o + 7, _mm256_add_epi32(d1, id));
  }
}

// Up to 16 short keys; out rows are 16 words apart.
void short_avx2(const std::string_view* keys, std::size_t count, std::uint32_t* out) {
  if (count > 8) {
    short_avx2_groups<2>(keys, count, out);
    return;
  }
  alignas(32) std::uint32_t one[4 * 8];
  short_avx2_groups<1>(keys, count, one);
  for (int w = 0; w < 4; ++w) std::memcpy(out + 16 * w, one + 8 * w, 32);
}

// --- 16 lanes, AVX-512F ---------------------------------------------------------

#define RILL_AVX512 __attribute__((target("avx512f")))
#define RILL_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline

// Ternary-logic truth tables (bit (x<<2 | y<<1 | z) of the immediate is f(x, y, z)):
// 0xCA is "x ? y : z", 0x96 is x ^ y ^ z, 0x39 is y ^ (x | ~z).
RILL_AVX512_INLINE __m512i F_avx512(__m512i b, __m512i c, __m512i d) {
  return _mm512_ternarylogic_epi32(b, c, d, 0xCA);
}
RILL_AVX512_INLINE __m512i G_avx512(__m512i b, __m512i c, __m512i d) {
  return _mm512_ternarylogic_epi32(d, b, c, 0xCA);
}
RILL_AVX512_INLINE __m512i H_avx512(__m512i b, __m512i c, __m512i d) {
  return _mm512_ternarylogic_epi32(b, c, d, 0x96);
}
RILL_AVX512_INLINE __m512i I_avx512(__m512i b, __m512i c, __m512i d) {
  return _mm512_ternarylogic_epi32(b, c, d, 0x39);
}

// Rows r[0..15] (one lane each, 16 words) to 16 vectors of one word across lanes.
RILL_AVX512_INLINE void transpose16x16(const __m512i r[16], __m512i* out) {
  // Within each group of 4 lanes g, u[4g + k] holds words k, k+4, k+8, k+12 of
  // those lanes, one word per 128-bit chunk m (word k + 4m).
  __m512i u[16];
  for (int g = 0; g < 4; ++g) {
    const __m512i t0 = _mm512_unpacklo_epi32(r[4 * g], r[4 * g + 1]);
    const __m512i t1 = _mm512_unpackhi_epi32(r[4 * g], r[4 * g + 1]);
    const __m512i t2 = _mm512_unpacklo_epi32(r[4 * g + 2], r[4 * g + 3]);
    const __m512i t3 = _mm512_unpackhi_epi32(r[4 * g + 2], r[4 * g + 3]);
    u[4 * g] = _mm512_unpacklo_epi64(t0, t2);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t0, t2);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t1, t3);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t1, t3);
  }
  // A 4x4 transpose of 128-bit chunks across the groups, for each k.
  for (int k = 0; k < 4; ++k) {
    const __m512i x0 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x88);       // g0m0 g0m2 g1m0 g1m2
    const __m512i x1 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xdd);       // g0m1 g0m3 g1m1 g1m3
    const __m512i y0 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x88);  // g2m0 g2m2 g3m0 g3m2
    const __m512i y1 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xdd);  // g2m1 g2m3 g3m1 g3m3
    out[k] = _mm512_shuffle_i32x4(x0, y0, 0x88);
    out[k + 8] = _mm512_shuffle_i32x4(x0, y0, 0xdd);
    out[k + 4] = _mm512_shuffle_i32x4(x1, y1, 0x88);
    out[k + 12] = _mm512_shuffle_i32x4(x1, y1, 0xdd);
  }
}

RILL_AVX512 void compress_avx512(std::uint32_t* st, const unsigned char* const* blk) {
  __m512i x[16];
  {
    __m512i r[16];
    for (int l = 0; l < 16; ++l) r[l] = _mm512_loadu_si512(blk[l]);
    transpose16x16(r, x);
  }
  __m512i a = _mm512_loadu_si512(st);
  __m512i b = _mm512_loadu_si512(st + 16);
  __m512i c = _mm512_loadu_si512(st + 32);
  __m512i d = _mm512_loadu_si512(st + 48);
  const __m512i a0 = a, b0 = b, c0 = c, d0 = d;
#define RILL_MD5_AVX512_STEP(f, a, b, c, d, k, s, t)                                                             \
  a = _mm512_add_epi32(                                                                                          \
      a, _mm512_add_epi32(f##_avx512(b, c, d), _mm512_add_epi32(x[k], _mm512_set1_epi32(static_cast<int>(t))))); \
  a = _mm512_add_epi32(_mm512_rol_epi32(a, s), b);
  RILL_MD5_STEPS(RILL_MD5_AVX512_STEP)
#undef RILL_MD5_AVX512_STEP
  _mm512_storeu_si512(st, _mm512_add_epi32(a, a0));
  _mm512_storeu_si512(st + 16, _mm512_add_epi32(b, b0));
  _mm512_storeu_si512(st + 32, _mm512_add_epi32(c, c0));
  _mm512_storeu_si512(st + 48, _mm512_add_epi32(d, d0));
}

#define RILL_AVX512BW __attribute__((target("avx512f,avx512bw")))
#define RILL_AVX512BW_INLINE __attribute__((target("avx512f,avx512bw"), always_inline)) inline

// The padded block of a key of at most kShortKey bytes, built in a register:
// a byte-masked load reads exactly the key (nothing past its end), then the
// 0x80 byte and the bit length (word 14) go in.
RILL_AVX512BW_INLINE __m512i short_row_avx512(std::string_view key) {
  const std::size_t n = key.size();
  const __mmask64 bytes = n == 0 ? 0 : ~__mmask64{0} >> (64 - n);
  __m512i row = _mm512_maskz_loadu_epi8(bytes, key.data());
  row = _mm512_mask_set1_epi8(row, __mmask64{1} << n, static_cast<char>(0x80));
  return _mm512_mask_set1_epi32(row, __mmask16{1} << 14, static_cast<int>(n * 8));
}

#define RILL_MD5_AVX512_SHORT(f, a, b, c, d, xk, s, t)                                   \
  a = _mm512_add_epi32(a, _mm512_add_epi32(xk, _mm512_set1_epi32(static_cast<int>(t)))); \
  a = _mm512_add_epi32(a, f##_avx512(b, c, d));                                          \
  a = _mm512_add_epi32(_mm512_rol_epi32(a, s), b);

// G groups of 16 short keys, as short_avx2_groups.
template <int G>
RILL_AVX512BW void short_avx512_groups(const std::string_view* keys, std::size_t count, std::uint32_t* out) {
  __m512i x0[16], x1[16];
  for (int g = 0; g < G; ++g) {
    __m512i r[16];
    for (std::size_t l = 0; l < 16; ++l) {
      const std::size_t at = 16 * static_cast<std::size_t>(g) + l;
      r[l] = short_row_avx512(at < count ? keys[at] : std::string_view());
    }
    transpose16x16(r, g == 0 ? x0 : x1);
  }
  const __m512i ia = _mm512_set1_epi32(static_cast<int>(kInit[0]));
  const __m512i ib = _mm512_set1_epi32(static_cast<int>(kInit[1]));
  const __m512i ic = _mm512_set1_epi32(static_cast<int>(kInit[2]));
  const __m512i id = _mm512_set1_epi32(static_cast<int>(kInit[3]));
  __m512i a0 = ia, b0 = ib, c0 = ic, d0 = id;
  __m512i a1 = ia, b1 = ib, c1 = ic, d1 = id;
#define RILL_MD5_AVX512_STEP2(f, a, b, c, d, k, s, t)             \
  RILL_MD5_AVX512_SHORT(f, a##0, b##0, c##0, d##0, x0[k], s, t)   \
  if constexpr (G == 2) {                                         \
    RILL_MD5_AVX512_SHORT(f, a##1, b##1, c##1, d##1, x1[k], s, t) \
  }
  RILL_MD5_STEPS(RILL_MD5_AVX512_STEP2)
#undef RILL_MD5_AVX512_STEP2
  _mm512_storeu_si512(out + 0 * 16 * G, _mm512_add_epi32(a0, ia));
  _mm512_storeu_si512(out + 1 * 16 * G, _mm512_add_epi32(b0, ib));
  _mm512_storeu_si512(out + 2 * 16 * G, _mm512_add_epi32(c0, ic));
  _mm512_storeu_si512(out + 3 * 16 * G, _mm512_add_epi32(d0, id));
  if constexpr (G == 2) {
    _mm512_storeu_si512(out + 16, _mm512_add_epi32(a1, ia));
    _mm512_storeu_si512(out + 48, _mm512_add_epi32(b1, ib));
    _mm512_storeu_si512(out + 80, _mm512_add_epi32(c1, ic));
    _mm512_storeu_si512(out + 112, _mm512_add_epi32(d1, id));
  }
}

// Up to 32 short keys; out rows are 32 words apart.
void short_avx512(const std::string_view* keys, std::size_t count, std::uint32_t* out) {
  if (count > 16) {
    short_avx512_groups<2>(keys, count, out);
    return;
  }
  alignas(64) std::uint32_t one[4 * 16];
  short_avx512_groups<1>(keys, count, one);
  for (int w = 0; w < 4; ++w) std::memcpy(out + 32 * w, one + 16 * w, 64);
}

#endif  // RILL_MD5_X86

// --- the lane manager -------------------------------------------------------------

using compress_fn = void (*)(std::uint32_t* st, const unsigned char* const* blk);

alignas(64) constexpr unsigned char kIdleBlock[64] = {};

// One lane's key: its whole 64-byte blocks are read in place; the rest, the
// 0x80 byte, the zeros and the bit length are the tail, one or two blocks.
struct lane {
  const unsigned char* next = nullptr;  // next whole block of the key
  std::size_t whole = 0;                // whole blocks left
  unsigned tail_blocks = 0;             // 1 or 2
  unsigned tail_left = 0;               // 0: the lane is idle
  std::size_t job = 0;                  // index of the key in the batch
  alignas(64) unsigned char tail[128];

  void load(std::string_view key, std::size_t index) {
    next = reinterpret_cast<const unsigned char*>(key.data());
    whole = key.size() / 64;
    const std::size_t rest = key.size() % 64;
    tail_blocks = rest < 56 ? 1 : 2;
    tail_left = tail_blocks;
    job = index;
    std::memset(tail, 0, sizeof tail);
    if (rest != 0) std::memcpy(tail, next + whole * 64, rest);
    tail[rest] = 0x80;
    const std::uint64_t bits = static_cast<std::uint64_t>(key.size()) * 8;
    std::memcpy(tail + 64 * tail_blocks - 8, &bits, 8);  // little-endian, as MD5 wants
  }
  [[nodiscard]] bool busy() const { return tail_left != 0; }
  [[nodiscard]] const unsigned char* block() const {
    if (whole != 0) return next;
    return tail + 64 * (tail_blocks - tail_left);
  }
  // Moves past the block just hashed; true when the key is done.
  bool advance() {
    if (whole != 0) {
      next += 64;
      --whole;
      return false;
    }
    return --tail_left == 0;
  }
};

// Hashes keys key_at(0..n) with L lanes, any lengths; calls sink(j, A, B, C, D)
// once per key.
template <std::size_t L, compress_fn Compress, class KeyAt, class Sink>
void run(std::size_t n, KeyAt&& key_at, Sink&& sink) {
  lane lanes[L];
  alignas(64) std::uint32_t st[4 * L];
  const unsigned char* blocks[L];
  std::size_t queued = 0;
  std::size_t busy = 0;
  auto start = [&](std::size_t l) {
    lanes[l].load(key_at(queued), queued);
    ++queued;
    ++busy;
    for (std::size_t w = 0; w < 4; ++w) st[w * L + l] = kInit[w];
  };
  for (std::size_t l = 0; l < L; ++l) {
    if (queued < n) {
      start(l);
    } else {
      for (std::size_t w = 0; w < 4; ++w) st[w * L + l] = 0;
    }
  }
  while (busy != 0) {
    for (std::size_t l = 0; l < L; ++l) blocks[l] = lanes[l].busy() ? lanes[l].block() : kIdleBlock;
    Compress(st, blocks);
    for (std::size_t l = 0; l < L; ++l) {
      if (!lanes[l].busy() || !lanes[l].advance()) continue;
      sink(lanes[l].job, st[l], st[L + l], st[2 * L + l], st[3 * L + l]);
      --busy;
      if (queued < n) start(l);
    }
  }
}

using short_fn = void (*)(const std::string_view* keys, std::size_t count, std::uint32_t* out);

// Keys of at most kShortKey bytes (nearly all partition keys) go to Short in
// groups of up to G; longer ones to the lane manager, in chunks.
template <std::size_t L, compress_fn Compress, std::size_t G, short_fn Short, class Sink>
void split(std::span<const std::string_view> keys, Sink&& sink) {
  std::string_view group[G];
  std::size_t group_at[G];
  std::size_t shorts = 0;
  alignas(64) std::uint32_t out[4 * G];
  constexpr std::size_t kLongChunk = 64;
  std::size_t long_at[kLongChunk];
  std::size_t longs = 0;
  auto flush_short = [&] {
    Short(group, shorts, out);
    for (std::size_t j = 0; j < shorts; ++j) sink(group_at[j], out[j], out[G + j], out[2 * G + j], out[3 * G + j]);
    shorts = 0;
  };
  auto flush_long = [&] {
    run<L, Compress>(
        longs, [&](std::size_t j) { return keys[long_at[j]]; },
        [&](std::size_t j, std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
          sink(long_at[j], a, b, c, d);
        });
    longs = 0;
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() <= kShortKey) {
      group[shorts] = keys[i];
      group_at[shorts] = i;
      if (++shorts == G) flush_short();
    } else {
      long_at[longs] = i;
      if (++longs == kLongChunk) flush_long();
    }
  }
  if (shorts != 0) flush_short();
  if (longs != 0) flush_long();
}

template <class Sink>
void dispatch(std::span<const std::string_view> keys, md5_path path, Sink&& sink) {
  if (!md5_path_supported(path)) path = md5_best_path();
  // One or two keys gain nothing from lanes.
  if (keys.size() <= 2) path = md5_path::scalar;
  switch (path) {
#if RILL_MD5_X86
    case md5_path::avx512: split<16, compress_avx512, 32, short_avx512>(keys, sink); return;
    case md5_path::avx2: split<8, compress_avx2, 16, short_avx2>(keys, sink); return;
#endif
    default:
      run<1, compress_scalar>(
          keys.size(), [&](std::size_t i) { return keys[i]; }, sink);
      return;
  }
}

md5_path detect() noexcept {
#if RILL_MD5_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return md5_path::avx512;
  if (__builtin_cpu_supports("avx2")) return md5_path::avx2;
#endif
  return md5_path::scalar;
}

}  // namespace

std::string_view to_string(md5_path path) noexcept {
  switch (path) {
    case md5_path::scalar: return "scalar";
    case md5_path::avx2: return "avx2";
    case md5_path::avx512: return "avx512";
  }
  return "unknown";
}

bool md5_path_supported(md5_path path) noexcept {
  switch (path) {
    case md5_path::scalar: return true;
    case md5_path::avx2: return md5_best_path() != md5_path::scalar;
    case md5_path::avx512: return md5_best_path() == md5_path::avx512;
  }
  return false;
}

md5_path md5_best_path() noexcept {
  static const md5_path best = detect();
  return best;
}

namespace {
constexpr int kNoOverride = -1;
std::atomic<int> g_override{kNoOverride};
}  // namespace

void md5_use_path(std::optional<md5_path> path) noexcept {
  g_override.store(path && md5_path_supported(*path) ? static_cast<int>(*path) : kNoOverride,
                   std::memory_order_relaxed);
}

md5_path md5_current_path() noexcept {
  const int p = g_override.load(std::memory_order_relaxed);
  return p == kNoOverride ? md5_best_path() : static_cast<md5_path>(p);
}

void md5_batch(std::span<const std::string_view> keys, md5_digest* out, md5_path path) noexcept {
  dispatch(keys, path, [out](std::size_t i, std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    const std::uint32_t words[4] = {a, b, c, d};
    std::memcpy(out[i].data(), words, 16);  // little-endian words: the digest's byte order
  });
}

void md5_batch(std::span<const std::string_view> keys, md5_digest* out) noexcept {
  md5_batch(keys, out, md5_current_path());
}

void md5_hash_keys(std::span<const std::string_view> keys, hash_key* out, md5_path path) noexcept {
  dispatch(keys, path, [out](std::size_t i, std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    // Digest bytes 0-7 are A then B, little-endian; the hash key reads them big-endian.
    const std::uint64_t hi = __builtin_bswap64(static_cast<std::uint64_t>(b) << 32 | a);
    const std::uint64_t lo = __builtin_bswap64(static_cast<std::uint64_t>(d) << 32 | c);
    out[i] = hash_key(static_cast<hash_key::value_type>(hi) << 64 | lo);
  });
}

void md5_hash_keys(std::span<const std::string_view> keys, hash_key* out) noexcept {
  md5_hash_keys(keys, out, md5_current_path());
}

hash_key md5_hash_key_one(std::string_view key) noexcept {
  std::uint32_t st[4] = {kInit[0], kInit[1], kInit[2], kInit[3]};
  if (key.size() <= kShortKey) {
    alignas(16) unsigned char block[64];
    pad_short(block, key);
    const unsigned char* blocks[1] = {block};
    compress_scalar(st, blocks);
  } else {
    run<1, compress_scalar>(
        1, [&](std::size_t) { return key; },
        [&](std::size_t, std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
          st[0] = a;
          st[1] = b;
          st[2] = c;
          st[3] = d;
        });
  }
  const std::uint64_t hi = __builtin_bswap64(static_cast<std::uint64_t>(st[1]) << 32 | st[0]);
  const std::uint64_t lo = __builtin_bswap64(static_cast<std::uint64_t>(st[3]) << 32 | st[2]);
  return hash_key(static_cast<hash_key::value_type>(hi) << 64 | lo);
}

}  // namespace rill::detail
