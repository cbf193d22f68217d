/* bench_gpt2 — GPT-2 124M inference speed beside this machine's memory-bandwidth bound.
 *
 * Decoding one token reads every weight once, so its speed limit is
 * (bytes of weights read per token) / (memory read bandwidth).  The bandwidth is measured
 * here, in the same run, by a 2-thread streaming read of a buffer far larger than the
 * caches; the decode figure is printed as a fraction of that bound.  Prefill of a 512-token
 * prompt is compute-bound (matrix-matrix products) and printed as a multiple of decode.
 * The model is random (model_random), saved and loaded back through mmap, as `lectern
 * init gpt2` would make it.  Figures are medians of repeated runs.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/model.h"
#include "engine/sampler.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long rss_peak_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

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
        #pragma omp parallel for num_threads(nthreads) reduction(+ : s)
        for (size_t i = 0; i < n; i += 4) s += buf[i] + buf[i + 1] + buf[i + 2] + buf[i + 3];
        double dt = now() - t0;
        sink += s;
        double gbs = (double)n * sizeof(float) / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    if (sink == 42.0) puts("");
    return best;
}

int main(int argc, char **argv)
{
    err_install_gsl_handler();
    const char *shape = argc > 1 ? argv[1] : "gpt2";
    const int prompt_len = 512, decode_len = 128, reps = 5;
    ModelConfig cfg;
    if (model_shape(shape, &cfg)) { fprintf(stderr, "%s\n", err_msg()); return 1; }
    printf("bench_gpt2: shape %s, %d threads\n", shape, omp_get_max_threads());
    double bw = read_bandwidth(omp_get_max_threads());

    /* the random model is made and saved by a child process, so this process's peak
     * resident memory counts only what loading and running the file costs */
    char path[] = "/tmp/lectern-bench-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        Model *m0;
        if (model_random(&m0, &cfg, 1) || model_save(m0, path)) { fprintf(stderr, "%s\n", err_msg()); _exit(1); }
        model_free(m0);
        _exit(0);
    }
    int status;
    Model *m;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        model_load(&m, path, NULL)) {
        fprintf(stderr, "bench_gpt2: could not make the model: %s\n", err_msg());
        unlink(path);
        return 1;
    }
    /* bytes read per decoded token: every weight except the position table (one row) */
    size_t bytes = m->weight_bytes - (size_t)cfg.n_ctx * cfg.n_embd * sizeof(float);
    double bound = bw * 1e9 / (double)bytes;

    RunState s;
    runstate_init(&s, &m->cfg, 0, prompt_len);
    int *toks = xmalloc(sizeof(int) * (size_t)(prompt_len + decode_len));
    for (int i = 0; i < prompt_len + decode_len; i++) toks[i] = (i * 7919) % cfg.vocab_size;
    double tp[8], td[8];
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        model_forward(m, &s, toks, prompt_len, 0, s.logits, 0, NULL);
        tp[r] = now() - t0;
        t0 = now();
        int tok = sampler_argmax(s.logits, cfg.vocab_size);
        for (int i = 0; i < decode_len; i++) {
            if (model_forward(m, &s, &tok, 1, prompt_len + i, s.logits, 0, NULL)) {
                fprintf(stderr, "%s\n", err_msg());
                return 1;
            }
            tok = sampler_argmax(s.logits, cfg.vocab_size);
        }
        td[r] = now() - t0;
    }
    double prefill = prompt_len / median(tp, reps), decode = decode_len / median(td, reps);
    size_t kv = (size_t)2 * cfg.n_layer * s.max_T * model_kv_dim(&cfg) * sizeof(float);
    long rss = rss_peak_kb();
    double budget = ((double)m->weight_bytes + (double)kv) * 1.10 / 1024.0;
    printf("memory read bandwidth        %8.1f GB/s\n", bw);
    printf("weights read per token       %8.1f MB\n", (double)bytes / 1e6);
    printf("decode bound (bw / bytes)    %8.1f tok/s\n", bound);
    printf("prefill %d tokens           %8.1f tok/s  (%.1fx decode; target >= 10x)\n", prompt_len, prefill, prefill / decode);
    printf("decode (KV cache)            %8.1f tok/s  (%.0f%% of bound; target >= 70%%)\n", decode, 100.0 * decode / bound);
    printf("peak RSS                     %8.1f MB  (weights + KV cache + 10%% = %.1f MB)\n",
           (double)rss / 1024.0, budget / 1024.0);
    runstate_done(&s);
    model_free(m);
    unlink(path);
    free(toks);
    return 0;
}
