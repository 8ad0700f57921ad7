/* example.c - an "engine" in C that streams a moving pattern to vkcast's viewers with vkcast.h.
 *
 *   cc -std=c99 -Wall -Wextra -Werror -O2 -Iclients/c clients/c/example.c -o example -lm
 *   bun run index.ts --source ipc:/tmp/engine.sock &     (or the vkcast executable)
 *   ./example /tmp/engine.sock [STREAM]
 *
 * It renders 30 frames a second straight into vkcast's shared memory (the zero-copy path), only while
 * someone watches. A square follows the viewer's pointer (red while a button is down), a key changes
 * the colours, the wheel changes the speed, and a viewer's resize changes the frame size. Ctrl-C ends it.
 */
#define VKCAST_IMPLEMENTATION
#include "vkcast.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FPS 30
#define MARKER 24

typedef struct {
    int width, height;
    double pointer_x, pointer_y;
    int pressed;
    int palette;
    int speed;
} scene;

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s) {
    struct timespec ts;
    if (s <= 0) return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL); /* a signal cuts it short, which is what Ctrl-C wants */
}

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void handle_event(scene *s, const vkcast_event *ev) {
    double x, y, dy;
    if (!strcmp(ev->type, "pointer_move") || !strcmp(ev->type, "pointer_down") || !strcmp(ev->type, "pointer_up")) {
        if (vkcast_json_number(ev->json, ev->json_len, "x", &x) && vkcast_json_number(ev->json, ev->json_len, "y", &y)) {
            s->pointer_x = x;
            s->pointer_y = y;
        }
        if (!strcmp(ev->type, "pointer_down")) s->pressed = 1;
        if (!strcmp(ev->type, "pointer_up")) s->pressed = 0;
    } else if (!strcmp(ev->type, "key_down")) {
        s->palette = (s->palette + 1) % 3;
    } else if (!strcmp(ev->type, "wheel") && vkcast_json_number(ev->json, ev->json_len, "dy", &dy)) {
        s->speed = clamp(s->speed + (dy > 0 ? -1 : 1), 0, 16);
    } else if (!strcmp(ev->type, "resize") && vkcast_json_number(ev->json, ev->json_len, "width", &x) &&
               vkcast_json_number(ev->json, ev->json_len, "height", &y)) {
        s->width = clamp((int)x, 16, 3840);
        s->height = clamp((int)y, 16, 2160);
    }
}

/* Moving colour bands, with the pointer's square on top. */
static void render(const scene *s, unsigned char *pixels, int stride, unsigned frame) {
    static unsigned char wave[256], across[3840];
    unsigned shift = frame * (unsigned)s->speed;
    int x, y, i;
    int mx = (int)s->pointer_x - MARKER / 2, my = (int)s->pointer_y - MARKER / 2;
    /* which byte of a pixel (red, green, blue) each of the three bands goes to: the palette a key changes */
    int r = s->palette, g = (s->palette + 1) % 3, b = (s->palette + 2) % 3;
    for (i = 0; i < 256; i++) wave[i] = (unsigned char)(127.5 + 127.5 * sin(i * (2 * 3.14159265358979 / 256)));
    for (x = 0; x < s->width; x++) across[x] = wave[(unsigned)(x + 2 * shift) & 255];
    for (y = 0; y < s->height; y++) {
        unsigned char *row = pixels + (size_t)y * (size_t)stride, *px[3];
        unsigned char band = wave[(unsigned)(y + shift) & 255];
        px[r] = row, px[g] = row + 1, px[b] = row + 2;
        for (x = 0; x < s->width; x++) {
            px[0][4 * x] = across[x];
            px[1][4 * x] = wave[((unsigned)(x + y) / 2 + 3 * shift) & 255];
            px[2][4 * x] = band;
            row[4 * x + 3] = 255;
        }
    }
    for (y = clamp(my, 0, s->height); y < clamp(my + MARKER, 0, s->height); y++) {
        for (x = clamp(mx, 0, s->width); x < clamp(mx + MARKER, 0, s->width); x++) {
            unsigned char *p = pixels + (size_t)y * (size_t)stride + 4 * (size_t)x;
            p[0] = 255;
            p[1] = p[2] = s->pressed ? 0 : 255;
        }
    }
}

int main(int argc, char **argv) {
    scene s = {1280, 720, 640, 360, 0, 0, 4};
    struct sigaction sa;
    char err[512];
    unsigned frame = 0;
    double next;
    vkcast *v;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH [STREAM]\n", argv[0]);
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    v = vkcast_connect(argv[1], argc > 2 ? argv[2] : NULL, s.width, s.height, VKCAST_RGBA, err, sizeof err);
    if (!v) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("streaming to %s (Ctrl-C stops)\n", vkcast_url(v));
    fflush(stdout);

    next = now_seconds();
    while (!stop_requested) {
        vkcast_event ev;
        int stride, got;
        unsigned char *slot;
        while ((got = vkcast_poll_event(v, &ev)) > 0) handle_event(&s, &ev);
        if (got == VKCAST_CLOSED) break;
        if (!vkcast_has_clients(v)) { /* nobody watches: render nothing, look again soon */
            sleep_seconds(0.02);
            next = now_seconds();
            continue;
        }
        slot = (unsigned char *)vkcast_acquire_slot(v, s.width, s.height, VKCAST_RGBA, &stride);
        if (slot) { /* NULL: vkcast is behind (or a larger ring is on its way): skip this frame */
            render(&s, slot, stride, frame);
            if (vkcast_submit(v) == VKCAST_CLOSED) break;
        }
        frame++;
        next += 1.0 / FPS;
        if (next < now_seconds() - 1.0 / FPS) next = now_seconds(); /* far behind: don't race to catch up */
        sleep_seconds(next - now_seconds());
    }
    if (!stop_requested && vkcast_error(v)) {
        fprintf(stderr, "%s\n", vkcast_error(v));
        vkcast_close(v);
        return 1;
    }
    vkcast_close(v);
    return 0;
}
