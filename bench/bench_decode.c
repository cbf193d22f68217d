/* bench_decode — inference speed beside this machine's memory-bandwidth bound, for GPT-2
 * 124M (Lectern safetensors) and the llama2.c shapes stories15M/42M/110M (llama2.c files,
 * fp32 and Q8_0), with 1 and 2 threads.
 *
 * Decoding one token reads every weight once, so its speed limit is
 * (bytes of weights read per token) / (memory read bandwidth).  The bandwidth is measured
 * here, in the same run, by a 2-thread streaming read of a buffer far larger than the
 * caches; the decode figure is printed as a fraction of that bound.  Prefill of a 512-token
 * prompt is compute-bound (matrix-matrix products) and printed as a multiple of decode.
 * Each model is random (model_random), saved by a child process in its format and loaded
 * back through mmap, as `lectern init SHAPE --format F` makes it.  Figures are medians of
 * repeated runs.  llama2.c's run.c figures quoted for comparison were measured on this kind
 * of machine (issue 4: -Ofast -march=native OpenMP build, 2 threads, -n 256).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "engine/err.h"
#include "engine/gemm.h"
#include "engine/llama2c.h"
#include "engine/model.h"
#include "engine/sampler.h"

/* GB/s of a streaming read with nthreads threads: the best of several passes. */
static double read_bandwidth(int nthreads)
{
    const size_t n = (size_t)1 << 28;  /* 1 GiB of floats */
    float *buf = xmalloc(n * sizeof(float));
    #pragma omp parallel for num_threads(nthreads)
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 1023);
    double best = 0, sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now(), s = 0;
        /* sixteen independent partial sums per thread: a single running sum is a chain of
         * dependent adds that one core cannot finish at memory speed (it measured half the
         * bandwidth, which made every "of bound" figure twice too kind) */
        #pragma omp parallel num_threads(nthreads) reduction(+ : s)
        {
            float acc[16] = {0};
            #pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 16)
                for (int k = 0; k < 16; k++) acc[k] += buf[i + k];
            for (int k = 0; k < 16; k++) s += acc[k];
        }
        double dt = now() - t0;
        sink += s;
        double gbs = (double)n * sizeof(float) / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    if (sink == 42.0) puts("");
    return best;
}

void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

static void set_threads(int n)
{
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

typedef struct { const char *shape, *format; double runc_tok_s, runc_tok_s_1; } Case;

/* llama2.c's run.c figures were measured on a quiet machine of this kind whose 2-thread read
 * bandwidth was about 74 GB/s (issue 4).  Dividing by the bound at that bandwidth gives the
 * fraction of its bound run.c reached; comparing fractions, not tok/s, keeps the comparison
 * fair on a day the machine is slower or shared. */
#define RUNC_BW_GBS 74.0

/* A child that owns the 1 GiB buffer and measures the read bandwidth each time it is asked,
 * so every round of decoding has a bandwidth figure from the same moment (a shared machine's
 * bandwidth drifts) and the buffer never counts in the decoding process's peak RSS. */
typedef struct { pid_t pid; int req, resp; } BwServer;

static int bw_start(BwServer *b)
{
    int q[2], r[2];
    if (pipe(q) || pipe(r)) return -1;
    fflush(stdout);
    b->pid = fork();
    if (b->pid < 0) return -1;
    if (b->pid == 0) {
        close(q[1]);
        close(r[0]);
        char c;
        while (read(q[0], &c, 1) == 1) {
            double v = read_bandwidth(2);
            if (write(r[1], &v, sizeof v) != (ssize_t)sizeof v) break;
        }
        _exit(0);
    }
    close(q[0]);
    close(r[1]);
    b->req = q[1];
    b->resp = r[0];
    return 0;
}

static double bw_measure(BwServer *b)
{
    double v = 0;
    if (write(b->req, "m", 1) != 1 || read(b->resp, &v, sizeof v) != (ssize_t)sizeof v) return 0;
    return v;
}

static void bw_stop(BwServer *b)
{
    close(b->req);
    close(b->resp);
    waitpid(b->pid, NULL, 0);
}

static int run_case(const Case *k, int threads)
{
    ModelConfig cfg;
    if (model_shape(k->shape, &cfg)) { fprintf(stderr, "%s\n", err_msg()); return 1; }
    char path[] = "/tmp/lectern-bench-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        Model *m0;
        int rc = model_random(&m0, &cfg, 1);
        if (!rc) rc = strcmp(k->format, "safetensors") == 0 ? model_save(m0, path)
                    : llama2c_write(m0, path, strcmp(k->format, "llama2c-q8") == 0 ? 2 : 0);
        if (rc) fprintf(stderr, "%s\n", err_msg());
        _exit(rc ? 1 : 0);
    }
    int status;
    Model *m;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        model_load(&m, path, NULL)) {
        fprintf(stderr, "bench_decode: could not make %s: %s\n", k->shape, err_msg());
        unlink(path);
        return 1;
    }
    /* forked before this process starts OpenMP: libgomp's threads do not survive fork() */
    BwServer bws;
    if (bw_start(&bws)) {
        fprintf(stderr, "bench_decode: cannot start the bandwidth process\n");
        return 1;
    }
    set_threads(threads);
    /* decode as run.c -n 256 was measured: 256 tokens from a one-token prompt, so both read
     * the same KV cache; prefill is timed separately on a 512-token prompt (128 when the
     * context is short) and on 256 tokens for the time to first token */
    const int prompt_len = cfg.n_ctx >= 768 ? 512 : 128, reps = 5;
    const int decode_len = cfg.n_ctx - 1 < 256 ? cfg.n_ctx - 1 : 256;
    /* bytes read per decoded token: every weight except the position table (one row) */
    size_t bytes = m->weight_bytes - (m->w.wpe ? (size_t)cfg.n_ctx * cfg.n_embd * sizeof(float) : 0);
    RunState s;
    const int ctx = prompt_len > 1 + decode_len ? prompt_len : 1 + decode_len;
    runstate_init(&s, &m->cfg, 0, ctx);
    Sampler *smp = sampler_alloc(cfg.vocab_size, SAMPLER_DEFAULTS);  /* plain multinomial, T = 1 */
    int *toks = xmalloc(sizeof(int) * (size_t)ctx);
    for (int i = 0; i < ctx; i++) toks[i] = (i * 7919) % cfg.vocab_size;
    double tp[8], td[8], t256[8], bw[8], frac[8], bound[8], vsblas[8];
    /* one untimed pass first: it faults the mapped weights in */
    model_forward(m, &s, toks, prompt_len, 0, s.logits, 0, NULL);
    for (int r = 0; r < reps; r++) {
        bw[r] = bw_measure(&bws);
        double t0 = now();
        model_forward(m, &s, toks, 256 <= prompt_len ? 256 : prompt_len, 0, s.logits, 0, NULL);
        t256[r] = now() - t0;
        t0 = now();
        model_forward(m, &s, toks, prompt_len, 0, s.logits, 0, NULL);
        tp[r] = now() - t0;
        /* the same prefill with every product on OpenBLAS, the reference for gemm.c */
        gemm_select(GEMM_BLAS);
        t0 = now();
        model_forward(m, &s, toks, prompt_len, 0, s.logits, 0, NULL);
        vsblas[r] = (now() - t0) / tp[r];
        gemm_select(GEMM_AUTO);
        model_forward(m, &s, toks, 1, 0, s.logits, 0, NULL);
        t0 = now();
        int tok = sampler_sample(smp, s.logits, cfg.vocab_size, NULL, NULL);
        for (int i = 0; i < decode_len; i++) {
            if (model_forward(m, &s, &tok, 1, 1 + i, s.logits, 0, NULL)) {
                fprintf(stderr, "%s\n", err_msg());
                return 1;
            }
            tok = sampler_sample(smp, s.logits, cfg.vocab_size, NULL, NULL);
        }
        td[r] = now() - t0;
        bound[r] = bw[r] * 1e9 / (double)bytes;
        frac[r] = decode_len / td[r] / bound[r];
    }
    bw_stop(&bws);
    double dec_r[8], pre_r[8], xdec[8];
    for (int r = 0; r < reps; r++) {
        dec_r[r] = decode_len / td[r];
        pre_r[r] = prompt_len / tp[r];
        xdec[r] = pre_r[r] / dec_r[r];
    }
    const double decode = median(dec_r, reps), prefill = median(pre_r, reps);
    size_t kv = (size_t)2 * cfg.n_layer * s.max_T * model_kv_dim(&cfg) * sizeof(float);
    long rss = vm_hwm_kb();
    double budget = ((double)m->weight_bytes + (double)kv) * 1.10 / 1024.0 / 1024.0;
    const double fr = median(frac, reps);
    printf("%-12s %-11s %d  %5.1f  %8.1f %8.1f %5.0f%%  %8.1f %5.1fx %5.2fx  %7.1f  %7.0f / %-7.0f",
           k->shape, k->format, threads, median(bw, reps), decode, median(bound, reps), 100.0 * fr,
           prefill, median(xdec, reps), median(vsblas, reps), 1e3 * median(t256, reps),
           (double)rss / 1024.0, budget);
    const double runc = threads == 1 && k->runc_tok_s_1 > 0 ? k->runc_tok_s_1 : k->runc_tok_s;
    if (runc > 0) {
        const double runc_frac = runc * (double)bytes / (RUNC_BW_GBS * 1e9);
        /* run.c feeds a prompt through the decode path one token at a time, so its time to
         * first token on 256 tokens is about 256 of its decode steps */
        const double ttft_runc = (256 <= prompt_len ? 256 : prompt_len) / runc;
        printf("  %5.2fx  %5.2fx  %6.1fx", decode / runc, fr / runc_frac, ttft_runc / median(t256, reps));
    }
    printf("\n");
    fflush(stdout);
    sampler_free(smp);
    runstate_done(&s);
    model_free(m);
    unlink(path);
    free(toks);
    return 0;
}

int main(int argc, char **argv)
{
    err_install_gsl_handler();
    /* run.c's medians on this kind of machine (issue 4), 2 threads and, where recorded,
     * 1 thread; 0 = none recorded.  Usage: bench_decode [SHAPE [FORMAT]] */
    static const Case cases[] = {
        {"gpt2", "safetensors", 0, 0},
        {"stories260K", "llama2c", 5485, 8500},
        {"stories15M", "llama2c", 654, 0},
        {"stories42M", "llama2c", 228, 0},
        {"stories110M", "llama2c", 88.8, 0},
        {"stories110M", "llama2c-q8", 88.8, 0},
    };
    const int nc = (int)(sizeof cases / sizeof cases[0]);
    /* prefill is sgemm: which OpenBLAS kernels run decides it (OPENBLAS_CORETYPE can force them) */
    printf("bench_decode: OpenBLAS kernels %s%s%s\n", openblas_get_corename(),
           getenv("OPENBLAS_CORETYPE") ? ", forced by OPENBLAS_CORETYPE=" : "",
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
    printf("bench_decode: prompt products (engine/gemm.c) on %s; \"vs blas\": prefill tok/s over the same\n"
           "prefill with every product on OpenBLAS, measured in the same round.\n", gemm_impl_name());
    printf("bench_decode: decode = 256 tokens after a 1-token prompt (run.c -n 256); prefill = a\n"
           "512-token prompt (128 when the context is shorter); ttft256 = prefill of 256 tokens.\n");
    printf("Medians of 5 rounds; each round measures the memory read bandwidth (bw,\n"
           "2 threads, best of 5 passes over 1 GiB) just before it decodes, and \"of bnd\" is the\n"
           "median of the rounds' decode / (bw / weight bytes per token).  \"vs run.c\": decode over\n"
           "run.c's recorded tok/s; \"norm\": the same with both as fractions of their own bound\n"
           "(run.c's measured at %.0f GB/s), which is the fair one when this machine's bandwidth differs;\n"
           "\"ttft vs run.c\": 256 / run.c's decode tok/s (it feeds a prompt one token at a time) over ttft256.\n",
           RUNC_BW_GBS);
    printf("%-12s %-11s %s  %5s  %8s %8s %6s  %8s %6s %6s  %7s  %17s  %s\n", "shape", "format", "thr",
           "bw", "decode", "bound", "of bnd", "prefill", "x dec", "vs blas", "ttft256",
           "RSS MB / budget", "vs run.c   norm  ttft vs run.c");
    printf("%-12s %-11s %s  %5s  %8s %8s %6s  %8s %6s %6s  %7s\n", "", "", "   ", "GB/s", "tok/s", "tok/s", "",
           "tok/s", "", "", "ms");
    for (int i = 0; i < nc; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].shape) != 0) continue;
        if (argc > 2 && strcmp(argv[2], cases[i].format) != 0) continue;
        for (int t = 1; t <= 2; t++) {
            /* each case in its own process so peak RSS is that case's alone */
            fflush(stdout);  /* or the child would print the buffered header again */
            pid_t pid = fork();
            if (pid == 0) _exit(run_case(&cases[i], t));
            int st;
            waitpid(pid, &st, 0);
        }
    }
    return 0;
}
