/* tokens — token strings made visible, and the token strip (chips).
 *
 * Owns: how a token's raw bytes are shown (whitespace and control characters as visible
 * symbols, invalid UTF-8 as \xNN, so a byte-level BPE token that splits a Cyrillic letter
 * in two is shown honestly rather than as a replacement character), and the chip strip.
 * Does not own: the vocabulary (the trace's vocab/vocab_len, filled by the tokenizer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "viz/views.h"

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap) *cap *= 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

char *tokens_escape(const Trace *t, int id)
{
    if (!t->vocab || !t->vocab_len || id < 0 || id >= t->n_vocab || !t->vocab[id])
        return xasprintf("#%d", id);
    const char *s = t->vocab[id];
    size_t n = t->vocab_len[id];
    if (n == 0) return xstrdup("∅");
    size_t cap = n * 4 + 8, len = 0;
    char *out = xmalloc(cap);
    out[0] = 0;
    while (n) {
        uint32_t cp;
        int l = utf8_decode(s, n, &cp);
        char esc[16];
        if (l == 0) {
            snprintf(esc, sizeof esc, "\\x%02X", (unsigned char)s[0]);
            append(&out, &len, &cap, esc, strlen(esc));
            l = 1;
        } else if (cp == ' ') {
            append(&out, &len, &cap, "␣", strlen("␣"));
        } else if (cp == '\n') {
            append(&out, &len, &cap, "↵", strlen("↵"));
        } else if (cp == '\t') {
            append(&out, &len, &cap, "⇥", strlen("⇥"));
        } else if (cp == '\r') {
            append(&out, &len, &cap, "␍", strlen("␍"));
        } else if (cp < 0x20 || cp == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%02X", (unsigned)cp);
            append(&out, &len, &cap, esc, strlen(esc));
        } else if (cp >= 0x80 && cp < 0xA0) {
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)cp);
            append(&out, &len, &cap, esc, strlen(esc));
        } else {
            append(&out, &len, &cap, s, (size_t)l);
        }
        s += l;
        n -= (size_t)l;
    }
    return out;
}

/* The chip of token i as drawn: "[text id]" or "[text]". */
static char *chip_text(const Trace *t, int i, int show_ids)
{
    char *s = tokens_escape(t, t->tokens[i]);
    char *chip = show_ids ? xasprintf("[%s %d]", s, t->tokens[i]) : xasprintf("[%s]", s);
    free(s);
    return chip;
}

/* Lines (from 0) of chips from..n-1 when the strip starts at chip `from` in w columns
 * (after "…" when from > 0): line_of[i] for i >= from.  The drawing below does the same
 * arithmetic. */
static void chip_lines(const Trace *t, int from, int current, int w, int show_ids, int *line_of)
{
    int x = from > 0 ? 1 : 0, line = 0;
    for (int i = from; i < t->n; i++) {
        char *chip = chip_text(t, i, show_ids);
        int need = (i == current) + (i == t->n_prompt && i > 0 ? 2 : 0) + utf8_width(chip);
        free(chip);
        if (x > 0 && x + 1 + need > w) { line++; x = 0; }
        if (x > 0) x++;
        x += need;
        line_of[i] = line;
    }
}

int tokens_draw(Canvas *c, Rect r, const Trace *t, int current, int show_ids, const char *note)
{
    int y = r.y;
    if (current < 0 || current >= t->n) current = t->n - 1;
    char *title = t->n > 0
        ? xasprintf("tokens · %d (%d prompt + %d generated) · current position %d", t->n,
                    t->n_prompt, t->n - t->n_prompt, current)
        : xstrdup("tokens · none yet (type a prompt)");
    const char *parts[] = {note ? note : title};
    y += canvas_put_parts(c, r, y, parts, 1, "", note ? ROLE_WARN : ROLE_TITLE, CANVAS_BOLD);
    free(title);

    /* When the chips need more lines than the pane has, the strip starts later ("…" first)
     * so that the current chip is always on screen. */
    int lines_avail = r.y + r.h - y;
    int first = 0;
    if (t->n > 0 && lines_avail > 0) {
        int *line_of = xmalloc((size_t)t->n * sizeof(int));
        chip_lines(t, 0, current, r.w, show_ids, line_of);
        if (line_of[current] >= lines_avail) {
            /* start at the line that leaves the current chip on the last one; the "…" may
             * push a chip down a line, then start one line later */
            int want = line_of[current] - lines_avail + 1;
            while (first < current && line_of[first] < want) first++;
            for (;;) {
                chip_lines(t, first, current, r.w, show_ids, line_of);
                if (line_of[current] < lines_avail || first >= current) break;
                int l0 = line_of[first];
                while (first < current && line_of[first] == l0) first++;
            }
        }
        free(line_of);
    }

    int x = 0;
    if (first > 0) x += canvas_put(c, &r, r.x, y, "…", ROLE_DIM, 0);
    for (int i = first; i < t->n && y < r.y + r.h; i++) {
        char *chip = chip_text(t, i, show_ids);
        int cur = i == current;
        int sep_prompt = i == t->n_prompt && i > 0;   /* "│" between prompt and generated */
        int need = (cur ? 1 : 0) + (sep_prompt ? 2 : 0) + utf8_width(chip);
        if (x > 0 && x + 1 + need > r.w) { y++; x = 0; }
        if (y >= r.y + r.h) { free(chip); break; }
        if (x > 0) x++;
        if (sep_prompt) x += canvas_put(c, &r, r.x + x, y, "│ ", ROLE_DIM, 0);
        if (cur) x += canvas_put(c, &r, r.x + x, y, "▶", ROLE_CHIP_CURRENT, CANVAS_BOLD);
        int role = cur ? ROLE_CHIP_CURRENT : i < t->n_prompt ? ROLE_CHIP_PROMPT : ROLE_CHIP_GEN;
        x += canvas_put_fit(c, &r, r.x + x, y, chip, r.w - x, role, cur ? CANVAS_BOLD : 0);
        free(chip);
    }
    if (t->n > 0) y++;
    return y - r.y;
}
