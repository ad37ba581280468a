/* OutLayer host functions (import module "outlayer_v1") for C programs
 * built for wasm32-wasi, e.g.
 *
 *   clang --target=wasm32-wasi -O2 -o prog.wasm prog.c    (Debian: clang, wasi-libc,
 *                                                          libclang-rt-14-dev-wasm32)
 *
 * Every function returns an int64_t: >= 0 on success (its meaning is per
 * function), -code on failure (OUTLAYER_ERR_*), with the node's message
 * readable by outlayer_result_read. Answers of unknown size go to
 * out/out_cap; the return value is their full length, and when it is
 * larger than out_cap, outlayer_result_read copies the answer. The exact
 * ABI is exec/hostabi/SPEC.md in the OutLayer repository. */
#ifndef OUTLAYER_H
#define OUTLAYER_H

#include <stdint.h>

#define OUTLAYER_ERR_NOT_FOUND 1
#define OUTLAYER_ERR_DENIED 2
#define OUTLAYER_ERR_LIMIT 3
#define OUTLAYER_ERR_BAD_INPUT 4
#define OUTLAYER_ERR_UNAVAILABLE 5
#define OUTLAYER_ERR_FAILED 6

#define OUTLAYER_SCOPE_USER 0u
#define OUTLAYER_SCOPE_WORKER 1u
#define OUTLAYER_SCOPE_PUBLIC 2u

#define OUTLAYER_IMPORT(name) __attribute__((import_module("outlayer_v1"), import_name(#name)))

OUTLAYER_IMPORT(result_read)
int64_t outlayer_result_read(uint8_t *out, uint32_t out_cap);

/* req: fields [method, url, headers ("Name: value\n" lines), body];
 * answer: fields [status, headers, body]. */
OUTLAYER_IMPORT(http_fetch)
int64_t outlayer_http_fetch(const uint8_t *req, uint32_t req_len, uint8_t *out, uint32_t out_cap);

OUTLAYER_IMPORT(storage_get)
int64_t outlayer_storage_get(uint32_t scope, const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);

OUTLAYER_IMPORT(storage_set)
int64_t outlayer_storage_set(uint32_t scope, const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len);

OUTLAYER_IMPORT(storage_has)
int64_t outlayer_storage_has(uint32_t scope, const uint8_t *key, uint32_t key_len);

OUTLAYER_IMPORT(storage_delete)
int64_t outlayer_storage_delete(uint32_t scope, const uint8_t *key, uint32_t key_len);

OUTLAYER_IMPORT(storage_set_if_absent)
int64_t outlayer_storage_set_if_absent(uint32_t scope, const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len);

OUTLAYER_IMPORT(storage_set_if_equals)
int64_t outlayer_storage_set_if_equals(uint32_t scope, const uint8_t *key, uint32_t key_len,
                                       const uint8_t *expected, uint32_t expected_len, const uint8_t *val, uint32_t val_len);

/* Writes the new value (little-endian int64) at out (8 bytes). */
OUTLAYER_IMPORT(storage_increment)
int64_t outlayer_storage_increment(uint32_t scope, const uint8_t *key, uint32_t key_len, int64_t delta, uint8_t *out);

/* Answer: fields, one key each. */
OUTLAYER_IMPORT(storage_list)
int64_t outlayer_storage_list(uint32_t scope, const uint8_t *prefix, uint32_t prefix_len, const uint8_t *after,
                              uint32_t after_len, uint32_t limit, uint8_t *out, uint32_t out_cap);

/* Answer: fields [output_hex, signature_hex, alpha]. */
OUTLAYER_IMPORT(vrf_generate)
int64_t outlayer_vrf_generate(const uint8_t *seed, uint32_t seed_len, uint8_t *out, uint32_t out_cap);

OUTLAYER_IMPORT(vrf_pubkey)
int64_t outlayer_vrf_pubkey(uint8_t *out, uint32_t out_cap);

/* req: fields [kind, args...]; answer: the RPC's JSON result. */
OUTLAYER_IMPORT(near_view)
int64_t outlayer_near_view(const uint8_t *req, uint32_t req_len, uint8_t *out, uint32_t out_cap);

/* outlayer_field appends one field (u32 LE length, then the bytes) at dst
 * and returns the bytes written. */
static inline uint32_t outlayer_field(uint8_t *dst, const void *src, uint32_t len) {
    const uint8_t *s = (const uint8_t *)src;
    dst[0] = (uint8_t)len;
    dst[1] = (uint8_t)(len >> 8);
    dst[2] = (uint8_t)(len >> 16);
    dst[3] = (uint8_t)(len >> 24);
    for (uint32_t i = 0; i < len; i++) dst[4 + i] = s[i];
    return 4 + len;
}

/* outlayer_next_field reads the field at *pos of buf (of length n): it sets
 * *data and *len and advances *pos; 0 when no whole field is left. */
static inline int outlayer_next_field(const uint8_t *buf, uint32_t n, uint32_t *pos, const uint8_t **data, uint32_t *len) {
    if (*pos + 4 > n) return 0;
    const uint8_t *p = buf + *pos;
    uint32_t l = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (l > n - *pos - 4) return 0;
    *data = p + 4;
    *len = l;
    *pos += 4 + l;
    return 1;
}

#endif
