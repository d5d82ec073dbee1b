/* Exact top-k selection over the rows of a dense score block, for recsys_bench.eval.topk.

   The ranking rule is the harness's (docs/metrics.md): higher score first, ties broken by the
   lower item index; NaN and -inf are never listed; a row with fewer than k candidates is
   padded with -1. Excluded items, when given as row offsets into a column list (a CSR
   matrix's indptr and indices), are overwritten with -inf in the block just before their row
   is ranked, while it is in cache (the caller hands a scratch block); a scatter over the
   whole block beforehand cost as much as the ranking itself.

   Per row, the same two steps as the NumPy kernel (topk_block):

   1. fold the row into `groups` strided groups of columns (column c belongs to group
      c % groups) and keep each group's maximum, reading the row in order with the maxima in
      vector registers. The k-th largest of those maxima, t, is a lower bound of the row's k-th
      largest score (k distinct items reach it);
   2. read the row again (now in cache) for the scores >= t, a vector comparison whose mask
      is walked bit by bit (about k hits), and keep the k best in a small heap ordered by the
      ranking rule. (Opening only the groups that reach t, as the NumPy kernel does, reads
      them with a stride of `groups` and costs more here than a second contiguous pass.)

   merge_topk_f32 does the same for a chunk of items merged into running lists (the
   norm-bounded ranking of factor models), with item ids for the tie rule; there the bound is
   the list's k-th score once the list is full.

   The vector code exists for AVX-512 and AVX2, chosen for the CPU at load time
   (use_vector_bits), with plain C for other CPUs and for float64 scores (whose fold the
   compiler vectorises, compiled once per instruction set).

   Columns past the last whole fold are their own groups. A row with fewer than k listable
   maxima (many NaN or -inf) is ranked by one heap pass over all its scores.

   Python loads this library with ctypes, which releases the GIL during the call, so blocks of
   users are ranked in parallel by the caller's threads. The module init at the end exists only
   so the library builds and installs as an ordinary extension module. */

#include <Python.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define SORTED_K 64
#define VERSIONS __attribute__((target_clones("avx512f", "avx2", "default")))

/* One listed item: its score (float32 scores are exact as double) and its id. */
typedef struct {
    double score;
    int64_t item;
} entry;

/* a ranks below b: lower score, or equal score and higher item index. */
static inline int worse(entry a, entry b) {
    return a.score < b.score || (a.score == b.score && a.item > b.item);
}

static void sift_down(entry *heap, int64_t size, int64_t at) {
    for (;;) {
        int64_t child = 2 * at + 1, pick = at;
        if (child < size && worse(heap[child], heap[pick])) pick = child;
        if (child + 1 < size && worse(heap[child + 1], heap[pick])) pick = child + 1;
        if (pick == at) return;
        entry swap = heap[at];
        heap[at] = heap[pick];
        heap[pick] = swap;
        at = pick;
    }
}

static void sift_up(entry *heap, int64_t at) {
    while (at > 0) {
        int64_t parent = (at - 1) / 2;
        if (!worse(heap[at], heap[parent])) return;
        entry swap = heap[at];
        heap[at] = heap[parent];
        heap[parent] = swap;
        at = parent;
    }
}

/* Offer one item to a heap of at most k entries whose root is its worst. */
static inline void offer(entry *heap, int64_t *size, int64_t k, double score, int64_t item) {
    entry candidate = {score, item};
    if (*size < k) {
        heap[*size] = candidate;
        sift_up(heap, (*size)++);
    } else if (worse(heap[0], candidate)) {
        heap[0] = candidate;
        sift_down(heap, *size, 0);
    }
}

static int best_first(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* Sort the heap's entries best first (short lists by insertion, which beats qsort's calls
   through a function pointer). */
static void sort_best_first(entry *heap, int64_t size) {
    if (size > 32) {
        qsort(heap, (size_t)size, sizeof(entry), best_first);
        return;
    }
    for (int64_t i = 1; i < size; i++) {
        entry moving = heap[i];
        int64_t j = i;
        for (; j > 0 && worse(heap[j - 1], moving); j--) heap[j] = heap[j - 1];
        heap[j] = moving;
    }
}

/* REACHING(row, n_cols, bound, columns) lists the columns whose score is >= bound (never a
   NaN) and returns their count. For float32 it compares 16 (AVX-512) or 8 (AVX2) scores at
   once and visits only the set bits of the comparison mask; the compiler did not vectorise
   the plain loop (it is kept for double and for other CPUs). */
#define DEFINE_REACHING(T, NAME)                                                              \
    static int64_t NAME(const T *row, int64_t n_cols, T bound, int32_t *columns) {            \
        int64_t found = 0;                                                                    \
        for (int64_t c = 0; c < n_cols; c++)                                                  \
            if (row[c] >= bound) columns[found++] = (int32_t)c;                               \
        return found;                                                                         \
    }

DEFINE_REACHING(float, reaching_f32_plain)
DEFINE_REACHING(double, reaching_f64)

__attribute__((target("avx2"))) static int64_t reaching_f32_avx2(const float *row,
                                                                 int64_t n_cols, float bound,
                                                                 int32_t *columns) {
    __m256 floor = _mm256_set1_ps(bound);
    int64_t found = 0, c = 0;
    for (; c + 8 <= n_cols; c += 8) {
        unsigned mask = (unsigned)_mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_loadu_ps(row + c), floor, _CMP_GE_OQ));
        for (; mask; mask &= mask - 1) columns[found++] = (int32_t)(c + __builtin_ctz(mask));
    }
    for (; c < n_cols; c++)
        if (row[c] >= bound) columns[found++] = (int32_t)c;
    return found;
}

__attribute__((target("avx512f"))) static int64_t reaching_f32_avx512(const float *row,
                                                                     int64_t n_cols,
                                                                     float bound,
                                                                     int32_t *columns) {
    __m512 floor = _mm512_set1_ps(bound);
    int64_t found = 0, c = 0;
    for (; c + 16 <= n_cols; c += 16) {
        unsigned mask = (unsigned)_mm512_cmp_ps_mask(_mm512_loadu_ps(row + c), floor,
                                                     _CMP_GE_OQ);
        for (; mask; mask &= mask - 1) columns[found++] = (int32_t)(c + __builtin_ctz(mask));
    }
    for (; c < n_cols; c++)
        if (row[c] >= bound) columns[found++] = (int32_t)c;
    return found;
}

/* FOLD for float32: 64 groups at a time, their maxima kept in registers while the row is read
   in order, fold after fold (the compiler kept them in memory, or in scalar registers);
   max(x, most) keeps most where x is NaN. Groups left over are folded one by one. */
static void fold_f32_rest(const float *row, int64_t depth, int64_t groups, int64_t from,
                          float *summary) {
    for (int64_t g = from; g < groups; g++) {
        float most = -INFINITY;
        for (int64_t d = 0; d < depth; d++)
            most = row[d * groups + g] > most ? row[d * groups + g] : most;
        summary[g] = most;
    }
}

static void fold_f32_plain(const float *row, int64_t depth, int64_t groups, float *summary) {
    fold_f32_rest(row, depth, groups, 0, summary);
}

__attribute__((target("avx2"))) static void fold_f32_avx2(const float *row, int64_t depth,
                                                          int64_t groups, float *summary) {
    int64_t g = 0;
    for (; g + 64 <= groups; g += 64) {
        __m256 most[8];
        for (int i = 0; i < 8; i++) most[i] = _mm256_set1_ps(-INFINITY);
        for (int64_t d = 0; d < depth; d++)
            for (int i = 0; i < 8; i++)
                most[i] = _mm256_max_ps(_mm256_loadu_ps(row + d * groups + g + 8 * i), most[i]);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(summary + g + 8 * i, most[i]);
    }
    fold_f32_rest(row, depth, groups, g, summary);
}

__attribute__((target("avx512f"))) static void fold_f32_avx512(const float *row,
                                                               int64_t depth, int64_t groups,
                                                               float *summary) {
    int64_t g = 0;
    for (; g + 64 <= groups; g += 64) {
        __m512 most[4];
        for (int i = 0; i < 4; i++) most[i] = _mm512_set1_ps(-INFINITY);
        for (int64_t d = 0; d < depth; d++)
            for (int i = 0; i < 4; i++)
                most[i] = _mm512_max_ps(_mm512_loadu_ps(row + d * groups + g + 16 * i), most[i]);
        for (int i = 0; i < 4; i++) _mm512_storeu_ps(summary + g + 16 * i, most[i]);
    }
    fold_f32_rest(row, depth, groups, g, summary);
}

/* FOLD for double: the compiler vectorises this form well enough per instruction set. */
VERSIONS static void fold_f64(const double *row, int64_t depth, int64_t groups,
                              double *summary) {
    for (int64_t g = 0; g < groups; g++) summary[g] = -INFINITY;
    for (int64_t d = 0; d < depth; d++) {
        const double *fold = row + d * groups;
        for (int64_t g = 0; g < groups; g++)
            summary[g] = fold[g] > summary[g] ? fold[g] : summary[g];
    }
}

static int64_t (*reaching_f32)(const float *, int64_t, float, int32_t *) = reaching_f32_plain;
static void (*fold_f32)(const float *, int64_t, int64_t, float *) = fold_f32_plain;

/* Use the widest kernels up to `bits` (512, 256, or 0 for plain C) that the CPU runs, and
   return the width chosen. Chosen at load time for the widest; tests narrow it to check every
   version on one machine. */
int use_vector_bits(int bits) {
    __builtin_cpu_init();
    if (bits >= 512 && __builtin_cpu_supports("avx512f")) {
        reaching_f32 = reaching_f32_avx512;
        fold_f32 = fold_f32_avx512;
        return 512;
    }
    if (bits >= 256 && __builtin_cpu_supports("avx2")) {
        reaching_f32 = reaching_f32_avx2;
        fold_f32 = fold_f32_avx2;
        return 256;
    }
    reaching_f32 = reaching_f32_plain;
    fold_f32 = fold_f32_plain;
    return 0;
}

__attribute__((constructor)) static void choose_kernels(void) { use_vector_bits(512); }

/* Per element type T: KTH finds the bound, SELECT ranks the rows with the type's FOLD and
   REACHING. */
#define DEFINE_SELECT(T, FOLD, KTH, REACHING, RANK_ROW, SELECT)                             \
    /* The k-th largest of values[0:n] (1 <= k <= n, no NaN), reordering them. Up to        \
       SORTED_K, the k largest are kept sorted at the front (most values fail one comparison \
       with the k-th); above, quickselect. */                                                 \
    static T KTH(T *values, int64_t n, int64_t k) {                                           \
        if (k <= SORTED_K) {                                                                  \
            for (int64_t i = 1; i < n; i++) {                                                 \
                T moving = values[i];                                                         \
                int64_t j = i < k ? i : k;                                                    \
                if (j == k && !(moving > values[k - 1])) continue;                            \
                if (j == k) j = k - 1;                                                        \
                for (; j > 0 && values[j - 1] < moving; j--) values[j] = values[j - 1];       \
                values[j] = moving;                                                           \
            }                                                                                 \
            return values[k - 1];                                                             \
        }                                                                                     \
        int64_t lo = 0, hi = n - 1, want = k - 1;                                             \
        while (lo < hi) {                                                                     \
            T pivot = values[lo + (hi - lo) / 2];                                             \
            int64_t i = lo, j = hi;                                                           \
            while (i <= j) {                                                                  \
                while (values[i] > pivot) i++;                                                \
                while (values[j] < pivot) j--;                                                \
                if (i <= j) {                                                                 \
                    T swap = values[i];                                                       \
                    values[i++] = values[j];                                                  \
                    values[j--] = swap;                                                       \
                }                                                                             \
            }                                                                                 \
            if (want <= j)                                                                    \
                hi = j;                                                                       \
            else if (want >= i)                                                               \
                lo = i;                                                                       \
            else                                                                              \
                break;                                                                        \
        }                                                                                     \
        return values[want];                                                                  \
    }                                                                                         \
                                                                                              \
    /* Offer row[0:n_cols] to a heap that already holds `size` entries (a list being     \
       merged with a new chunk of items) and return its new size. Column c is item          \
       ids[c] (c itself without ids). The bound is the k-th largest of the row's group     \
       maxima when the heap starts short, else the heap's worst score (the list's k-th);    \
       only scores reaching it are offered. */                                              \
    static int64_t RANK_ROW(const T *row, int64_t n_cols, int64_t k, int64_t depth,           \
                            int64_t groups, T *summary, int32_t *columns,                     \
                            const int64_t *ids, entry *heap, int64_t size) {                  \
        int64_t width = depth * groups, listable = 0;                                         \
        T bound = -(T)INFINITY;                                                               \
        if (size == k) {                                                                      \
            bound = (T)heap[0].score;                                                         \
        } else if (depth) {                                                                   \
            FOLD(row, depth, groups, summary);                                                \
            for (int64_t c = width; c < n_cols; c++) summary[groups + c - width] = row[c];    \
            for (int64_t g = 0; g < groups + n_cols - width; g++)                             \
                if (summary[g] > -(T)INFINITY) summary[listable++] = summary[g];              \
            if (listable >= k) bound = KTH(summary, listable, k);                             \
        }                                                                                     \
        if (bound > -(T)INFINITY) {                                                           \
            int64_t found = REACHING(row, n_cols, bound, columns);                            \
            for (int64_t i = 0; i < found; i++)                                               \
                offer(heap, &size, k, row[columns[i]], ids ? ids[columns[i]] : columns[i]);   \
        } else {                                                                              \
            for (int64_t c = 0; c < n_cols; c++)                                              \
                if (row[c] > -(T)INFINITY) offer(heap, &size, k, row[c], ids ? ids[c] : c);   \
        }                                                                                     \
        return size;                                                                          \
    }                                                                                         \
                                                                                              \
    /* The top k of each row into out (n_rows x k, int32 columns, -1 padded). Row r's        \
       excluded columns, skip_cols[skip_start[r]:skip_start[r + 1]], are set to -inf first   \
       (skip_start may be NULL). Returns 0, or -1 when out of memory. */                      \
    int SELECT(T *scores, int64_t n_rows, int64_t n_cols, int64_t row_stride, int64_t k,      \
               int64_t groups, const int64_t *skip_start, const int32_t *skip_cols,           \
               int32_t *out) {                                                                \
        int64_t depth = groups > 0 && n_cols >= 2 * groups ? n_cols / groups : 0;             \
        entry *heap = malloc(sizeof(entry) * (size_t)(k > 0 ? k : 1));                        \
        T *summary = malloc(sizeof(T) * (size_t)(depth ? groups + groups : 1));               \
        int32_t *columns = malloc(sizeof(int32_t) * (size_t)(n_cols > 0 ? n_cols : 1));       \
        int failed = !heap || !summary || !columns;                                           \
        for (int64_t r = 0; r < n_rows && !failed; r++) {                                     \
            T *row = scores + r * row_stride;                                                 \
            if (skip_start)                                                                   \
                for (int64_t s = skip_start[r]; s < skip_start[r + 1]; s++)                   \
                    row[skip_cols[s]] = -(T)INFINITY;                                         \
            int64_t size = RANK_ROW(row, n_cols, k, depth, groups, summary, columns, NULL,     \
                                    heap, 0);                                                 \
            sort_best_first(heap, size);                                                      \
            for (int64_t i = 0; i < k; i++)                                                   \
                out[r * k + i] = i < size ? (int32_t)heap[i].item : -1;                       \
        }                                                                                     \
        free(heap);                                                                           \
        free(summary);                                                                        \
        free(columns);                                                                        \
        return failed ? -1 : 0;                                                               \
    }

DEFINE_SELECT(float, fold_f32, kth_f32, reaching_f32, rank_row_f32, select_topk_f32)
DEFINE_SELECT(double, fold_f64, kth_f64, reaching_f64, rank_row_f64, select_topk_f64)

/* Merge a chunk of items into running top-k lists (the norm-bounded ranking of factor models).
   Row r of scores (n_rows x n_cols float32) holds the scores of items ids[0:n_cols];
   best_scores and best_items (n_rows x k, best first, -inf and -1 where empty) hold row r's
   list so far and are replaced by the k best of the list and the row, by the ranking rule on
   item ids. Returns 0, or -1 when out of memory. */
int merge_topk_f32(const float *scores, int64_t n_rows, int64_t n_cols, int64_t row_stride,
                   int64_t k, int64_t groups, const int64_t *ids, float *best_scores,
                   int64_t *best_items) {
    int64_t depth = groups > 0 && n_cols >= 2 * groups ? n_cols / groups : 0;
    entry *heap = malloc(sizeof(entry) * (size_t)(k > 0 ? k : 1));
    float *summary = malloc(sizeof(float) * (size_t)(depth ? groups + groups : 1));
    int32_t *columns = malloc(sizeof(int32_t) * (size_t)(n_cols > 0 ? n_cols : 1));
    int failed = !heap || !summary || !columns;
    for (int64_t r = 0; r < n_rows && !failed; r++) {
        float *list_scores = best_scores + r * k;
        int64_t *list_items = best_items + r * k, size = 0;
        for (int64_t i = 0; i < k; i++)
            if (list_items[i] >= 0) offer(heap, &size, k, list_scores[i], list_items[i]);
        size = rank_row_f32(scores + r * row_stride, n_cols, k, depth, groups, summary,
                            columns, ids, heap, size);
        sort_best_first(heap, size);
        for (int64_t i = 0; i < k; i++) {
            list_scores[i] = i < size ? (float)heap[i].score : -INFINITY;
            list_items[i] = i < size ? heap[i].item : -1;
        }
    }
    free(heap);
    free(summary);
    free(columns);
    return failed ? -1 : 0;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_select",
                                    "Top-k selection kernels, called through ctypes.", -1,
                                    NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__select(void) { return PyModule_Create(&module); }
