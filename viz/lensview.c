/* lensview — the logit lens as a table: rows are layer boundaries (embeddings, then after
 * each block), columns are positions, each cell the token the output head would predict
 * from the residual stream there, coloured by its probability.
 *
 * Owns: the table's layout and the layer scrubber mark.  Does not own: the lens itself
 * (gen_lens_table in the engine applies the final norm and the head; the REPL passes the
 * LensTable in).  Reference: nostalgebraist, "interpreting GPT: the logit lens" (2020).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "viz/views.h"

static void heat_span(Canvas *c, const Rect *clip, int x, int y, int w, float heat)
{
    for (int i = 0; i < w; i++) {
        if (x + i < clip->x || x + i >= clip->x + clip->w || y < clip->y || y >= clip->y + clip->h)
            continue;
        Cell *cell = canvas_cell(c, x + i, y);
        if (!cell) continue;
        cell->role = ROLE_HEAT;
        cell->heat = heat < 0 ? 0 : heat > 1 ? 1 : heat;
    }
}

int lensview_draw(Canvas *c, Rect r, const Trace *t, const LensTable *lt, int sel_layer)
{
    int y = r.y;
    if (!lt || !lt->ids || !lt->probs || lt->n_layer1 <= 0 || lt->n_pos <= 0 || lt->k <= 0) {
        canvas_put_fit(c, &r, r.x, y, "logit lens: no table (needs captured residual streams)",
                       r.w, ROLE_WARN, 0);
        return 1;
    }
    const char *tparts[] = {"logit lens", "rows = blocks applied", "cols = positions",
                            "cell = top token, its p"};
    y += canvas_put_parts(c, r, y, tparts, 4, " · ", ROLE_TITLE, CANVAS_BOLD);
    int L1 = lt->n_layer1;
    int lab_w = 7;             /* "▶final " */
    int cw = (r.w - lab_w) / lt->n_pos;
    if (cw > 14) cw = 14;
    if (cw < 8) cw = 8;
    int fit = (r.w - lab_w) / cw;
    if (fit < 1) fit = 1;
    int j0 = lt->n_pos > fit ? lt->n_pos - fit : 0;   /* the latest positions matter most */
    if (j0 > 0 && y < r.y + r.h) {
        canvas_printf(c, &r, r.x, y, ROLE_DIM, 0, "positions %d-%d of %d-%d", lt->pos0 + j0,
                      lt->pos0 + lt->n_pos - 1, lt->pos0, lt->pos0 + lt->n_pos - 1);
        y++;
    }
    if (y < r.y + r.h) {
        canvas_put(c, &r, r.x, y, "layer", ROLE_AXIS, 0);
        for (int j = j0; j < lt->n_pos; j++) {
            int pos = lt->pos0 + j;
            char *s = pos >= 0 && pos < t->n ? tokens_escape(t, t->tokens[pos]) : xstrdup("");
            char *h = xasprintf("%d %s", pos, s);
            canvas_put_fit(c, &r, r.x + lab_w + (j - j0) * cw, y, h, cw - 1, ROLE_LABEL, 0);
            free(s);
            free(h);
        }
        y++;
    }
    for (int l = 0; l < L1 && y < r.y + r.h; l++, y++) {
        int sel = l == sel_layer;
        char lab[16];
        if (l == 0) snprintf(lab, sizeof lab, "emb");
        else if (l == L1 - 1) snprintf(lab, sizeof lab, "final");
        else snprintf(lab, sizeof lab, "%d", l);
        if (sel) canvas_put(c, &r, r.x, y, "▶", ROLE_FOCUS, CANVAS_BOLD);
        canvas_put(c, &r, r.x + 1, y, lab, sel ? ROLE_FOCUS : ROLE_AXIS, sel ? CANVAS_BOLD : 0);
        for (int j = j0; j < lt->n_pos; j++) {
            size_t at = ((size_t)l * (size_t)lt->n_pos + (size_t)j) * (size_t)lt->k;
            int id = lt->ids[at];
            float p = lt->probs[at];
            char *s = tokens_escape(t, id);
            char pr[8];
            if (p >= 0.995f) snprintf(pr, sizeof pr, "1.0");
            else snprintf(pr, sizeof pr, ".%02d", (int)(p * 100.0f + 0.5f));
            int x = r.x + lab_w + (j - j0) * cw;
            int tw = cw - 5;
            canvas_put_fit(c, &r, x, y, s, tw, ROLE_DEFAULT, sel ? CANVAS_BOLD : 0);
            canvas_put(c, &r, x + cw - 4, y, pr, ROLE_DIM, 0);
            heat_span(c, &r, x, y, cw - 1, p);
            free(s);
        }
    }
    return y - r.y;
}
