/* The C header (exec/sdk/c/outlayer.h) exercised end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sdk/c/outlayer.h"

static void print_last(const char *what, int64_t r) {
    uint8_t msg[256];
    int64_t n = outlayer_result_read(msg, sizeof msg - 1);
    if (n > (int64_t)sizeof msg - 1) n = sizeof msg - 1;
    msg[n] = 0;
    printf("%s error %lld %s\n", what, (long long)-r, msg);
}

int main(void) {
    const char *k = "k";
    outlayer_storage_set(OUTLAYER_SCOPE_USER, (const uint8_t *)k, 1, (const uint8_t *)"hello", 5);
    uint8_t buf[64];
    int64_t n = outlayer_storage_get(OUTLAYER_SCOPE_USER, (const uint8_t *)k, 1, buf, sizeof buf);
    printf("get %.*s\n", (int)n, buf);
    n = outlayer_storage_get(OUTLAYER_SCOPE_USER, (const uint8_t *)"missing", 7, buf, sizeof buf);
    if (n < 0) print_last("missing", n);
    printf("has %lld\n", (long long)outlayer_storage_has(OUTLAYER_SCOPE_USER, (const uint8_t *)k, 1));
    uint8_t v[8];
    outlayer_storage_increment(OUTLAYER_SCOPE_WORKER, (const uint8_t *)"n", 1, 2, v);
    long long inc = 0;
    for (int i = 7; i >= 0; i--) inc = inc << 8 | v[i];
    printf("incr %lld\n", inc);

    uint8_t req[256];
    uint32_t len = 0;
    len += outlayer_field(req + len, "GET", 3);
    len += outlayer_field(req + len, "https://big.example/", 20);
    len += outlayer_field(req + len, "", 0);
    len += outlayer_field(req + len, "", 0);
    n = outlayer_http_fetch(req, len, buf, sizeof buf);
    uint8_t *ans = malloc((size_t)n);
    outlayer_result_read(ans, (uint32_t)n);
    uint32_t pos = 0, flen;
    const uint8_t *f;
    outlayer_next_field(ans, (uint32_t)n, &pos, &f, &flen);
    printf("big status %.*s", (int)flen, f);
    outlayer_next_field(ans, (uint32_t)n, &pos, &f, &flen);
    outlayer_next_field(ans, (uint32_t)n, &pos, &f, &flen);
    printf(" body %u\n", flen);

    n = outlayer_vrf_generate((const uint8_t *)"coin", 4, buf, sizeof buf);
    pos = 0;
    outlayer_next_field(buf, (uint32_t)n, &pos, &f, &flen);
    printf("vrf %.*s\n", (int)flen, f);
    n = outlayer_vrf_pubkey(buf, sizeof buf);
    if (n < 0) print_last("pubkey", n);
    return 0;
}
