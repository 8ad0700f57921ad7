/* vkcast.h - stream frames from a C or C++ engine to vkcast's viewers, and get their input back.
 *
 * Header-only, C99, libc + POSIX only (Linux: shared memory ring, Unix socket). In exactly one .c file:
 *
 *     #define VKCAST_IMPLEMENTATION
 *     #include "vkcast.h"        (before any other #include in that file: it sets _POSIX_C_SOURCE)
 *
 * and plain #include "vkcast.h" elsewhere. It speaks the ingest protocol, version 1
 * (docs/ingest-protocol.md) to `vkcast --source ipc:PATH`.
 *
 *     char err[256];
 *     vkcast *v = vkcast_connect("/tmp/engine.sock", "main", 1280, 720, VKCAST_RGBA, err, sizeof err);
 *     if (!v) { fprintf(stderr, "%s\n", err); exit(1); }
 *     while (running) {
 *         vkcast_event ev;
 *         while (vkcast_poll_event(v, &ev) > 0) handle(ev.type, ev.json);
 *         if (!vkcast_has_clients(v)) { sleep_a_little(); continue; }   (nobody watches: don't render)
 *         render(pixels);
 *         if (vkcast_push_frame(v, pixels, 1280, 720, 0, VKCAST_RGBA) == VKCAST_CLOSED) break;
 *     }
 *     vkcast_close(v);
 *
 * The API (one connection = one stream; not thread-safe: use a connection from one thread at a time):
 *
 *   vkcast_connect(path, stream, width, height, format, err, err_size) -> vkcast* or NULL
 *       Connects to the socket, names the stream (NULL: "main"), and maps a ring of VKCAST_SLOTS (3)
 *       frame slots large enough for width x height in format (up to 3840 x 2160, the largest frame
 *       vkcast streams). Blocks for the handshake only (at most VKCAST_CONNECT_TIMEOUT_MS). On failure
 *       returns NULL with the reason in err (when err is not NULL), e.g. vkcast's "stream NAME already
 *       has a producer".
 *   vkcast_push_frame(v, pixels, width, height, stride, format) -> VKCAST_OK | VKCAST_DROPPED | error
 *       Copies the frame (stride: bytes per row of `pixels`, 0 = packed) into a free slot and submits
 *       it. Never blocks: VKCAST_DROPPED when no slot is free (vkcast is behind; the frame is skipped,
 *       as the original server skips frames). A frame larger than the ring asks vkcast for a larger
 *       ring and is dropped; it goes through once the new ring arrives (one round trip), and frames
 *       that fit the old ring go on meanwhile. Any size may follow any other.
 *   vkcast_acquire_slot(v, width, height, format, &stride) -> pointer or NULL
 *   vkcast_submit(v) -> VKCAST_OK | error
 *       The zero-copy path: render straight into the slot (rows `stride` bytes apart, 64-byte
 *       aligned), then submit it. NULL when no slot is free (skip the frame) or the connection is gone
 *       (vkcast_error() says). The pointer is valid until vkcast_submit, the next acquire or push, or
 *       vkcast_close. Acquiring again without submitting reuses the same slot.
 * Vulkan engines (docs/ingest-protocol.md, "Vulkan memory"): share the memory frames are rendered into
 * instead of copying them to the ring; vkcast's Vulkan device copies each frame itself.
 *
 *   vkcast_share_vulkan_memory(v, fd, size, memory_type, offset, slot_bytes, slots, device_uuid, err, err_size)
 *       -> VKCAST_OK | VKCAST_REFUSED | error
 *       fd: from vkGetMemoryFdKHR (OPAQUE_FD) for a non-dedicated allocation of `size` bytes of memory
 *       type `memory_type`; it holds `slots` (3..16) frame regions of `slot_bytes` from `offset`.
 *       device_uuid: VkPhysicalDeviceIDProperties.deviceUUID (16 bytes). Keep fd open until this returns
 *       (vkcast takes its own copy of it with pidfd_getfd; close yours after). Blocks for vkcast's answer
 *       (at most VKCAST_CONNECT_TIMEOUT_MS). VKCAST_REFUSED (reason in err: another GPU, no Vulkan on
 *       vkcast's side, memory it cannot import): the connection goes on with the ring as before. After
 *       VKCAST_OK frames go only through the two calls below (push_frame and acquire_slot refuse).
 *       Call it again (new memory, e.g. larger frames) to replace the shared memory.
 *   vkcast_acquire_shared(v, &slot) -> VKCAST_OK (slot: a region the engine may render into) |
 *       VKCAST_DROPPED (none free: skip the frame) | error
 *   vkcast_submit_shared(v, slot, width, height, stride, format) -> VKCAST_OK | error
 *       Submits region `slot` (rows `stride` bytes apart, stride * height <= slot_bytes). Call it only
 *       once the GPU finished writing the region (wait for the fence of the submission that wrote it);
 *       the region is vkcast's until it releases it.
 *
 *   vkcast_has_clients(v) -> 1 when anyone watches (WebSocket viewers, MJPEG readers, a snapshot
 *       request), else 0. Skip rendering while it is 0.
 *   vkcast_poll_event(v, &event) -> 1 (an event), 0 (none now), VKCAST_CLOSED
 *       The next viewer input event, already validated by vkcast: event.type ("pointer_down",
 *       "pointer_up", "pointer_move", "wheel", "key_down", "key_up" (with "key" and "code"), "text"
 *       (composed text), "paste" (pasted text, up to 64 KiB), "gamepad", "resize", "focus_in",
 *       "focus_out"; docs/ingest-protocol.md has their fields) and event.json, the event object's JSON
 *       text (NUL-terminated, valid until the next vkcast_poll_event or vkcast_close). Up to
 *       VKCAST_MAX_EVENTS wait; more are dropped and counted, as the original server's queue does. A
 *       key a viewer holds when it leaves or loses control comes with its key_up.
 *   vkcast_set_clipboard(v, text) -> VKCAST_OK | VKCAST_DROPPED | error
 *       Puts text (UTF-8, NUL-terminated, at most VKCAST_MAX_CLIPBOARD bytes) on the clipboard of the
 *       viewers that control the stream. VKCAST_BAD_ARGUMENT for text that is too long or not UTF-8;
 *       VKCAST_DROPPED when vkcast is too far behind reading the socket to take it now.
 *   vkcast_poll(v) -> VKCAST_OK | VKCAST_CLOSED
 *       Reads what vkcast sent (releases, watching, input) without blocking. The calls above do it
 *       themselves; call it from an idle loop, or when vkcast_fd(v) is readable.
 *   vkcast_error(v)  -> NULL while connected, else why the connection ended (vkcast's own reason
 *       when it sent one). vkcast_url(v): the viewers' URL vkcast announced. vkcast_fd(v): the socket.
 *   vkcast_stats(v)  -> counters: frames submitted and dropped, events received and dropped.
 *   vkcast_close(v)  closes the connection and unmaps the ring (NULL is fine). vkcast keeps the last
 *       picture for its viewers and waits for the next producer.
 *
 *   vkcast_json_find(json, len, key, &value_len), vkcast_json_number(json, len, key, &double),
 *   vkcast_json_string(json, len, key, out, out_size): a field of a JSON object's top level, e.g.
 *       vkcast_json_number(ev.json, ev.json_len, "x", &x). They return 0 (NULL) when the text is not
 *       a valid object, the key is missing, the value has another type or does not fit in `out`.
 *
 * Errors: VKCAST_CLOSED (-1) once the connection is gone (vkcast_error() says why; connect again to
 * resume), VKCAST_BAD_ARGUMENT (-2) for a bad size, format, stride or pointer (nothing is sent),
 * VKCAST_REFUSED (-3) when vkcast would not import shared memory (the connection goes on). Odd
 * server output (not JSON, lines over 1 MiB, unknown messages) is skipped, never trusted.
 */
#ifndef VKCAST_H
#define VKCAST_H

#if defined(VKCAST_IMPLEMENTATION) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VKCAST_SLOTS
#define VKCAST_SLOTS 3
#endif
#ifndef VKCAST_MAX_EVENTS
#define VKCAST_MAX_EVENTS 256
#endif
#ifndef VKCAST_MAX_CLIPBOARD
#define VKCAST_MAX_CLIPBOARD 65536
#endif
#ifndef VKCAST_CONNECT_TIMEOUT_MS
#define VKCAST_CONNECT_TIMEOUT_MS 10000
#endif

typedef enum { VKCAST_RGBA = 0, VKCAST_BGRA = 1, VKCAST_RGB = 2 } vkcast_format;

enum { VKCAST_OK = 0, VKCAST_DROPPED = 1, VKCAST_CLOSED = -1, VKCAST_BAD_ARGUMENT = -2, VKCAST_REFUSED = -3 };

typedef struct vkcast vkcast;

typedef struct {
    char type[32];
    const char *json;
    size_t json_len;
} vkcast_event;

typedef struct {
    unsigned long long frames_submitted;
    unsigned long long frames_dropped;
    unsigned long long events_received;
    unsigned long long events_dropped;
} vkcast_counters;

vkcast *vkcast_connect(const char *socket_path, const char *stream, int width, int height, vkcast_format format, char *err,
                       size_t err_size);
int vkcast_push_frame(vkcast *v, const void *pixels, int width, int height, int stride, vkcast_format format);
void *vkcast_acquire_slot(vkcast *v, int width, int height, vkcast_format format, int *stride);
int vkcast_submit(vkcast *v);
int vkcast_share_vulkan_memory(vkcast *v, int fd, unsigned long long size, unsigned memory_type, unsigned long long offset,
                               unsigned long long slot_bytes, int slots, const unsigned char device_uuid[16], char *err,
                               size_t err_size);
int vkcast_acquire_shared(vkcast *v, int *slot);
int vkcast_submit_shared(vkcast *v, int slot, int width, int height, int stride, vkcast_format format);
int vkcast_has_clients(vkcast *v);
int vkcast_poll_event(vkcast *v, vkcast_event *event);
int vkcast_set_clipboard(vkcast *v, const char *text);
int vkcast_poll(vkcast *v);
const char *vkcast_error(const vkcast *v);
const char *vkcast_url(const vkcast *v);
int vkcast_fd(const vkcast *v);
vkcast_counters vkcast_stats(const vkcast *v);
void vkcast_close(vkcast *v);

const char *vkcast_json_find(const char *json, size_t len, const char *key, size_t *value_len);
int vkcast_json_number(const char *json, size_t len, const char *key, double *out);
int vkcast_json_string(const char *json, size_t len, const char *key, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif
#endif /* VKCAST_H */

/* ------------------------------------------------------------------------------------------------ */
#if defined(VKCAST_IMPLEMENTATION) && !defined(VKCAST_IMPLEMENTED)
#define VKCAST_IMPLEMENTED

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define VKCAST__LINE_MAX (1u << 20)   /* the protocol's line limit */
#define VKCAST__READ_CHUNK 65536
/* Room for the largest clipboard message: VKCAST_MAX_CLIPBOARD bytes, escaped (6 bytes per byte at worst). */
#define VKCAST__OUT_MAX (VKCAST_MAX_CLIPBOARD * 6 + 65536)
#define VKCAST__JSON_DEPTH 64
#define VKCAST__MAX_SLOTS 64
#define VKCAST__MAX_RINGS 4 /* rings of one producer alive at once: the newest and those draining */
#define VKCAST__MAX_WIDTH 3840
#define VKCAST__MAX_HEIGHT 2160

typedef struct {
    long long id;
    unsigned char *base;
    size_t size;
    size_t slot_bytes;
    int slots, width, height;
    vkcast_format format;
    int owned[VKCAST__MAX_SLOTS]; /* 1: the producer may write the slot */
} vkcast__ring;

/* A replaced ring whose submitted slots vkcast still reads: it counts against VKCAST__MAX_RINGS. */
typedef struct {
    long long id;
    int in_flight;
} vkcast__retired;

struct vkcast {
    int fd;
    int welcomed;
    int watching;
    char error[512];
    char url[512];
    vkcast__ring ring;
    /* A ring asked for and not yet announced; one announced (and mapped here) but not yet switched to,
     * because a slot of the current one is acquired: frames name the current ring until `mapped`. */
    int ring_pending;
    vkcast__ring next;
    vkcast__retired retired[VKCAST__MAX_RINGS];
    int retired_count;
    /* Memory shared with vkcast (vkcast_share_vulkan_memory): its ring id (0: none) and the regions
     * the producer owns; while waiting for vkcast's answer, `share_answer` becomes 1 (imported as ring
     * `share_id`) or -1 (refused for `share_reason`). */
    long long shared_id;
    int shared_slots;
    size_t shared_slot_bytes;
    int shared_owned[VKCAST__MAX_SLOTS];
    int vulkan; /* the Vulkan memory extension's version vkcast announced (0: none) */
    int share_answer;
    long long share_id;
    char share_reason[400];
    int acquired, acq_width, acq_height, acq_stride;
    vkcast_format acq_format;
    /* incoming bytes not yet parsed; `skipping`: inside a line over the limit, dropped up to its end */
    char *in;
    size_t in_len, in_cap;
    int skipping;
    char out[VKCAST__OUT_MAX];
    size_t out_len;
    /* input events waiting (a circular queue of NUL-terminated copies) and the one last handed out */
    char *events[VKCAST_MAX_EVENTS];
    size_t event_head, event_count;
    char *current_event;
    vkcast_counters counters;
};

/* ---- JSON: a validating scanner over a bounded text, no allocation ---- */

static const char *vkcast__ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int vkcast__hex4(const char *p, const char *end, unsigned *out) {
    unsigned v = 0;
    int i;
    if (end - p < 4) return 0;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Appends a byte to a bounded output; remembers an overflow instead of writing past the end. */
static void vkcast__put(char *out, size_t size, size_t *n, int *overflow, unsigned char c) {
    if (out && *n + 1 < size) out[*n] = (char)c;
    else *overflow = 1;
    (*n)++;
}

/* A string starting at its opening quote. Decodes it into out (NUL-terminated) when out is not NULL.
 * Returns the position after the closing quote, or NULL when it is not a valid JSON string. */
static const char *vkcast__string(const char *p, const char *end, char *out, size_t out_size, int *overflow) {
    size_t n = 0;
    int over = 0;
    if (p >= end || *p != '"') return NULL;
    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"') {
            if (out && out_size) out[n < out_size ? n : out_size - 1] = '\0';
            if (overflow) *overflow = over || (out && n >= out_size);
            return p;
        }
        if (c < 0x20) return NULL;
        if (c != '\\') {
            vkcast__put(out, out_size, &n, &over, c);
            continue;
        }
        if (p >= end) return NULL;
        c = (unsigned char)*p++;
        switch (c) {
        case '"': case '\\': case '/': vkcast__put(out, out_size, &n, &over, c); break;
        case 'b': vkcast__put(out, out_size, &n, &over, '\b'); break;
        case 'f': vkcast__put(out, out_size, &n, &over, '\f'); break;
        case 'n': vkcast__put(out, out_size, &n, &over, '\n'); break;
        case 'r': vkcast__put(out, out_size, &n, &over, '\r'); break;
        case 't': vkcast__put(out, out_size, &n, &over, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (!vkcast__hex4(p, end, &cp)) return NULL;
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' && vkcast__hex4(p + 2, end, &lo) &&
                lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* a lone surrogate */
            }
            if (cp < 0x80) {
                vkcast__put(out, out_size, &n, &over, (unsigned char)cp);
            } else if (cp < 0x800) {
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0xC0 | (cp >> 6)));
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0x80 | (cp & 0x3F)));
            } else if (cp < 0x10000) {
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0xE0 | (cp >> 12)));
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0x80 | (cp & 0x3F)));
            } else {
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0xF0 | (cp >> 18)));
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
                vkcast__put(out, out_size, &n, &over, (unsigned char)(0x80 | (cp & 0x3F)));
            }
            break;
        }
        default: return NULL;
        }
    }
    return NULL;
}

/* A number; its value in *out when out is not NULL (parsed by hand: strtod would follow the locale). */
static const char *vkcast__number(const char *p, const char *end, double *out) {
    double mant = 0, sign = 1;
    int exp10 = 0, esign = 1, e = 0, digits = 0;
    if (p < end && *p == '-') sign = -1, p++;
    if (p >= end) return NULL;
    if (*p == '0') p++, digits = 1;
    else
        while (p < end && *p >= '0' && *p <= '9') mant = mant * 10 + (*p++ - '0'), digits++;
    if (!digits) return NULL;
    if (p < end && *p == '.') {
        int frac = 0;
        p++;
        while (p < end && *p >= '0' && *p <= '9') mant = mant * 10 + (*p++ - '0'), exp10--, frac++;
        if (!frac) return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int edigits = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) esign = *p++ == '-' ? -1 : 1;
        while (p < end && *p >= '0' && *p <= '9') {
            if (e < 10000) e = e * 10 + (*p - '0');
            p++, edigits++;
        }
        if (!edigits) return NULL;
    }
    if (out) {
        int k = exp10 + esign * e, a;
        double p10 = 1;
        if (k > 400) k = 400;
        if (k < -400) k = -400;
        for (a = k < 0 ? -k : k; a > 0; a--) p10 *= 10;
        *out = sign * (k < 0 ? mant / p10 : mant * p10);
    }
    return p;
}

static const char *vkcast__value(const char *p, const char *end, int depth);

/* An object or array starting at its bracket; the position after the closing one, or NULL. */
static const char *vkcast__container(const char *p, const char *end, int depth) {
    char close = *p == '{' ? '}' : ']';
    int object = *p == '{';
    if (depth > VKCAST__JSON_DEPTH) return NULL;
    p = vkcast__ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    for (;;) {
        if (object) {
            p = vkcast__string(p, end, NULL, 0, NULL);
            if (!p) return NULL;
            p = vkcast__ws(p, end);
            if (p >= end || *p != ':') return NULL;
            p++;
        }
        p = vkcast__value(p, end, depth + 1);
        if (!p) return NULL;
        p = vkcast__ws(p, end);
        if (p >= end) return NULL;
        if (*p == close) return p + 1;
        if (*p != ',') return NULL;
        p = vkcast__ws(p + 1, end);
    }
}

/* Any value after optional whitespace; the position after it, or NULL when it is not valid JSON. */
static const char *vkcast__value(const char *p, const char *end, int depth) {
    p = vkcast__ws(p, end);
    if (p >= end) return NULL;
    switch (*p) {
    case '{': case '[': return vkcast__container(p, end, depth);
    case '"': return vkcast__string(p, end, NULL, 0, NULL);
    case 't': return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
    case 'f': return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
    case 'n': return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
    default: return vkcast__number(p, end, NULL);
    }
}

const char *vkcast_json_find(const char *json, size_t len, const char *key, size_t *value_len) {
    const char *end = json + len, *p, *found = NULL, *found_end = NULL;
    if (!json || !key) return NULL;
    p = vkcast__value(json, end, 0); /* the whole text first: never trust a partial one */
    if (!p || vkcast__ws(p, end) != end) return NULL;
    p = vkcast__ws(json, end);
    if (*p != '{') return NULL;
    p = vkcast__ws(p + 1, end);
    while (*p == '"') {
        char name[128];
        int overflow = 0;
        const char *v, *v_end;
        p = vkcast__ws(vkcast__string(p, end, name, sizeof name, &overflow), end);
        v = vkcast__ws(p + 1, end); /* past ':' */
        v_end = vkcast__value(v, end, 1);
        if (!overflow && !strcmp(name, key)) found = v, found_end = v_end; /* the last one wins, as in JSON.parse */
        p = vkcast__ws(v_end, end);
        if (*p == ',') p = vkcast__ws(p + 1, end);
    }
    if (found && value_len) *value_len = (size_t)(found_end - found);
    return found;
}

int vkcast_json_number(const char *json, size_t len, const char *key, double *out) {
    size_t n;
    const char *v = vkcast_json_find(json, len, key, &n);
    if (!v || !(*v == '-' || (*v >= '0' && *v <= '9'))) return 0;
    return vkcast__number(v, v + n, out) != NULL;
}

int vkcast_json_string(const char *json, size_t len, const char *key, char *out, size_t out_size) {
    size_t n;
    int overflow = 0;
    const char *v = vkcast_json_find(json, len, key, &n);
    if (!v || *v != '"' || !out || !out_size) return 0;
    return vkcast__string(v, v + n, out, out_size, &overflow) && !overflow;
}

/* ---- the connection ---- */

static int vkcast__bpp(vkcast_format f) { return f == VKCAST_RGB ? 3 : 4; }
static const char *vkcast__format_name(vkcast_format f) { return f == VKCAST_BGRA ? "bgra" : f == VKCAST_RGB ? "rgb" : "rgba"; }
static int vkcast__format_ok(int f) { return f == VKCAST_RGBA || f == VKCAST_BGRA || f == VKCAST_RGB; }
static int vkcast__size_ok(int w, int h) { return w >= 1 && w <= VKCAST__MAX_WIDTH && h >= 1 && h <= VKCAST__MAX_HEIGHT; }
static size_t vkcast__stride(int width, vkcast_format f) { return ((size_t)width * (size_t)vkcast__bpp(f) + 63) & ~(size_t)63; }

static void vkcast__unmap(vkcast__ring *r) {
    if (r->base) munmap(r->base, r->size);
    memset(r, 0, sizeof *r);
}

/* Ends the connection with a reason (the first reason sticks: vkcast's own comes before its close). */
static int vkcast__fail(vkcast *v, const char *what, const char *detail) {
    if (!v->error[0])
        snprintf(v->error, sizeof v->error, "vkcast: %s%s%s%s", what, detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    if (v->fd >= 0) close(v->fd);
    v->fd = -1;
    v->watching = 0;
    v->acquired = -1;
    vkcast__unmap(&v->ring);
    vkcast__unmap(&v->next);
    return VKCAST_CLOSED;
}

static int vkcast__flush(vkcast *v) {
    while (v->out_len > 0) {
        ssize_t n = send(v->fd, v->out, v->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return VKCAST_OK;
            return vkcast__fail(v, "connection lost", strerror(errno));
        }
        memmove(v->out, v->out + n, v->out_len - (size_t)n);
        v->out_len -= (size_t)n;
    }
    return VKCAST_OK;
}

/* Queues one message line and sends what the socket takes now; never waits. */
static int vkcast__send(vkcast *v, const char *line, size_t len) {
    if (v->fd < 0) return VKCAST_CLOSED;
    if (v->out_len + len > sizeof v->out) {
        if (vkcast__flush(v) != VKCAST_OK) return VKCAST_CLOSED;
        /* vkcast has not read 64 KiB of small messages: it hangs */
        if (v->out_len + len > sizeof v->out) return vkcast__fail(v, "the server does not read its socket", NULL);
    }
    memcpy(v->out + v->out_len, line, len);
    v->out_len += len;
    return vkcast__flush(v);
}

static double vkcast__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One wait for the server before `deadline` (ms, vkcast__now_ms): polls the socket and reads what came.
 * Returns 0 (the connection failed with `late`) when the deadline has passed, else 1. */
static int vkcast__wait(vkcast *v, double deadline, const char *late) {
    struct pollfd pfd;
    double left = deadline - vkcast__now_ms();
    if (left <= 0) {
        vkcast__fail(v, late, NULL);
        return 0;
    }
    pfd.fd = v->fd;
    pfd.events = POLLIN | (v->out_len ? POLLOUT : 0);
    pfd.revents = 0;
    if (poll(&pfd, 1, (int)left + 1) < 0 && errno != EINTR) vkcast__fail(v, "poll failed", strerror(errno));
    else vkcast_poll(v);
    return 1;
}

/* Switches to the ring in v->next (when no slot is acquired): the old one's slots in flight are
 * remembered until released, and vkcast is told the new one is mapped. */
static int vkcast__switch_ring(vkcast *v) {
    char line[96];
    int i, in_flight = 0, n;
    if (!v->next.base || v->acquired >= 0) return VKCAST_OK;
    for (i = 0; i < v->ring.slots; i++) in_flight += !v->ring.owned[i];
    if (v->ring.base && in_flight > 0) {
        if (v->retired_count == VKCAST__MAX_RINGS) { /* only an unasked-for ring gets here: forget the oldest */
            memmove(v->retired, v->retired + 1, sizeof v->retired[0] * (VKCAST__MAX_RINGS - 1));
            v->retired_count--;
        }
        v->retired[v->retired_count].id = v->ring.id;
        v->retired[v->retired_count++].in_flight = in_flight;
    }
    vkcast__unmap(&v->ring); /* vkcast reads the slots in flight through its own mapping */
    v->ring = v->next;
    memset(&v->next, 0, sizeof v->next);
    n = snprintf(line, sizeof line, "{\"type\":\"mapped\",\"ring\":%lld}\n", v->ring.id);
    return vkcast__send(v, line, (size_t)n);
}

/* Maps a ring vkcast announced ({"id","path","slots","slotBytes","width","height","format"}). */
static int vkcast__map_ring(vkcast *v, const char *json, size_t len) {
    double id, slots, slot_bytes, width = 0, height = 0;
    char path[4096], format[8] = "";
    struct stat st;
    vkcast__ring r;
    int fd, i;
    void *base;
    if (!vkcast_json_number(json, len, "id", &id) || !vkcast_json_number(json, len, "slots", &slots) ||
        !vkcast_json_number(json, len, "slotBytes", &slot_bytes) || !vkcast_json_string(json, len, "path", path, sizeof path))
        return vkcast__fail(v, "a ring message without id, slots, slotBytes or path", NULL);
    if (slots < 1 || slots > VKCAST__MAX_SLOTS || slots != (int)slots || slot_bytes < 1 || slot_bytes > (double)(1ull << 36) ||
        slot_bytes * slots > (double)SIZE_MAX || id < 0 || id > 9e15 || id != (long long)id)
        return vkcast__fail(v, "a ring with an out-of-range id, slots or slotBytes", NULL);
    vkcast_json_number(json, len, "width", &width);
    vkcast_json_number(json, len, "height", &height);
    vkcast_json_string(json, len, "format", format, sizeof format);
    memset(&r, 0, sizeof r);
    r.id = (long long)id;
    r.slots = (int)slots;
    r.slot_bytes = (size_t)slot_bytes;
    r.size = r.slot_bytes * (size_t)r.slots;
    /* What the ring was made for, only to size the next request: the slot size is what counts. */
    r.width = width >= 1 && width <= VKCAST__MAX_WIDTH ? (int)width : 1;
    r.height = height >= 1 && height <= VKCAST__MAX_HEIGHT ? (int)height : 1;
    r.format = !strcmp(format, "rgb") ? VKCAST_RGB : VKCAST_RGBA;
    fd = open(path, O_RDWR);
    if (fd < 0) return vkcast__fail(v, "cannot open the ring", strerror(errno));
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < r.size) {
        close(fd);
        return vkcast__fail(v, "the ring file is smaller than slots x slotBytes", NULL);
    }
    base = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return vkcast__fail(v, "cannot map the ring", strerror(errno));
    r.base = (unsigned char *)base;
    /* Touch every page now (vkcast reserved them): no page fault in the middle of a frame later. */
    memset(r.base, 0, r.size);
    for (i = 0; i < r.slots; i++) r.owned[i] = 1;
    vkcast__unmap(&v->next);
    v->next = r;
    v->ring_pending = 0;
    return vkcast__switch_ring(v);
}

/* A slot is back: the producer's again, or one fewer in flight in a replaced ring. */
static void vkcast__release(vkcast *v, double ring, double slot) {
    int i;
    if (v->shared_id && ring == (double)v->shared_id) {
        if (slot >= 0 && slot < v->shared_slots && slot == (int)slot) v->shared_owned[(int)slot] = 1;
        return;
    }
    if (ring == (double)v->ring.id) {
        if (slot >= 0 && slot < v->ring.slots && slot == (int)slot) v->ring.owned[(int)slot] = 1;
        return;
    }
    for (i = 0; i < v->retired_count; i++) {
        if (ring != (double)v->retired[i].id) continue;
        if (--v->retired[i].in_flight <= 0) {
            memmove(v->retired + i, v->retired + i + 1, sizeof v->retired[0] * (size_t)(v->retired_count - i - 1));
            v->retired_count--;
        }
        return;
    }
}

static void vkcast__queue_event(vkcast *v, const char *json, size_t len) {
    char *copy;
    if (v->event_count == VKCAST_MAX_EVENTS || !(copy = (char *)malloc(len + 1))) {
        v->counters.events_dropped++;
        return;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    v->events[(v->event_head + v->event_count) % VKCAST_MAX_EVENTS] = copy;
    v->event_count++;
    v->counters.events_received++;
}

/* One line from vkcast. Anything unexpected is skipped; only a broken ring ends the connection. */
static int vkcast__message(vkcast *v, const char *line, size_t len) {
    char type[32];
    size_t n;
    const char *value;
    double ring, slot;
    if (!vkcast_json_string(line, len, "type", type, sizeof type)) return VKCAST_OK;
    if (!strcmp(type, "release")) {
        if (vkcast_json_number(line, len, "ring", &ring) && vkcast_json_number(line, len, "slot", &slot)) vkcast__release(v, ring, slot);
    } else if (!strcmp(type, "watching")) {
        value = vkcast_json_find(line, len, "value", &n);
        if (value) v->watching = *value == 't';
    } else if (!strcmp(type, "input")) {
        value = vkcast_json_find(line, len, "event", &n);
        if (value && *value == '{') vkcast__queue_event(v, value, n);
    } else if (!strcmp(type, "ring")) {
        value = vkcast_json_find(line, len, "ring", &n);
        if (value && *value == '{') return vkcast__map_ring(v, value, n);
    } else if (!strcmp(type, "welcome") && !v->welcomed) {
        double vulkan;
        value = vkcast_json_find(line, len, "ring", &n);
        if (!value || *value != '{') return vkcast__fail(v, "a welcome without a ring", NULL);
        vkcast_json_string(line, len, "url", v->url, sizeof v->url);
        v->welcomed = 1;
        if (vkcast_json_number(line, len, "vulkan", &vulkan) && vulkan >= 1 && vulkan <= 1000) v->vulkan = (int)vulkan;
        if (vkcast__map_ring(v, value, n) != VKCAST_OK) return VKCAST_CLOSED;
        v->watching = (value = vkcast_json_find(line, len, "watching", &n)) != NULL && *value == 't';
    } else if (!strcmp(type, "vulkan_ring")) {
        double id;
        value = vkcast_json_find(line, len, "ring", &n);
        if (value && *value == '{' && vkcast_json_number(value, n, "id", &id) && id >= 1 && id <= 9e15 && id == (long long)id) {
            v->share_id = (long long)id;
            v->share_answer = 1;
        }
    } else if (!strcmp(type, "vulkan_refused")) {
        if (!vkcast_json_string(line, len, "reason", v->share_reason, sizeof v->share_reason)) snprintf(v->share_reason, sizeof v->share_reason, "(no reason)");
        v->share_answer = -1;
    } else if (!strcmp(type, "error")) {
        char reason[400];
        if (vkcast_json_string(line, len, "reason", reason, sizeof reason) && !v->error[0])
            snprintf(v->error, sizeof v->error, "vkcast: %s", reason);
    }
    return VKCAST_OK;
}

int vkcast_poll(vkcast *v) {
    size_t budget = 4u * VKCAST__LINE_MAX; /* bounded work per call, even against a flood */
    if (!v) return VKCAST_BAD_ARGUMENT;
    if (v->fd < 0) return VKCAST_CLOSED;
    if (vkcast__flush(v) != VKCAST_OK) return VKCAST_CLOSED;
    while (budget > 0) {
        ssize_t got;
        size_t start = 0, i;
        if (v->in_cap - v->in_len < VKCAST__READ_CHUNK && v->in_cap < VKCAST__LINE_MAX + VKCAST__READ_CHUNK) {
            size_t cap = v->in_cap ? v->in_cap * 2 : VKCAST__READ_CHUNK * 2;
            char *grown = (char *)realloc(v->in, cap);
            if (!grown) return vkcast__fail(v, "out of memory", NULL);
            v->in = grown;
            v->in_cap = cap;
        }
        got = recv(v->fd, v->in + v->in_len, v->in_cap - v->in_len, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return VKCAST_OK;
            return vkcast__fail(v, "connection lost", strerror(errno));
        }
        if (got == 0) return vkcast__fail(v, "the server closed the connection", NULL);
        budget = budget > (size_t)got ? budget - (size_t)got : 0;
        for (i = v->in_len; i < v->in_len + (size_t)got; i++) {
            if (v->in[i] != '\n') continue;
            if (!v->skipping && vkcast__message(v, v->in + start, i - start) != VKCAST_OK) return VKCAST_CLOSED;
            v->skipping = 0;
            start = i + 1;
        }
        v->in_len += (size_t)got;
        memmove(v->in, v->in + start, v->in_len - start);
        v->in_len -= start;
        if (v->in_len > VKCAST__LINE_MAX) { /* a line over the limit: drop it up to its newline */
            v->skipping = 1;
            v->in_len = 0;
        }
    }
    return VKCAST_OK;
}

static int vkcast__json_escape(char *out, size_t size, const char *s) {
    size_t n = 0;
    for (; *s && n + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') out[n++] = '\\', out[n++] = (char)c;
        else if (c < 0x20) n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        else out[n++] = (char)c;
    }
    out[n] = '\0';
    return *s == '\0';
}

vkcast *vkcast_connect(const char *socket_path, const char *stream, int width, int height, vkcast_format format, char *err,
                       size_t err_size) {
    struct sockaddr_un addr;
    char line[512], name[200];
    double deadline;
    int n, flags;
    vkcast *v;
    if (err && err_size) err[0] = '\0';
#define VKCAST__REFUSE(msg)                                \
    do {                                                   \
        if (err && err_size) snprintf(err, err_size, "%s", msg); \
        return NULL;                                       \
    } while (0)
    if (!socket_path || strlen(socket_path) >= sizeof addr.sun_path) VKCAST__REFUSE("vkcast: the socket path is missing or too long");
    if (!vkcast__size_ok(width, height)) VKCAST__REFUSE("vkcast: width must be 1..3840 and height 1..2160");
    if (!vkcast__format_ok((int)format)) VKCAST__REFUSE("vkcast: format must be VKCAST_RGBA, VKCAST_BGRA or VKCAST_RGB");
    if (stream && !vkcast__json_escape(name, sizeof name, stream)) VKCAST__REFUSE("vkcast: the stream name is too long");
    v = (vkcast *)calloc(1, sizeof *v);
    if (!v) VKCAST__REFUSE("vkcast: out of memory");
#undef VKCAST__REFUSE
    v->acquired = -1;
    v->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
    if (v->fd < 0 || connect(v->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        vkcast__fail(v, "cannot connect to the socket", strerror(errno));
    } else {
        fcntl(v->fd, F_SETFD, FD_CLOEXEC);
        flags = fcntl(v->fd, F_GETFL, 0);
        fcntl(v->fd, F_SETFL, flags | O_NONBLOCK);
        if (stream)
            n = snprintf(line, sizeof line, "{\"type\":\"hello\",\"version\":1,\"stream\":\"%s\",\"width\":%d,\"height\":%d,\"format\":\"%s\",\"slots\":%d}\n",
                         name, width, height, vkcast__format_name(format), VKCAST_SLOTS);
        else
            n = snprintf(line, sizeof line, "{\"type\":\"hello\",\"version\":1,\"width\":%d,\"height\":%d,\"format\":\"%s\",\"slots\":%d}\n", width,
                         height, vkcast__format_name(format), VKCAST_SLOTS);
        vkcast__send(v, line, (size_t)n);
        deadline = vkcast__now_ms() + VKCAST_CONNECT_TIMEOUT_MS;
        while (v->fd >= 0 && !(v->welcomed && v->ring.base))
            if (!vkcast__wait(v, deadline, "no welcome from the server in time")) break;
    }
    if (v->fd < 0) {
        if (err && err_size) snprintf(err, err_size, "%s", v->error);
        vkcast_close(v);
        return NULL;
    }
    return v;
}

/* Asks for a ring whose slots hold width x height in format (and whatever the current one held), unless
 * one is on its way or VKCAST__MAX_RINGS are alive; the frame that needs it is dropped meanwhile. */
static int vkcast__ask_ring(vkcast *v, int width, int height, vkcast_format format) {
    char line[160];
    int n;
    if (v->ring_pending || v->next.base || v->retired_count > VKCAST__MAX_RINGS - 2) return VKCAST_OK;
    if (width < v->ring.width) width = v->ring.width;
    if (height < v->ring.height) height = v->ring.height;
    if (format == VKCAST_RGB) format = v->ring.format;
    n = snprintf(line, sizeof line, "{\"type\":\"ring\",\"width\":%d,\"height\":%d,\"format\":\"%s\",\"slots\":%d}\n", width, height,
                 vkcast__format_name(format), v->ring.slots);
    v->ring_pending = 1;
    return vkcast__send(v, line, (size_t)n);
}

void *vkcast_acquire_slot(vkcast *v, int width, int height, vkcast_format format, int *stride) {
    int i;
    if (!v || v->shared_id || !vkcast__size_ok(width, height) || !vkcast__format_ok((int)format)) return NULL;
    if (vkcast_poll(v) != VKCAST_OK) return NULL;
    if (vkcast__stride(width, format) * (size_t)height > v->ring.slot_bytes) {
        v->acquired = -1; /* the slot in hand (if any) is too small too */
        if (vkcast__switch_ring(v) != VKCAST_OK) return NULL;
    }
    if (vkcast__stride(width, format) * (size_t)height > v->ring.slot_bytes) {
        vkcast__ask_ring(v, width, height, format);
        v->counters.frames_dropped++;
        return NULL;
    }
    if (v->acquired < 0) {
        for (i = 0; i < v->ring.slots && !v->ring.owned[i]; i++) {}
        if (i == v->ring.slots) {
            v->counters.frames_dropped++;
            return NULL;
        }
        v->acquired = i;
    }
    v->acq_width = width;
    v->acq_height = height;
    v->acq_format = format;
    v->acq_stride = (int)vkcast__stride(width, format);
    if (stride) *stride = v->acq_stride;
    return v->ring.base + (size_t)v->acquired * v->ring.slot_bytes;
}

int vkcast_submit(vkcast *v) {
    char line[256];
    double t;
    long long whole;
    int n;
    if (!v) return VKCAST_BAD_ARGUMENT;
    if (v->fd < 0) return VKCAST_CLOSED;
    if (v->acquired < 0) return VKCAST_BAD_ARGUMENT;
    t = vkcast__now_ms();
    whole = (long long)t;
    /* the fraction by hand: printf's %f would follow the locale's decimal point */
    n = snprintf(line, sizeof line,
                 "{\"type\":\"frame\",\"ring\":%lld,\"slot\":%d,\"width\":%d,\"height\":%d,\"stride\":%d,\"format\":\"%s\",\"t\":%lld.%03d,"
                 "\"dropped\":%llu}\n",
                 v->ring.id, v->acquired, v->acq_width, v->acq_height, v->acq_stride, vkcast__format_name(v->acq_format), whole,
                 (int)((t - (double)whole) * 1000), v->counters.frames_dropped);
    v->ring.owned[v->acquired] = 0;
    v->acquired = -1;
    v->counters.frames_submitted++;
    if (vkcast__send(v, line, (size_t)n) != VKCAST_OK) return VKCAST_CLOSED;
    return vkcast__switch_ring(v); /* a ring that arrived while the slot was in hand */
}

int vkcast_push_frame(vkcast *v, const void *pixels, int width, int height, int stride, vkcast_format format) {
    const unsigned char *src = (const unsigned char *)pixels;
    unsigned char *dst;
    size_t row;
    int dst_stride, y;
    if (!v) return VKCAST_BAD_ARGUMENT;
    if (v->shared_id || !pixels || !vkcast__size_ok(width, height) || !vkcast__format_ok((int)format)) return VKCAST_BAD_ARGUMENT;
    row = (size_t)width * (size_t)vkcast__bpp(format);
    if (stride == 0) stride = (int)row;
    if (stride < 0 || (size_t)stride < row) return VKCAST_BAD_ARGUMENT;
    dst = (unsigned char *)vkcast_acquire_slot(v, width, height, format, &dst_stride);
    if (!dst) return v->fd < 0 ? VKCAST_CLOSED : VKCAST_DROPPED;
    if ((size_t)stride == (size_t)dst_stride) {
        memcpy(dst, src, (size_t)dst_stride * (size_t)(height - 1) + row);
    } else {
        for (y = 0; y < height; y++) memcpy(dst + (size_t)y * (size_t)dst_stride, src + (size_t)y * (size_t)stride, row);
    }
    return vkcast_submit(v);
}

/* ---- memory shared by a Vulkan engine ---- */

/* Remembers the in-flight regions of the ring or memory frames came from until now, and forgets it. */
static void vkcast__retire_current(vkcast *v) {
    int i, in_flight = 0;
    long long id = v->shared_id ? v->shared_id : v->ring.id;
    if (v->shared_id) {
        for (i = 0; i < v->shared_slots; i++) in_flight += !v->shared_owned[i];
    } else {
        for (i = 0; i < v->ring.slots; i++) in_flight += !v->ring.owned[i];
    }
    if (id && in_flight > 0) {
        if (v->retired_count == VKCAST__MAX_RINGS) {
            memmove(v->retired, v->retired + 1, sizeof v->retired[0] * (VKCAST__MAX_RINGS - 1));
            v->retired_count--;
        }
        v->retired[v->retired_count].id = id;
        v->retired[v->retired_count++].in_flight = in_flight;
    }
    vkcast__unmap(&v->ring); /* vkcast reads the slots in flight through its own mapping */
    v->acquired = -1;
}

int vkcast_share_vulkan_memory(vkcast *v, int fd, unsigned long long size, unsigned memory_type, unsigned long long offset,
                               unsigned long long slot_bytes, int slots, const unsigned char device_uuid[16], char *err,
                               size_t err_size) {
    char line[512], uuid[40];
    double deadline;
    int n, i;
    if (err && err_size) err[0] = '\0';
    if (!v || fd < 0 || !device_uuid || slots < 3 || slots > 16 || slot_bytes < 1 || offset > size || slot_bytes * (unsigned long long)slots > size - offset)
        return VKCAST_BAD_ARGUMENT;
    if (v->fd < 0) return VKCAST_CLOSED;
    if (v->ring_pending || v->next.base) return VKCAST_BAD_ARGUMENT; /* a ring is on its way: share once it arrived */
    if (v->vulkan != 1) {
        if (err && err_size) snprintf(err, err_size, "vkcast: this vkcast does not import Vulkan memory (no \"vulkan\":1 in its welcome)");
        return VKCAST_REFUSED;
    }
    for (i = n = 0; i < 16; i++) n += snprintf(uuid + n, sizeof uuid - (size_t)n, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", device_uuid[i]);
    n = snprintf(line, sizeof line,
                 "{\"type\":\"vulkan_ring\",\"pid\":%ld,\"fd\":%d,\"size\":%llu,\"memoryType\":%u,\"offset\":%llu,\"slotBytes\":%llu,"
                 "\"slots\":%d,\"deviceUUID\":\"%s\"}\n",
                 (long)getpid(), fd, size, memory_type, offset, slot_bytes, slots, uuid);
    v->share_answer = 0;
    if (vkcast__send(v, line, (size_t)n) != VKCAST_OK) return VKCAST_CLOSED;
    deadline = vkcast__now_ms() + VKCAST_CONNECT_TIMEOUT_MS;
    while (v->fd >= 0 && v->share_answer == 0)
        if (!vkcast__wait(v, deadline, "no answer to vulkan_ring from the server in time")) break;
    if (v->fd < 0) {
        if (err && err_size) snprintf(err, err_size, "%s", v->error);
        return VKCAST_CLOSED;
    }
    if (v->share_answer < 0) {
        if (err && err_size) snprintf(err, err_size, "vkcast: %s", v->share_reason);
        return VKCAST_REFUSED;
    }
    vkcast__retire_current(v);
    v->shared_id = v->share_id;
    v->shared_slots = slots;
    v->shared_slot_bytes = (size_t)slot_bytes;
    for (i = 0; i < slots; i++) v->shared_owned[i] = 1;
    n = snprintf(line, sizeof line, "{\"type\":\"mapped\",\"ring\":%lld}\n", v->shared_id);
    return vkcast__send(v, line, (size_t)n);
}

int vkcast_acquire_shared(vkcast *v, int *slot) {
    int i;
    if (!v || !slot) return VKCAST_BAD_ARGUMENT;
    if (vkcast_poll(v) != VKCAST_OK) return VKCAST_CLOSED;
    if (!v->shared_id) return VKCAST_BAD_ARGUMENT;
    for (i = 0; i < v->shared_slots; i++)
        if (v->shared_owned[i]) {
            *slot = i;
            return VKCAST_OK;
        }
    v->counters.frames_dropped++;
    return VKCAST_DROPPED;
}

int vkcast_submit_shared(vkcast *v, int slot, int width, int height, int stride, vkcast_format format) {
    char line[256];
    double t;
    long long whole;
    int n;
    if (!v || !v->shared_id || slot < 0 || slot >= v->shared_slots || !v->shared_owned[slot]) return VKCAST_BAD_ARGUMENT;
    if (!vkcast__size_ok(width, height) || !vkcast__format_ok((int)format) || stride < width * vkcast__bpp(format) ||
        (size_t)stride * (size_t)height > v->shared_slot_bytes)
        return VKCAST_BAD_ARGUMENT;
    if (v->fd < 0) return VKCAST_CLOSED;
    t = vkcast__now_ms();
    whole = (long long)t;
    n = snprintf(line, sizeof line,
                 "{\"type\":\"frame\",\"ring\":%lld,\"slot\":%d,\"width\":%d,\"height\":%d,\"stride\":%d,\"format\":\"%s\",\"t\":%lld.%03d,"
                 "\"dropped\":%llu}\n",
                 v->shared_id, slot, width, height, stride, vkcast__format_name(format), whole, (int)((t - (double)whole) * 1000),
                 v->counters.frames_dropped);
    v->shared_owned[slot] = 0;
    v->counters.frames_submitted++;
    return vkcast__send(v, line, (size_t)n);
}

int vkcast_has_clients(vkcast *v) {
    if (!v || vkcast_poll(v) != VKCAST_OK) return 0;
    return v->watching;
}

int vkcast_poll_event(vkcast *v, vkcast_event *event) {
    char *json;
    if (!v || !event) return VKCAST_BAD_ARGUMENT;
    free(v->current_event);
    v->current_event = NULL;
    if (v->event_count == 0 && vkcast_poll(v) != VKCAST_OK) return VKCAST_CLOSED;
    while (v->event_count > 0) {
        json = v->events[v->event_head];
        v->event_head = (v->event_head + 1) % VKCAST_MAX_EVENTS;
        v->event_count--;
        if (vkcast_json_string(json, strlen(json), "type", event->type, sizeof event->type)) {
            v->current_event = json;
            event->json = json;
            event->json_len = strlen(json);
            return 1;
        }
        free(json); /* vkcast validates events; one without a type is skipped, not trusted */
    }
    return 0;
}

/* Whether `s` (n bytes) is well-formed UTF-8: vkcast closes a producer that sends anything else. */
static int vkcast__utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t more = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
        unsigned cp = more == 0 ? c : more == 1 ? (c & 0x1fu) : more == 2 ? (c & 0x0fu) : (c & 0x07u);
        size_t k;
        if (more == 4 || i + more >= n) return 0;
        for (k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        /* no overlong forms, no surrogates, nothing past U+10FFFF */
        if ((more == 1 && cp < 0x80) || (more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += more + 1;
    }
    return 1;
}

int vkcast_set_clipboard(vkcast *v, const char *text) {
    static const char head[] = "{\"type\":\"clipboard\",\"text\":\"";
    size_t len, n;
    char *line;
    int r;
    if (!v || !text) return VKCAST_BAD_ARGUMENT;
    len = strlen(text);
    if (len > VKCAST_MAX_CLIPBOARD || !vkcast__utf8_ok((const unsigned char *)text, len)) return VKCAST_BAD_ARGUMENT;
    if (v->fd < 0) return VKCAST_CLOSED;
    line = (char *)malloc(sizeof head + len * 6 + 8);
    if (!line) return VKCAST_DROPPED;
    memcpy(line, head, sizeof head - 1);
    vkcast__json_escape(line + sizeof head - 1, len * 6 + 8, text);
    n = strlen(line);
    memcpy(line + n, "\"}\n", 3);
    n += 3;
    r = vkcast__flush(v);
    if (r == VKCAST_OK && v->out_len + n > sizeof v->out) r = VKCAST_DROPPED;
    if (r == VKCAST_OK) r = vkcast__send(v, line, n);
    free(line);
    return r;
}

const char *vkcast_error(const vkcast *v) {
    if (!v) return "vkcast: no connection";
    return v->fd < 0 ? v->error : NULL;
}

const char *vkcast_url(const vkcast *v) { return v ? v->url : ""; }

int vkcast_fd(const vkcast *v) { return v ? v->fd : -1; }

vkcast_counters vkcast_stats(const vkcast *v) {
    vkcast_counters none;
    memset(&none, 0, sizeof none);
    return v ? v->counters : none;
}

void vkcast_close(vkcast *v) {
    if (!v) return;
    if (v->fd >= 0) {
        vkcast__flush(v);
        close(v->fd);
    }
    vkcast__unmap(&v->ring);
    vkcast__unmap(&v->next);
    while (v->event_count > 0) {
        free(v->events[v->event_head]);
        v->event_head = (v->event_head + 1) % VKCAST_MAX_EVENTS;
        v->event_count--;
    }
    free(v->current_event);
    free(v->in);
    free(v);
}

#endif /* VKCAST_IMPLEMENTATION */
